//! `ticketbooth download`: stream into `PATH.part`, resume it with `Range` + `If-Range`, verify
//! the sha256, and only then rename it to PATH. A mismatch removes the partial file: nothing
//! corrupt is ever left at PATH.

use std::path::PathBuf;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CliError, Client};
use crate::cli::args::DownloadArgs;

/// `NAME.safetensors` in the working directory, for a name that is a slug (as the server's own
/// names are): no separator, no `..`, so the file cannot land anywhere else.
fn default_path(name: &str) -> Result<PathBuf, CliError> {
    let slug = crate::domain::metadata::slug("name", name).ok();
    if slug.as_deref() != Some(name) {
        return Err(CliError::Local(format!(
            "the registry gave the ticket the name {name:?}, which is not a valid ticket name; \
             refusing to make a file of it (pass -o PATH to choose one)"
        )));
    }
    Ok(PathBuf::from(format!("{name}.safetensors")))
}

/// The id goes into a URL and the sha256 decides what is kept: both must look like what the
/// registry hands out.
fn check_answer(id: &str, sha256: &str) -> Result<(), CliError> {
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let sha_ok = sha256.len() == 64 && sha256.chars().all(|c| c.is_ascii_hexdigit());
    if id_ok && sha_ok {
        Ok(())
    } else {
        Err(CliError::Local(format!(
            "the registry's answer is not a ticket (id {id:?}, sha256 {sha256:?})"
        )))
    }
}

/// What a download asks the server to make: the URL path's tail, the query, and the file
/// name's suffix.
type Generated = (&'static str, Vec<(&'static str, String)>, String);

/// What a download asks the server to make, if anything.
fn generated(args: &DownloadArgs) -> Option<Generated> {
    if args.packed {
        return Some(("packed", vec![], "packed".into()));
    }
    if let Some(part) = &args.part {
        return Some(("file", vec![("part", part.clone())], part.clone()));
    }
    let tensors = args.tensors.clone()?;
    Some(("file", vec![("tensors", tensors)], "tensors".into()))
}

pub async fn run(args: &DownloadArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let ticket = client.ticket(&args.ticket).await?;
    if let Some(generated) = generated(args) {
        return run_generated(args, &client, &ticket, generated).await;
    }
    let id = ticket["id"].as_str().unwrap_or_default().to_owned();
    let sha256 = ticket["sha256"].as_str().unwrap_or_default().to_owned();
    let size = ticket["size_bytes"].as_u64().unwrap_or_default();
    // What the server says is checked before it names a path or a URL: a hostile or broken
    // registry must not make us write outside the working directory.
    check_answer(&id, &sha256)?;
    // Shown to the user only (escaped by Debug formatting where it is not a slug).
    let name = format!("{:?}", ticket["name"].as_str().unwrap_or_default());
    let path = match &args.output {
        Some(path) => path.clone(),
        None => default_path(ticket["name"].as_str().unwrap_or_default())?,
    };
    let part = PathBuf::from(format!("{}.part", path.display()));
    let io = |what: &str, e: std::io::Error| CliError::Local(format!("{what}: {e}"));

    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let request = client
        .http
        .get(client.url(&format!("/api/v1/tickets/{id}/file")));
    fetch_into(
        &client,
        request,
        &part,
        size,
        &format!("\"{sha256}\""),
        Some(&bar),
    )
    .await?;
    bar.finish_and_clear();

    let actual = hash_file(&part)
        .await
        .map_err(|e| io(&part.display().to_string(), e))?;
    if actual != sha256 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(CliError::Local(format!(
            "sha256 mismatch for {name}: expected {sha256}, got {actual}; the partial download was removed, run the command again"
        )));
    }
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| io(&path.display().to_string(), e))?;
    println!("{}", path.display());
    eprintln!("downloaded {name} ({size} bytes, sha256 verified)");
    Ok(())
}

/// A file the server generates (a part, some tensors, the packed form): no sha256 is known
/// before it is made, so it is resumed by its ETag (`If-Range`) and checked by its length and
/// by its header parsing as a valid safetensors file before it is renamed into place.
async fn run_generated(
    args: &DownloadArgs,
    client: &Client,
    ticket: &serde_json::Value,
    (tail, query, suffix): Generated,
) -> Result<(), CliError> {
    let id = ticket["id"].as_str().unwrap_or_default();
    check_answer(id, ticket["sha256"].as_str().unwrap_or_default())?;
    let name = ticket["name"].as_str().unwrap_or_default();
    let path = match &args.output {
        Some(path) => path.clone(),
        None => {
            let mut p = default_path(name)?;
            p.set_file_name(format!("{name}.{suffix}.safetensors"));
            p
        }
    };
    let part = PathBuf::from(format!("{}.part", path.display()));
    let io = |what: &std::path::Path, e: std::io::Error| {
        CliError::Local(format!("{}: {e}", what.display()))
    };
    let url = client.url(&format!("/api/v1/tickets/{id}/{tail}"));
    let head = client
        .http
        .head(&url)
        .query(&query)
        .send()
        .await
        .map_err(|e| client.network(e))?;
    if !head.status().is_success() {
        // HEAD has no body: ask again with GET for the server's message.
        let r = client.http.get(&url).query(&query).send().await;
        let r = r.map_err(|e| client.network(e))?;
        return Err(Client::error_of(r).await);
    }
    let etag = head
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let size: u64 = head
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or_default();
    let request = client.http.get(&url).query(&query);
    fetch_into(client, request, &part, size, &etag, None).await?;
    let got = tokio::fs::metadata(&part)
        .await
        .map_err(|e| io(&part, e))?
        .len();
    let valid = got == size && is_safetensors(&part, got).unwrap_or(false);
    if !valid {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(CliError::Local(format!(
            "the {suffix} file of {name:?} arrived as {got} bytes of the {size} announced, or is not valid safetensors; it was removed, run the command again"
        )));
    }
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| io(&path, e))?;
    println!("{}", path.display());
    eprintln!("downloaded the {suffix} file of {name:?} ({size} bytes)");
    Ok(())
}

/// Whether the file's header is a JSON object whose tensors end exactly at the file's end.
/// Streams `request`'s answer into `part`, resuming what `part` already holds with `Range` when
/// it is shorter than `size`, but only if the content still has the ETag `etag` (`If-Range`);
/// a 200 starts the file over. `bar`, if any, follows the bytes.
async fn fetch_into(
    client: &Client,
    mut request: reqwest::RequestBuilder,
    part: &std::path::Path,
    size: u64,
    etag: &str,
    bar: Option<&ProgressBar>,
) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Local(format!("{}: {e}", part.display()));
    let have = tokio::fs::metadata(part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if have > 0 && have < size && !etag.is_empty() {
        request = request
            .header("Range", format!("bytes={have}-"))
            .header("If-Range", etag);
    }
    let response = request.send().await.map_err(|e| client.network(e))?;
    let resumed = match response.status() {
        StatusCode::PARTIAL_CONTENT => true,
        StatusCode::OK => false,
        _ => return Err(Client::error_of(response).await),
    };
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .await
        .map_err(io)?;
    if let Some(bar) = bar {
        bar.set_position(if resumed { have } else { 0 });
    }
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| client.network(e))?;
        out.write_all(&chunk).await.map_err(io)?;
        if let Some(bar) = bar {
            bar.inc(chunk.len() as u64);
        }
    }
    out.flush().await.map_err(io)
}

fn is_safetensors(path: &std::path::Path, len: u64) -> std::io::Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)?;
    let n = u64::from_le_bytes(prefix);
    if n > crate::domain::inspector::MAX_HEADER_BYTES || 8 + n > len {
        return Ok(false);
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)?;
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&header) else {
        return Ok(false);
    };
    let end = map
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0);
    Ok(8 + n + end == len)
}

async fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slug_names_become_file_names() {
        assert_eq!(
            default_path("lenet-imp.l7_a").unwrap(),
            PathBuf::from("lenet-imp.l7_a.safetensors")
        );
        for hostile in [
            "../../../escaped",
            "/etc/passwd",
            "a/b",
            "..",
            ".hidden",
            "a\\b",
            "",
            "UPPER",
            "x\u{0}y",
        ] {
            assert!(default_path(hostile).is_err(), "{hostile:?}");
        }
        assert!(check_answer("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", &"a".repeat(64)).is_ok());
        assert!(check_answer("../tokens", &"a".repeat(64)).is_err());
        assert!(check_answer("x", "../../etc").is_err());
    }
}
