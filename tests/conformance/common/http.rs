//! A response read whole, with its assertions, and the metadata a test uploads.

use serde_json::{Value, json};

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub async fn read(r: reqwest::Response) -> Self {
        Response {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts a JSON error with this status, code and field.
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) -> String {
        let body = self.json();
        assert_eq!(self.status, status, "body: {body}");
        assert_eq!(body["error"]["code"], code, "body: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "body: {body}");
        body["error"]["message"].as_str().unwrap().to_owned()
    }
}

pub fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "task": "image-classification",
        "dataset": "cifar10",
        "architecture": "resnet20",
        "pruning_method": "imp-rewind",
        "accuracy": 0.912
    })
}
