//! gzip for clients that send `Accept-Encoding: gzip`. The page's charting
//! library is 1.1 MB and a tab's JSON tens of kB; gzipped they are a
//! third to a tenth of that.
//!
//! flate2 (already a dependency) rather than tower-http's compression
//! layer: tower-http is in the tree only through reqwest, and turning on
//! its compression features would rebuild reqwest, object_store and all of
//! DataFusion in every build directory for the same gzip.

use std::io::Write;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Smaller bodies go as they are: gzip's header and trailer would eat
/// most of the saving.
pub const MIN_BYTES: usize = 1024;

/// Whether the request's `Accept-Encoding` takes gzip (`gzip` or `*`,
/// without `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Compression::default());
    encoder
        .write_all(bytes)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// Text, JSON and scripts; anything already encoded is left alone.
fn compressible(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("text/")
                || t.starts_with("application/json")
                || t.starts_with("application/javascript")
        })
}

/// Middleware: gzips a compressible answer of at least [`MIN_BYTES`] when
/// the client accepts it. Every answer it could have compressed says
/// `Vary: Accept-Encoding`, so a cache keeps the two forms apart.
pub async fn compress(request: Request, next: Next) -> Response {
    let wanted = accepts_gzip(request.headers());
    let response = next.run(request).await;
    if !wanted || !compressible(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Every answer of this app is built in memory: collecting it costs a
    // copy, not a wait.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, "reading an answer to compress it");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if bytes.len() < MIN_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    Response::from_parts(parts, Body::from(gzip(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&headers)
    }

    #[test]
    fn reads_accept_encoding_as_browsers_and_curl_send_it() {
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0, br"));
        assert!(!accepts("deflate, br"));
        assert!(!accepts(""));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_round_trips() {
        let text = "{\"rows\": [1, 2, 3]}".repeat(200);
        let packed = gzip(text.as_bytes());
        assert!(packed.len() < text.len() / 10, "{}", packed.len());
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
