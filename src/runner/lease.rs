//! A per-job lease: an object created with `PutMode::Create`, so only one
//! run of a job holds it. The holder renews it (a heartbeat) every third of
//! its time to live, so a holder that died is taken over soon after it
//! stopped renewing, while a long run keeps it.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::lake::Lake;

#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    pid: u32,
    /// Tells this holding apart from a later one of the same process.
    #[serde(default)]
    token: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

pub struct Lease {
    lake: Lake,
    path: Path,
    token: String,
    ttl: StdDuration,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

/// How long a lease lives without a heartbeat when the caller names no
/// time (`[server] lease_ttl_seconds` sets the runner's and the daemon's).
pub const DEFAULT_TTL: StdDuration = StdDuration::from_secs(300);

impl Lease {
    /// [`Lease::acquire_with_ttl`] with [`DEFAULT_TTL`].
    pub async fn acquire(lake: &Lake, name: &str) -> Result<Self, RunError> {
        Self::acquire_with_ttl(lake, name, DEFAULT_TTL).await
    }

    /// Takes the lease `name` (a job, a connector), or says who holds it. A
    /// lease past its expiry, or held by a dead process on this host, is
    /// taken over.
    pub async fn acquire_with_ttl(
        lake: &Lake,
        job: &str,
        ttl: StdDuration,
    ) -> Result<Self, RunError> {
        let path = lake.meta_path(&format!("leases/{job}.json"));
        let token = uuid::Uuid::new_v4().to_string();
        let ttl_chrono = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(6));
        for _ in 0..2 {
            let now = Utc::now();
            let body = LeaseBody {
                holder: format!("pid {} on {}", std::process::id(), hostname()),
                host: hostname(),
                pid: std::process::id(),
                token: token.clone(),
                acquired_at: now,
                expires_at: now + ttl_chrono,
            };
            let payload = PutPayload::from(serde_json::to_vec(&body).expect("serializable"));
            let opts = PutOptions::from(PutMode::Create);
            match lake.store().put_opts(&path, payload, opts).await {
                Ok(_) => {
                    let mut lease = Self {
                        lake: lake.clone(),
                        path,
                        token,
                        ttl,
                        heartbeat: None,
                    };
                    lease.start_heartbeat();
                    return Ok(lease);
                }
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    let held = read_body(lake, &path).await;
                    match held {
                        Some(held) if held.expires_at > Utc::now() && !holder_is_dead(&held) => {
                            return Err(RunError::Busy {
                                job: job.to_string(),
                                path: path.to_string(),
                                holder: held.holder,
                                expires_at: held.expires_at.to_rfc3339(),
                            });
                        }
                        // Expired or unreadable: the holder is gone; take over.
                        _ => {
                            let _ = lake.store().delete(&path).await;
                        }
                    }
                }
                Err(e) => {
                    return Err(RunError::Ledger {
                        path: path.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(RunError::Ledger {
            path: path.to_string(),
            reason: "lease is contended; try again".into(),
        })
    }

    fn start_heartbeat(&mut self) {
        let lake = self.lake.clone();
        let path = self.path.clone();
        let token = self.token.clone();
        let ttl = self.ttl;
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match renew(&lake, &path, &token, ttl).await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("lease heartbeat: {e}");
                        if matches!(e, RunError::Busy { .. }) {
                            return;
                        }
                    }
                }
            }
        }));
    }

    /// Pushes the expiry one time-to-live past now and returns it; fails
    /// with `Busy` when another holder has taken the lease over.
    pub async fn renew(&self) -> Result<DateTime<Utc>, RunError> {
        renew(&self.lake, &self.path, &self.token, self.ttl).await
    }

    /// Stops the heartbeat and deletes the lease if it is still this one.
    pub async fn release(mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if read_body(&self.lake, &self.path)
            .await
            .is_some_and(|b| b.token == self.token)
        {
            let _ = self.lake.store().delete(&self.path).await;
        }
    }
}

impl Drop for Lease {
    /// A lease dropped without `release` (its run was cancelled) stops
    /// renewing and expires on its own.
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

async fn renew(
    lake: &Lake,
    path: &Path,
    token: &str,
    ttl: StdDuration,
) -> Result<DateTime<Utc>, RunError> {
    let mut body = read_body(lake, path)
        .await
        .ok_or_else(|| RunError::Ledger {
            path: path.to_string(),
            reason: "lease object vanished while held; it was deleted by hand".into(),
        })?;
    if body.token != token {
        return Err(RunError::Busy {
            job: path
                .filename()
                .unwrap_or_default()
                .trim_end_matches(".json")
                .to_string(),
            path: path.to_string(),
            holder: body.holder,
            expires_at: body.expires_at.to_rfc3339(),
        });
    }
    body.expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
    // A plain overwrite: object_store's local store has no compare-and-swap
    // update; the token check above narrows the race to one renewal.
    lake.store()
        .put(
            path,
            PutPayload::from(serde_json::to_vec(&body).expect("serializable")),
        )
        .await
        .map_err(|e| RunError::Ledger {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    Ok(body.expires_at)
}

async fn read_body(lake: &Lake, path: &Path) -> Option<LeaseBody> {
    let bytes = lake.store().get(path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A holder on this host whose process is gone (killed, crashed) releases
/// its lease at once instead of blocking the job until expiry.
fn holder_is_dead(held: &LeaseBody) -> bool {
    held.host == hostname()
        && held.pid != 0
        && !std::path::Path::new(&format!("/proc/{}", held.pid)).exists()
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
