//! `ticketbooth upload`: merge metadata (flags > JSON file > the file's `__metadata__`), check
//! the file and the metadata locally with the server's own code, then stream the file up with
//! a progress bar.

use std::io::Read;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use tokio_util::io::ReaderStream;

use super::{CliError, Client};
use crate::cli::args::UploadArgs;
use crate::domain::inspector::{Header, Inspector, MAX_HEADER_BYTES};
use crate::domain::metadata;

/// The file's first bytes: its 8-byte header length and the header (at most the header cap),
/// what `compatible` sends instead of the whole file.
pub(super) fn read_header_bytes(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    let local = |m: String| CliError::Local(format!("{}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| local(e.to_string()))?;
    let mut prefix = [0u8; 8];
    let mut reader = std::io::BufReader::new(file);
    reader.read_exact(&mut prefix).map_err(|_| {
        local("not a safetensors file: shorter than its 8-byte header length".into())
    })?;
    let header_len = u64::from_le_bytes(prefix).min(MAX_HEADER_BYTES);
    let mut out = prefix.to_vec();
    reader
        .take(header_len)
        .read_to_end(&mut out)
        .map_err(|e| local(e.to_string()))?;
    Ok(out)
}

/// Reads and validates the header the way the server does, and checks the file's length.
fn check_file(path: &std::path::Path) -> Result<(Header, u64), CliError> {
    let local = |m: String| CliError::Local(format!("{}: {m}", path.display()));
    let mut file = std::fs::File::open(path).map_err(|e| local(e.to_string()))?;
    let len = file.metadata().map_err(|e| local(e.to_string()))?.len();
    let mut prefix = [0u8; 8];
    let mut inspector = Inspector::default();
    let n = file.read(&mut prefix).map_err(|e| local(e.to_string()))?;
    inspector.feed(&prefix[..n]).map_err(|e| local(e.0))?;
    let header_len = u64::from_le_bytes(prefix).min(MAX_HEADER_BYTES);
    let mut header = vec![0u8; header_len as usize];
    let got = file.read(&mut header).map_err(|e| local(e.to_string()))?;
    inspector.feed(&header[..got]).map_err(|e| local(e.0))?;
    let Some(header) = inspector.header().cloned() else {
        // Too short to hold its header: finish() names the problem as the server would.
        return Err(local(
            inspector.finish().err().map(|e| e.0).unwrap_or_default(),
        ));
    };
    let expected = 8 + header_len + header.data_len;
    if len != expected {
        let which = if len < expected { "shorter" } else { "longer" };
        return Err(local(format!(
            "file is {which} than its header says: {len} bytes, expected {expected}"
        )));
    }
    Ok((header, len))
}

/// The metadata fields the file's `__metadata__` supplies because neither the flags nor
/// `--metadata` did (JSON null counts as absent, as on the server). In `FIELDS` order.
fn taken_from_file(
    meta: &Map<String, Value>,
    file: &std::collections::BTreeMap<String, String>,
) -> Vec<&'static str> {
    metadata::FIELDS
        .iter()
        .copied()
        .filter(|f| file.contains_key(*f) && meta.get(*f).is_none_or(Value::is_null))
        .collect()
}

pub async fn run(args: &UploadArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let token = client.token()?.to_owned();
    let (header, len) = check_file(&args.file)?;

    let mut meta: Map<String, Value> = match &args.metadata {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| CliError::Local(format!("{}: {e}", path.display())))?;
            metadata::parse_json_part(&bytes).map_err(|e| CliError::Local(e.to_string()))?
        }
        None => Map::new(),
    };
    let tags = args.tags.as_ref().map(|t| {
        json!(
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        )
    });
    let hyperparameters = args
        .hyperparameters
        .as_deref()
        .map(|h| {
            serde_json::from_str::<Value>(h).map_err(|e| {
                CliError::Local(format!(
                    "hyperparameters: not valid JSON ({e}); pass an object such as '{{\"lr\": 0.1}}'"
                ))
            })
        })
        .transpose()?;
    let flags = args
        .shape
        .pairs()
        .map(|(k, v)| (k, v.map(Value::from)))
        .into_iter()
        .chain([
            ("name", args.name.clone().map(Value::from)),
            ("accuracy", args.accuracy.map(Value::from)),
            ("dense_accuracy", args.dense_accuracy.map(Value::from)),
            ("metric", args.metric.clone().map(Value::from)),
            ("description", args.description.clone().map(Value::from)),
            ("tags", tags),
            ("hyperparameters", hyperparameters),
            ("license", args.license.clone().map(Value::from)),
            ("paper_url", args.paper_url.clone().map(Value::from)),
            ("code_url", args.code_url.clone().map(Value::from)),
        ]);
    for (key, value) in flags {
        if let Some(v) = value {
            meta.insert(key.to_owned(), v);
        }
    }
    if let Some(parent) = &args.parent {
        // owner/name becomes the parent's id.
        let id = if parent.contains('/') {
            client.ticket(parent).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            parent.clone()
        };
        meta.insert("parent_id".into(), Value::from(id));
    }
    // The server's own validation, before a byte is sent.
    metadata::resolve(Some(&meta), &header.metadata).map_err(|e| CliError::Local(e.to_string()))?;
    let from_file = taken_from_file(&meta, &header.metadata);
    if !from_file.is_empty() {
        eprintln!("from the file's __metadata__: {}", from_file.join(", "));
    }

    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| CliError::Local(format!("{}: {e}", args.file.display())))?;
    let counter = bar.clone();
    let stream = ReaderStream::with_capacity(file, 256 << 10).inspect(move |chunk| {
        if let Ok(c) = chunk {
            counter.inc(c.len() as u64);
        }
    });
    let filename = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ticket.safetensors".into());
    let form = reqwest::multipart::Form::new()
        .text("metadata", Value::Object(meta).to_string())
        .part(
            "file",
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(filename),
        );
    let response = client
        .http
        .post(client.url("/api/v1/tickets"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .map_err(|e| client.network(e))?;
    bar.finish_and_clear();
    if !response.status().is_success() {
        return Err(Client::error_of(response).await);
    }
    let ticket: Value = response.json().await.map_err(|e| client.network(e))?;
    if args.json {
        println!("{ticket}");
    } else {
        let id = ticket["id"].as_str().unwrap_or_default();
        println!("{id}");
        println!("{}/tickets/{id}", client.server);
        let sparsity = ticket["sparsity"].as_f64().unwrap_or_default();
        eprintln!(
            "uploaded {}/{}: {} (sparsity {sparsity:.4}), measured by the server",
            ticket["owner"].as_str().unwrap_or_default(),
            ticket["name"].as_str().unwrap_or_default(),
            super::tables::remaining(sparsity),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_the_file_are_those_nothing_else_gave() {
        let file = [
            ("task", "t"),
            ("accuracy", "0.9"),
            ("format", "pt"),
            ("dataset", "d"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let meta = json!({"task": "x", "dataset": null})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(taken_from_file(&meta, &file), ["dataset", "accuracy"]);
    }
}
