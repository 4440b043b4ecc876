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

pub async fn run(args: &DownloadArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let ticket = client.ticket(&args.ticket).await?;
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
