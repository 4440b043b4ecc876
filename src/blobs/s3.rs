//! The S3-compatible store's specifics: configuration from the standard `AWS_*` variables,
//! the multipart part size S3 requires, and presigned GET URLs.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;

use super::{BlobResult, BlobStore, counted};

/// Multipart part size for S3-compatible stores: above S3's 5 MiB minimum, small enough to
/// keep an upload's memory flat (at most PARTS_IN_FLIGHT + 1 parts buffered).
const REMOTE_PART_BYTES: usize = 8 << 20;

/// An S3-compatible bucket, configured by the standard `AWS_*` variables (credentials,
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL` for MinIO-style endpoints).
/// Plain http is allowed for loopback endpoints, or anywhere with `AWS_ALLOW_HTTP=true`.
pub(super) fn open(bucket_and_prefix: &str) -> anyhow::Result<BlobStore> {
    let (bucket, prefix) = bucket_and_prefix
        .split_once('/')
        .unwrap_or((bucket_and_prefix, ""));
    anyhow::ensure!(
        !bucket.is_empty(),
        "s3:// blob store URL needs a bucket: s3://bucket/prefix"
    );
    // The HTTP client underneath needs a TLS provider; ring, as everywhere in this crate.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        let parsed = url::Url::parse(&endpoint)?;
        if parsed.scheme() == "http" {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            let allowed = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true");
            anyhow::ensure!(
                loopback || allowed,
                "AWS_ENDPOINT_URL may use plain http only on loopback (or with AWS_ALLOW_HTTP=true on a private network); use https"
            );
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_endpoint(endpoint);
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    let s3 = Arc::new(builder.build()?);
    let prefix = prefix.trim_matches('/').to_owned();
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        s3.clone()
    } else {
        Arc::new(PrefixStore::new(s3.clone(), prefix.as_str()))
    };
    Ok(BlobStore {
        signer: Some((s3, prefix)),
        ..BlobStore::new(store, REMOTE_PART_BYTES)
    })
}

impl BlobStore {
    /// A short-lived URL the client can fetch the object from directly (S3 only), so the
    /// bytes need not pass through the API servers.
    pub async fn presigned_get(
        &self,
        key: &str,
        valid_for: std::time::Duration,
    ) -> Option<BlobResult<String>> {
        let (s3, prefix) = self.signer.as_ref()?;
        let full = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        };
        let url = s3
            .signed_url(axum::http::Method::GET, &Path::from(full), valid_for)
            .await
            .map(|u| u.to_string());
        Some(counted("presign", url))
    }
}
