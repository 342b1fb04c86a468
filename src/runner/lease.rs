//! A per-job lease: an object created with `PutMode::Create`, so only one
//! run of a job holds it; it expires so a crashed holder blocks no one forever.

use chrono::{DateTime, Duration, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::lake::Lake;

/// Longer than any single run should take; a holder killed with SIGKILL
/// blocks the job at most this long.
const LEASE_TTL_HOURS: i64 = 6;

#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    pid: u32,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

pub struct Lease {
    lake: Lake,
    path: Path,
}

impl Lease {
    pub async fn acquire(lake: &Lake, job: &str) -> Result<Self, RunError> {
        let path = lake.meta_path(&format!("leases/{job}.json"));
        for _ in 0..2 {
            let now = Utc::now();
            let body = LeaseBody {
                holder: format!("pid {} on {}", std::process::id(), hostname()),
                host: hostname(),
                pid: std::process::id(),
                acquired_at: now,
                expires_at: now + Duration::hours(LEASE_TTL_HOURS),
            };
            let payload = PutPayload::from(serde_json::to_vec(&body).expect("serializable"));
            let opts = PutOptions::from(PutMode::Create);
            match lake.store().put_opts(&path, payload, opts).await {
                Ok(_) => {
                    return Ok(Self {
                        lake: lake.clone(),
                        path,
                    });
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

    pub async fn release(self) {
        let _ = self.lake.store().delete(&self.path).await;
    }
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
