//! `[server]`: where `usagelake serve` listens and who may call it.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port` of the HTTP API.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Bearer token every route but `/health` requires; without one the
    /// daemon listens on loopback only.
    #[serde(default)]
    pub token: Option<Secret>,
    /// How long SIGTERM waits for running jobs before recording them as
    /// interrupted.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
    /// A lease not renewed for this long is taken over (its holder died);
    /// holders renew it every third of this.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            token: None,
            shutdown_timeout_seconds: default_shutdown_timeout(),
            lease_ttl_seconds: default_lease_ttl(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_shutdown_timeout() -> u64 {
    60
}
fn default_lease_ttl() -> u64 {
    300
}

impl ServerConfig {
    /// The listen address, refused beyond loopback when there is no token.
    /// `listen` overrides `self.listen` (the `--listen` flag).
    pub fn check_listen(&self, listen: Option<&str>) -> Result<SocketAddr, String> {
        let text = listen.unwrap_or(&self.listen);
        let addr: SocketAddr = text.parse().map_err(|_| {
            format!("listen address {text:?} is not host:port; write e.g. \"127.0.0.1:8080\"")
        })?;
        let has_token = self.token.as_ref().is_some_and(|t| !t.expose().is_empty());
        if !addr.ip().is_loopback() && !has_token {
            return Err(format!(
                "listen address {addr} is beyond loopback and [server] has no token; set token = \"${{USAGELAKE_TOKEN}}\" or listen on 127.0.0.1"
            ));
        }
        Ok(addr)
    }

    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Err(message) = self.check_listen(None) {
            problems.push(("server.listen", message));
        }
        if self.lease_ttl_seconds < 3 {
            problems.push((
                "server.lease_ttl_seconds",
                format!(
                    "{} is too short to renew in time; use at least 3 (default 300)",
                    self.lease_ttl_seconds
                ),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_anything_else_does() {
        let open = ServerConfig::default();
        assert_eq!(
            open.check_listen(None).unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            open.check_listen(Some("[::1]:0")).unwrap().to_string(),
            "[::1]:0"
        );
        assert_eq!(
            open.check_listen(Some("0.0.0.0:80")).unwrap_err(),
            "listen address 0.0.0.0:80 is beyond loopback and [server] has no token; set token = \"${USAGELAKE_TOKEN}\" or listen on 127.0.0.1"
        );
        assert_eq!(
            open.check_listen(Some("localhost")).unwrap_err(),
            "listen address \"localhost\" is not host:port; write e.g. \"127.0.0.1:8080\""
        );
        let empty_token = ServerConfig {
            token: Some(Secret::new("")),
            ..ServerConfig::default()
        };
        assert!(empty_token.check_listen(Some("10.0.0.5:8080")).is_err());
        let with_token = ServerConfig {
            token: Some(Secret::new("t")),
            ..ServerConfig::default()
        };
        assert!(with_token.check_listen(Some("0.0.0.0:8080")).is_ok());
    }
}
