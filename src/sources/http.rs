//! The one HTTP client every collector uses: reqwest (the copy object_store
//! already builds, rustls) with retries from `backon` (exponential backoff
//! with jitter, `Retry-After` honored), one re-login when a session
//! expires, a per-connector concurrency limit, timeouts, and errors that
//! name the connector, endpoint and status but never a credential, a query
//! string or a response body (any of which can hold a secret).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::future::BoxFuture;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{RwLock, Semaphore};

use crate::config::{ConnectorConfig, Secret};

/// The longest `Retry-After` we wait; a server asking for more is treated
/// as down for this attempt rather than stalling a run for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connector {connector}: {method} {endpoint} answered HTTP {status}: {hint}")]
    Status {
        connector: String,
        method: String,
        endpoint: String,
        status: u16,
        hint: String,
    },
    #[error("connector {connector}: {method} {endpoint} failed: {reason}")]
    Transport {
        connector: String,
        method: String,
        endpoint: String,
        reason: String,
    },
    #[error(
        "connector {connector}: {endpoint} did not answer the expected JSON ({reason}); check that url points at the tool's API"
    )]
    Decode {
        connector: String,
        endpoint: String,
        reason: String,
    },
    #[error("connector {connector}: {reason}")]
    Config { connector: String, reason: String },
}

impl HttpError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Self::Transport { .. } => true,
            Self::Decode { .. } | Self::Config { .. } => false,
        }
    }
}

/// The path of a URL without its query string (which may carry a token).
pub fn endpoint_of(url: &reqwest::Url) -> String {
    url.path().to_string()
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "the request was refused as malformed",
        401 => {
            "the credentials were refused; check the connector's username, password, token or key"
        }
        403 => "the account may not read this; grant it read access or remove the step",
        404 => "not found; check the connector's url (and the tool's version)",
        408 | 504 => "timed out, also after retries",
        429 => "rate limited, also after waiting and retrying",
        500..=599 => "the server failed, also after retries",
        _ => "unexpected status",
    }
}

/// What an authenticated request carries.
#[derive(Clone)]
pub enum Credential {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// A named header, e.g. Metabase's `x-api-key` or `X-Metabase-Session`.
    Header { name: &'static str, value: Secret },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(***)"),
            Self::Header { name, .. } => write!(f, "Header({name}: ***)"),
        }
    }
}

impl Credential {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Bearer(token) => request.bearer_auth(token.expose()),
            Self::Header { name, value } => request.header(*name, value.expose()),
        }
    }
}

/// Obtains a credential (a login, a token exchange). Called before the
/// first authenticated request and once more when a request answers 401.
pub trait Authenticator: Send + Sync {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>>;

    /// Whether a request refused with `status` may pass after one fresh
    /// login: 401 for most tools (Power BI answers an expired token 403).
    fn relogin_on(&self, status: u16) -> bool {
        status == 401
    }
}

/// A credential known up front (an API key, a personal access token).
pub struct StaticAuth(pub Credential);

impl Authenticator for StaticAuth {
    fn login<'a>(&'a self, _: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        let credential = self.0.clone();
        Box::pin(async move { Ok(credential) })
    }
}

/// Tuning of one connector's client (from its config keys).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connector: String,
    pub base_url: reqwest::Url,
    pub timeout: Duration,
    pub max_retries: usize,
    pub concurrency: usize,
    /// First retry delay; doubles each time, with jitter.
    pub min_delay: Duration,
}

impl HttpSettings {
    pub fn for_connector(
        connector: &ConnectorConfig,
        default_url: Option<&str>,
    ) -> Result<Self, HttpError> {
        let config_err = |reason: String| HttpError::Config {
            connector: connector.name.clone(),
            reason,
        };
        let url = connector
            .url
            .as_deref()
            .or(default_url)
            .ok_or_else(|| config_err("no url; add url = \"https://…\"".into()))?;
        // A trailing slash makes `join` keep the base's path (a tool served under /superset).
        let with_slash = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        let base_url = reqwest::Url::parse(&with_slash)
            .map_err(|e| config_err(format!("url is not a URL ({e})")))?;
        Ok(Self {
            connector: connector.name.clone(),
            base_url,
            timeout: Duration::from_secs(connector.timeout_seconds.unwrap_or(60)),
            max_retries: connector.max_retries.unwrap_or(4) as usize,
            concurrency: connector.concurrency.unwrap_or(4).max(1) as usize,
            min_delay: Duration::from_millis(200),
        })
    }
}

/// The shared client of one connector.
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
    auth: Option<Arc<dyn Authenticator>>,
    credential: RwLock<Option<Credential>>,
    limit: Semaphore,
}

impl HttpClient {
    pub fn new(
        settings: HttpSettings,
        auth: Option<Arc<dyn Authenticator>>,
    ) -> Result<Self, HttpError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("usagelake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Config {
                connector: settings.connector.clone(),
                reason: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(Self {
            client,
            limit: Semaphore::new(settings.concurrency),
            settings,
            auth,
            credential: RwLock::new(None),
        })
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    pub fn connector(&self) -> &str {
        &self.settings.connector
    }

    /// `path` relative to the connector's url (an absolute URL is kept,
    /// for continuation links a server hands back).
    pub fn url(&self, path: &str) -> Result<reqwest::Url, HttpError> {
        let relative = path.trim_start_matches('/');
        reqwest::Url::parse(path)
            .or_else(|_| self.settings.base_url.join(relative))
            .map_err(|e| HttpError::Config {
                connector: self.settings.connector.clone(),
                reason: format!("cannot form a URL from {path:?} ({e})"),
            })
    }

    /// Sends a request with the credential attached (logging in first when
    /// there is none yet), retrying what is worth retrying and logging in
    /// again once when the server answers 401.
    pub async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let Some(auth) = &self.auth else {
            return self.send_unauthenticated(method, url, build).await;
        };
        for attempt in 0..2 {
            let credential = self.current_credential(auth.as_ref(), attempt > 0).await?;
            let result = self
                .send_unauthenticated(method.clone(), url.clone(), |r| credential.apply(build(r)))
                .await;
            match result {
                Err(e) if attempt == 0 && e.status().is_some_and(|s| auth.relogin_on(s)) => {
                    continue;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn current_credential(
        &self,
        auth: &dyn Authenticator,
        refresh: bool,
    ) -> Result<Credential, HttpError> {
        if !refresh && let Some(credential) = self.credential.read().await.as_ref() {
            return Ok(credential.clone());
        }
        let mut slot = self.credential.write().await;
        let credential = auth.login(self).await?;
        *slot = Some(credential.clone());
        Ok(credential)
    }

    /// Sends without a credential (login requests themselves), with retries.
    pub async fn send_unauthenticated(
        &self,
        method: Method,
        url: reqwest::Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let endpoint = endpoint_of(&url);
        let attempt = || async {
            let _permit = self.limit.acquire().await.expect("semaphore never closed");
            let request = build(self.client.request(method.clone(), url.clone()));
            let response = request.send().await.map_err(|e| {
                (
                    HttpError::Transport {
                        connector: self.settings.connector.clone(),
                        method: method.to_string(),
                        endpoint: endpoint.clone(),
                        reason: transport_reason(&e),
                    },
                    None,
                )
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(&response);
            Err((
                HttpError::Status {
                    connector: self.settings.connector.clone(),
                    method: method.to_string(),
                    endpoint: endpoint.clone(),
                    status: status.as_u16(),
                    hint: status_hint(status).to_string(),
                },
                retry_after,
            ))
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.min_delay)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.settings.max_retries)
            .with_jitter();
        attempt
            .retry(backoff)
            .when(|(e, _): &(HttpError, Option<Duration>)| e.is_retryable())
            .adjust(
                |(_, retry_after): &(HttpError, Option<Duration>), backoff: Option<Duration>| {
                    match (backoff, retry_after) {
                        (Some(delay), Some(asked)) => Some(delay.max(*asked)),
                        (delay, _) => delay,
                    }
                },
            )
            .await
            .map_err(|(e, _)| e)
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, HttpError> {
        let url = self.url(path)?;
        let response = self.send(Method::GET, url.clone(), |r| r).await?;
        self.decode_json(&url, response).await
    }

    pub async fn post_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HttpError> {
        let url = self.url(path)?;
        let response = self
            .send(Method::POST, url.clone(), |r| r.json(body))
            .await?;
        self.decode_json(&url, response).await
    }

    /// A plain-text answer (generated SQL, CSV), e.g. Looker's
    /// `/queries/{id}/run/sql`.
    pub async fn get_text(&self, path: &str) -> Result<String, HttpError> {
        let url = self.url(path)?;
        let response = self.send(Method::GET, url.clone(), |r| r).await?;
        let bytes = self.read_body(&url, response).await?;
        // A stray invalid byte should not cost the whole text.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads a response body as JSON. A body cut short or not JSON is an
    /// error naming the endpoint and where parsing stopped, never the body.
    pub async fn decode_json<T: DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        response: Response,
    ) -> Result<T, HttpError> {
        let bytes = self.read_body(url, response).await?;
        serde_json::from_slice(&bytes).map_err(|e| self.decode_error(url, json_reason(&e)))
    }

    async fn read_body(
        &self,
        url: &reqwest::Url,
        response: Response,
    ) -> Result<bytes::Bytes, HttpError> {
        response.bytes().await.map_err(|e| {
            self.decode_error(
                url,
                format!("reading the body failed: {}", transport_reason(&e)),
            )
        })
    }

    fn decode_error(&self, url: &reqwest::Url, reason: String) -> HttpError {
        HttpError::Decode {
            connector: self.settings.connector.clone(),
            endpoint: endpoint_of(url),
            reason,
        }
    }
}

/// serde_json's messages quote the offending value, which may be a token:
/// keep only what kind of error it was and where.
pub fn json_reason(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of another shape",
        serde_json::error::Category::Eof => "JSON cut short",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body broke off"
    } else if e.is_request() {
        "the request could not be sent"
    } else {
        "transport error"
    };
    // The source chain says why (DNS, refused, TLS) without the URL.
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// reqwest is built without a crypto provider (the `-no-provider`
/// feature keeps aws-lc out of the tree): use ring, as object_store does.
/// Installing twice is harmless; the first provider stays.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads pages numbered from `first` until one comes back short (fewer
/// than `page_size` items) or `total` items have been read.
pub async fn pages_by_number<T, E, F, Fut>(
    first: u32,
    page_size: usize,
    mut fetch: F,
) -> Result<Vec<T>, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<usize>), E>>,
{
    let mut all = Vec::new();
    let mut page = first;
    loop {
        let (items, total) = fetch(page).await?;
        let short = items.len() < page_size;
        all.extend(items);
        if short || total.is_some_and(|t| all.len() >= t) {
            return Ok(all);
        }
        page += 1;
    }
}

/// Reads pages by cursor (a token or a continuation URL) until the server
/// hands back none. A cursor seen before ends the walk: some servers
/// repeat their last cursor instead of omitting it.
pub async fn pages_by_cursor<T, E, F, Fut>(mut fetch: F) -> Result<Vec<T>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
{
    let mut all = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let (items, next) = fetch(cursor.clone()).await?;
        all.extend(items);
        match next.filter(|c| !c.is_empty()) {
            Some(next) if seen.insert(next.clone()) => cursor = Some(next),
            _ => return Ok(all),
        }
    }
}
