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
use crate::config::DownloadArgs;

pub async fn run(args: &DownloadArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let ticket = client.ticket(&args.ticket).await?;
    let id = ticket["id"].as_str().unwrap_or_default().to_owned();
    let name = ticket["name"].as_str().unwrap_or("ticket").to_owned();
    let sha256 = ticket["sha256"].as_str().unwrap_or_default().to_owned();
    let size = ticket["size_bytes"].as_u64().unwrap_or_default();
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.safetensors")));
    let part = PathBuf::from(format!("{}.part", path.display()));
    let io = |what: &str, e: std::io::Error| CliError::Local(format!("{what}: {e}"));

    let have = tokio::fs::metadata(&part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut request = client
        .http
        .get(client.url(&format!("/api/v1/tickets/{id}/file")));
    if have > 0 && have < size {
        // Resume, but only if the file is still the one we started (If-Range: its ETag).
        request = request
            .header("Range", format!("bytes={have}-"))
            .header("If-Range", format!("\"{sha256}\""));
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
        .open(&part)
        .await
        .map_err(|e| io(&part.display().to_string(), e))?;
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(if resumed { have } else { 0 });
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| client.network(e))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| io(&part.display().to_string(), e))?;
        bar.inc(chunk.len() as u64);
    }
    out.flush()
        .await
        .map_err(|e| io(&part.display().to_string(), e))?;
    drop(out);
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
