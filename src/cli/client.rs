//! The HTTP side of the CLI: one client, errors turned into one human sentence.

use reqwest::StatusCode;
use serde_json::Value;

use super::settings;
use crate::cli::args::ClientArgs;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server said no: `field: message (code)`, the field (when one is at fault) first, as
    /// the local checks print it.
    #[error("{}{message} ({code})", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Server {
        code: String,
        message: String,
        field: Option<String>,
    },
    /// Something on this side: a bad file, a mismatch, a missing setting.
    #[error("{0}")]
    Local(String),
    #[error("cannot reach {server}: {source}")]
    Network {
        server: String,
        #[source]
        source: reqwest::Error,
    },
}

pub struct Client {
    pub http: reqwest::Client,
    pub server: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        // One TLS provider for the whole process (ring); https registries work out of the box.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let saved = settings::load();
        let server = args
            .server
            .clone()
            .or(saved.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let saved_token = settings::token_for(&saved, &server);
        let http = reqwest::Client::builder()
            .user_agent(concat!("ticketbooth-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Local(format!("cannot start the HTTP client: {e}")))?;
        Ok(Self {
            http,
            server,
            token: args.token.clone().or(saved_token),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    pub fn token(&self) -> Result<&str, CliError> {
        self.token.as_deref().ok_or_else(|| {
            CliError::Local(
                "no API token: pass --token, set TICKETBOOTH_TOKEN, or run `ticketbooth login`"
                    .into(),
            )
        })
    }

    pub fn network(&self, source: reqwest::Error) -> CliError {
        CliError::Network {
            server: self.server.clone(),
            source,
        }
    }

    /// The server's JSON error as a `CliError`, or the status when the body is not one.
    pub async fn error_of(response: reqwest::Response) -> CliError {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let e = &body["error"];
        CliError::Server {
            code: e["code"].as_str().unwrap_or(status.as_str()).to_owned(),
            message: e["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the server answered {status}")),
            field: e["field"].as_str().map(str::to_owned),
        }
    }

    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        let response = self
            .http
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .map_err(|e| self.network(e))?;
        if !response.status().is_success() {
            return Err(Self::error_of(response).await);
        }
        response.json().await.map_err(|e| self.network(e))
    }

    /// A ticket by id or by `owner/name`.
    pub async fn ticket(&self, reference: &str) -> Result<Value, CliError> {
        let path = match reference.split_once('/') {
            Some((owner, name)) => format!("/api/v1/owners/{owner}/tickets/{name}"),
            None => format!("/api/v1/tickets/{reference}"),
        };
        self.get_json(&path, &[]).await
    }

    /// The server answers and the token (if any) is valid.
    pub async fn check(&self) -> Result<(), CliError> {
        self.get_json("/api/v1/tasks", &[]).await?;
        if let Some(token) = &self.token {
            // PATCH of a ticket that does not exist: 401 for a bad token, 404 for a good one.
            let r = self
                .http
                .patch(self.url("/api/v1/tickets/-"))
                .bearer_auth(token)
                .json(&serde_json::json!({}))
                .send()
                .await
                .map_err(|e| self.network(e))?;
            if r.status() == StatusCode::UNAUTHORIZED {
                return Err(Self::error_of(r).await);
            }
        }
        Ok(())
    }
}
