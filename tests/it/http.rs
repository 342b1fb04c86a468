//! The shared HTTP client against a loopback server: retries on 429 (with
//! Retry-After) and 5xx, one re-login on 401, errors without secrets or
//! bodies, and the paging helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use usagelake::config::Secret;
use usagelake::sources::http::{
    Authenticator, Credential, HttpClient, HttpError, HttpSettings, pages_by_cursor,
    pages_by_number,
};

const TOKEN_1: &str = "tok-first-SECRET";
const TOKEN_2: &str = "tok-second-SECRET";

#[derive(Default)]
struct Counters {
    logins: AtomicUsize,
    flaky: AtomicUsize,
    limited: AtomicUsize,
}

async fn serve(counters: Arc<Counters>) -> String {
    let c = counters.clone();
    let login = post(move || {
        let c = c.clone();
        async move {
            let n = c.logins.fetch_add(1, Ordering::SeqCst);
            let token = if n == 0 { TOKEN_1 } else { TOKEN_2 };
            axum::Json(serde_json::json!({ "access_token": token }))
        }
    });
    let c = counters.clone();
    let flaky = get(move || {
        let c = c.clone();
        async move {
            if c.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                StatusCode::BAD_GATEWAY.into_response()
            } else {
                axum::Json(serde_json::json!({ "ok": true })).into_response()
            }
        }
    });
    let c = counters.clone();
    let limited = get(move || {
        let c = c.clone();
        async move {
            if c.limited.fetch_add(1, Ordering::SeqCst) == 0 {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                )
                    .into_response()
            } else {
                axum::Json(serde_json::json!({ "ok": true })).into_response()
            }
        }
    });
    // Accepts only the second token: the first "expired".
    let fresh_only = get(|headers: HeaderMap| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth == Some(format!("Bearer {TOKEN_2}").as_str()) {
            axum::Json(serde_json::json!({ "ok": true })).into_response()
        } else {
            (StatusCode::UNAUTHORIZED, format!("bad token {auth:?}")).into_response()
        }
    });
    // Power BI's answer to an expired token: 403, not 401.
    let fresh_403 = get(|headers: HeaderMap| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth == Some(format!("Bearer {TOKEN_2}").as_str()) {
            axum::Json(serde_json::json!({ "ok": true })).into_response()
        } else {
            (StatusCode::FORBIDDEN, "TokenExpired").into_response()
        }
    });
    let never = get(|| async {
        (StatusCode::UNAUTHORIZED, format!("token {TOKEN_1} refused")).into_response()
    });
    let truncated = get(|| async {
        Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(format!(
                "{{\"token\": \"{TOKEN_1}\", \"items\": [1, 2"
            )))
            .unwrap()
    });
    let cursor = get(
        |axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
            let (items, next) = match q.as_deref() {
                None => (vec![1, 2], Some("c2")),
                Some("cursor=c2") => (vec![3], Some("c3")),
                // A server that repeats its last cursor instead of omitting it.
                _ => (vec![4], Some("c3")),
            };
            axum::Json(serde_json::json!({ "items": items, "next": next }))
        },
    );
    // Plain text that only the second token may read (Looker's run/sql).
    let text = get(|headers: HeaderMap| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth == Some(format!("Bearer {TOKEN_2}").as_str()) {
            ([("content-type", "text")], "SELECT 1\nFROM t").into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    });
    let app = Router::new()
        .route("/api/login", login)
        .route("/api/text", text)
        .route("/api/flaky", flaky)
        .route("/api/limited", limited)
        .route("/api/fresh", fresh_only)
        .route("/api/fresh403", fresh_403)
        .route("/api/never", never)
        .route("/api/truncated", truncated)
        .route("/api/cursor", cursor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

struct Login;

impl Authenticator for Login {
    fn login<'a>(
        &'a self,
        client: &'a HttpClient,
    ) -> futures::future::BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url("api/login")?;
            let response = client
                .send_unauthenticated(reqwest::Method::POST, url.clone(), |r| r)
                .await?;
            let body: serde_json::Value = client.decode_json(&url, response).await?;
            Ok(Credential::Bearer(Secret::new(
                body["access_token"].as_str().unwrap_or_default(),
            )))
        })
    }
}

/// Logs in again on 403 too, as Power BI's expired tokens need.
struct Login403;

impl Authenticator for Login403 {
    fn login<'a>(
        &'a self,
        client: &'a HttpClient,
    ) -> futures::future::BoxFuture<'a, Result<Credential, HttpError>> {
        Login.login(client)
    }

    fn relogin_on(&self, status: u16) -> bool {
        matches!(status, 401 | 403)
    }
}

fn client(url: &str) -> HttpClient {
    let settings = HttpSettings {
        connector: "tool".into(),
        base_url: format!("{url}/").parse().unwrap(),
        timeout: Duration::from_secs(10),
        max_retries: 3,
        concurrency: 2,
        min_delay: Duration::from_millis(10),
    };
    HttpClient::new(settings, Some(Arc::new(Login))).unwrap()
}

#[tokio::test]
async fn retries_then_relogins_once() {
    let counters = Arc::new(Counters::default());
    let url = serve(counters.clone()).await;
    let client = client(&url);
    let ok: serde_json::Value = client.get_json("api/flaky").await.unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(
        counters.flaky.load(Ordering::SeqCst),
        3,
        "two 502s then success"
    );

    let started = std::time::Instant::now();
    let ok: serde_json::Value = client.get_json("/api/limited").await.unwrap();
    assert_eq!(ok["ok"], true);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );

    // The first token expired: one login more, then success.
    let ok: serde_json::Value = client.get_json("api/fresh").await.unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(counters.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn text_answers_are_read_whole_after_a_relogin() {
    let counters = Arc::new(Counters::default());
    let url = serve(counters.clone()).await;
    let client = client(&url);
    assert_eq!(
        client.get_text("api/text").await.unwrap(),
        "SELECT 1\nFROM t"
    );
    assert_eq!(counters.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_authenticator_chooses_which_refusals_relogin() {
    let counters = Arc::new(Counters::default());
    let url = serve(counters.clone()).await;
    // By default a 403 is final: no second login.
    let plain = client(&url);
    let refused = plain
        .get_json::<serde_json::Value>("api/fresh403")
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403));
    assert_eq!(counters.logins.load(Ordering::SeqCst), 1);
    // One that says 403 may be an expired token logs in once more.
    let counters = Arc::new(Counters::default());
    let url = serve(counters.clone()).await;
    let settings = client(&url).settings().clone();
    let relogin = HttpClient::new(settings, Some(Arc::new(Login403))).unwrap();
    let ok: serde_json::Value = relogin.get_json("api/fresh403").await.unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(counters.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_name_the_endpoint_but_no_secret_or_body() {
    let url = serve(Arc::new(Counters::default())).await;
    let client = client(&url);
    let refused = client
        .get_json::<serde_json::Value>("api/never?api_key=QUERY-SECRET")
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "connector tool: GET /api/never answered HTTP 401: the credentials were refused; check the connector's username, password, token or key"
    );
    let cut = client
        .get_json::<serde_json::Value>("api/truncated")
        .await
        .unwrap_err();
    assert_eq!(
        cut.to_string(),
        "connector tool: /api/truncated did not answer the expected JSON (JSON cut short at line 1 column 44); check that url points at the tool's API"
    );
    let down = HttpClient::new(
        HttpSettings {
            base_url: "http://127.0.0.1:9/".parse().unwrap(),
            max_retries: 1,
            ..client.settings().clone()
        },
        None,
    )
    .unwrap()
    .get_json::<serde_json::Value>("api/x")
    .await
    .unwrap_err()
    .to_string();
    assert!(
        down.starts_with("connector tool: GET /api/x failed: could not connect"),
        "{down}"
    );
    for message in [refused.to_string(), cut.to_string(), down] {
        for secret in ["SECRET", "tok-"] {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[tokio::test]
async fn paging_helpers_stop_where_the_server_says() {
    let url = serve(Arc::new(Counters::default())).await;
    let client = client(&url);
    let items = pages_by_cursor(|cursor| {
        let client = &client;
        async move {
            let path = match cursor {
                Some(c) => format!("api/cursor?cursor={c}"),
                None => "api/cursor".to_string(),
            };
            let page: serde_json::Value = client.get_json(&path).await?;
            let items: Vec<i64> = serde_json::from_value(page["items"].clone()).unwrap();
            Ok::<_, HttpError>((items, page["next"].as_str().map(String::from)))
        }
    })
    .await
    .unwrap();
    assert_eq!(items, vec![1, 2, 3, 4]);

    let pages = std::sync::Mutex::new(Vec::new());
    let items = pages_by_number(0, 2, |page| {
        pages.lock().unwrap().push(page);
        async move {
            let items: Vec<u32> = match page {
                0 => vec![1, 2],
                1 => vec![3, 4],
                _ => vec![5],
            };
            Ok::<_, HttpError>((items, None))
        }
    })
    .await
    .unwrap();
    assert_eq!(items, vec![1, 2, 3, 4, 5]);
    assert_eq!(*pages.lock().unwrap(), vec![0, 1, 2]);
    // A known total ends the walk without asking for an empty page.
    let items = pages_by_number(1, 2, |page| async move {
        Ok::<_, HttpError>((vec![page * 10, page * 10 + 1], Some(4)))
    })
    .await
    .unwrap();
    assert_eq!(items, vec![10, 11, 20, 21]);
}
