use std::sync::Arc;

use object_store::ClientConfigKey;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
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

/// S3 connection settings; every unset field falls back to the usual AWS_*
/// variable (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Plain HTTP is only for an S3-API server on loopback (tests, local dev).
    /// An Option, not a bool defaulting to false: an unset key must leave
    /// `AWS_ALLOW_HTTP` in force.
    pub allow_http: Option<bool>,
}

impl S3Options {
    /// The builder `open_store` uses: the AWS_* environment first, then every
    /// key the configuration sets on top (and only those).
    fn builder(&self, bucket: &str) -> AmazonS3Builder {
        self.builder_over(AmazonS3Builder::from_env().with_bucket_name(bucket))
    }

    fn builder_over(&self, mut builder: AmazonS3Builder) -> AmazonS3Builder {
        if let Some(endpoint) = &self.endpoint {
            // object_store prefers AWS_ENDPOINT_URL_S3 over the endpoint in
            // build: set both so the configured one wins.
            builder = builder
                .with_endpoint(endpoint)
                .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key.expose());
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(allow_http) = self.allow_http {
            builder = builder.with_allow_http(allow_http);
        }
        builder
    }
}

/// Refuses a plain-http endpoint unless allow_http is on, naming where each
/// value came from. Without this check object_store fails at the first
/// request with an opaque "builder error".
fn check_endpoint(options: &S3Options, builder: &AmazonS3Builder) -> Result<()> {
    let s3_endpoint = builder.get_config_value(&AmazonS3ConfigKey::S3Endpoint);
    let endpoint_from = if options.endpoint.is_some() {
        "lake.s3.endpoint"
    } else if s3_endpoint.is_some() {
        "AWS_ENDPOINT_URL_S3"
    } else {
        "AWS_ENDPOINT_URL"
    };
    let Some(endpoint) =
        s3_endpoint.or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint))
    else {
        return Ok(());
    };
    let parsed = url::Url::parse(&endpoint).map_err(|e| LakeError::BadUrl {
        url: endpoint.clone(),
        reason: format!(
            "{endpoint_from} is not a URL ({e}); write e.g. https://s3.example.com or http://127.0.0.1:9000"
        ),
    })?;
    if parsed.scheme() != "http" {
        return Ok(());
    }
    let allow_http = builder
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .unwrap_or_default();
    let allowed = match allow_http.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" => true,
        "0" | "false" | "off" | "no" | "n" | "" => false,
        _ => {
            return Err(LakeError::BadUrl {
                url: endpoint,
                reason: format!(
                    "AWS_ALLOW_HTTP={allow_http:?} is not a boolean; write AWS_ALLOW_HTTP=true or false"
                ),
            });
        }
    };
    if allowed {
        return Ok(());
    }
    let refused_by = if options.allow_http == Some(false) {
        "lake.s3.allow_http = false"
    } else {
        "neither lake.s3.allow_http nor AWS_ALLOW_HTTP is true"
    };
    Err(LakeError::BadUrl {
        url: endpoint,
        reason: format!(
            "plain http endpoint (from {endpoint_from}) but {refused_by}; set lake.s3.allow_http = true \
             or AWS_ALLOW_HTTP=true (for an S3-API server on loopback only), or use https"
        ),
    })
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

    /// Checks the S3 endpoint the configuration and environment together
    /// give: a URL, and plain http only with allow_http. No I/O.
    pub fn validate(&self) -> Result<()> {
        if let Self::S3 {
            bucket, options, ..
        } = self
        {
            check_endpoint(options, &options.builder(bucket))?;
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
            let builder = options.builder(bucket);
            check_endpoint(options, &builder)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A builder as `from_env` would make it from these AWS_* variables
    /// (the test process's own environment stays untouched).
    fn env(vars: &[(&str, &str)]) -> AmazonS3Builder {
        vars.iter().fold(AmazonS3Builder::new(), |b, (k, v)| {
            b.with_config(k.to_ascii_lowercase().parse().unwrap(), *v)
        })
    }

    fn check(options: &S3Options, vars: &[(&str, &str)]) -> Result<()> {
        check_endpoint(options, &options.builder_over(env(vars)))
    }

    #[test]
    fn unset_keys_leave_the_environment_in_force() {
        let none = S3Options::default();
        let loopback = ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
        check(&none, &[loopback, ("AWS_ALLOW_HTTP", "true")]).unwrap();
        check(&none, &[("AWS_ENDPOINT_URL", "https://s3.example.com")]).unwrap();
        check(&none, &[]).unwrap();
        let err = check(&none, &[loopback]).unwrap_err().to_string();
        assert_eq!(
            err,
            "lake URL \"http://127.0.0.1:9000\": plain http endpoint (from AWS_ENDPOINT_URL) but \
             neither lake.s3.allow_http nor AWS_ALLOW_HTTP is true; set lake.s3.allow_http = true \
             or AWS_ALLOW_HTTP=true (for an S3-API server on loopback only), or use https"
        );
        let bad = check(&none, &[loopback, ("AWS_ALLOW_HTTP", "maybe")]).unwrap_err();
        assert!(
            bad.to_string()
                .contains("AWS_ALLOW_HTTP=\"maybe\" is not a boolean")
        );
    }

    #[test]
    fn set_keys_override_the_environment() {
        let refuse = S3Options {
            allow_http: Some(false),
            ..S3Options::default()
        };
        let err = check(
            &refuse,
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
                ("AWS_ALLOW_HTTP", "true"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("but lake.s3.allow_http = false;"));
        // The configured endpoint beats AWS_ENDPOINT_URL_S3 (which object_store
        // would otherwise prefer).
        let https = S3Options {
            endpoint: Some("https://s3.example.com".into()),
            ..S3Options::default()
        };
        check(&https, &[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")]).unwrap();
        let plain = S3Options {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..S3Options::default()
        };
        let err = check(&plain, &[("AWS_ENDPOINT_URL_S3", "https://s3.example.com")]).unwrap_err();
        assert!(err.to_string().contains("(from lake.s3.endpoint)"));
        let allowed = S3Options {
            allow_http: Some(true),
            ..plain
        };
        check(&allowed, &[]).unwrap();
    }
}
