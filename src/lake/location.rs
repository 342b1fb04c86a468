use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use serde::Deserialize;

use super::{LakeError, Result};
use crate::config::Secret;

/// Where a lake (or an input prefix) lives. Parsed from a URL without I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum LakeLocation {
    Local(std::path::PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        options: S3Options,
    },
}

/// S3 connection settings; unset fields fall back to the usual AWS_* variables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Plain HTTP is only for an S3-API server on loopback (tests, local dev).
    #[serde(default)]
    pub allow_http: bool,
}

impl LakeLocation {
    /// Parses a local path, `file://` URL or `s3://bucket/prefix`.
    pub fn parse(url: &str, s3: &S3Options) -> Result<Self> {
        let bad = |reason: &str| LakeError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if url.trim().is_empty() {
            return Err(bad(
                "empty; write a local path (./lake), file:///abs/path or s3://bucket/prefix",
            ));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket; write s3://bucket/prefix"));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
                options: s3.clone(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad(
                    "file:// needs an absolute path (file:///abs/path); write a plain relative path instead",
                ));
            }
            return Ok(Self::Local(path.into()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(&format!(
                "unsupported scheme {scheme:?}; write a local path, file:///abs/path or s3://bucket/prefix"
            )));
        }
        Ok(Self::Local(url.into()))
    }

    /// Checks that a plain-HTTP endpoint is on loopback.
    pub fn validate(&self) -> Result<()> {
        if let Self::S3 { options, .. } = self
            && let Some(endpoint) = &options.endpoint
        {
            let parsed = url::Url::parse(endpoint).map_err(|e| LakeError::BadUrl {
                url: endpoint.clone(),
                reason: format!("endpoint is not a URL ({e}); write e.g. http://127.0.0.1:9000"),
            })?;
            if parsed.scheme() == "http" && !options.allow_http {
                return Err(LakeError::BadUrl {
                    url: endpoint.clone(),
                    reason: "plain http endpoint; set lake.s3.allow_http = true (loopback only) or use https".into(),
                });
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Opens an object store whose paths are relative to the location's root.
pub fn open_store(location: &LakeLocation) -> Result<Arc<dyn ObjectStore>> {
    location.validate()?;
    match location {
        LakeLocation::Local(path) => {
            std::fs::create_dir_all(path).map_err(|source| LakeError::LocalFolder {
                path: path.display().to_string(),
                source,
            })?;
            let store =
                LocalFileSystem::new_with_prefix(path).map_err(|source| LakeError::Store {
                    path: path.display().to_string(),
                    source,
                })?;
            Ok(Arc::new(store))
        }
        LakeLocation::S3 {
            bucket,
            prefix,
            options,
        } => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &options.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &options.region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &options.access_key_id {
                builder = builder.with_access_key_id(key.expose());
            }
            if let Some(secret) = &options.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose());
            }
            builder = builder.with_allow_http(options.allow_http);
            let s3 = builder.build().map_err(|source| LakeError::Store {
                path: format!("s3://{bucket}"),
                source,
            })?;
            if prefix.is_empty() {
                Ok(Arc::new(s3))
            } else {
                Ok(Arc::new(PrefixStore::new(s3, prefix.as_str())))
            }
        }
    }
}
