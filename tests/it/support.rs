//! Shared fixtures: temporary lakes, Segment lines, SQL helpers.

use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use usagelake::lake::{Lake, LakeLocation, S3Options};

pub fn temp_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    (dir, lake)
}

/// Writes `lines` as one file at `dir/rel`, creating folders.
pub fn write_events(dir: &Path, rel: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

pub fn page(id: &str, user: &str, domain: &str, name: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"page","messageId":"{id}","userId":"{user}","name":"{name}","timestamp":"{ts}","receivedAt":"{ts}","properties":{{"tab":"overview"}},"context":{{"traits":{{"domain":"{domain}"}}}}}}"#
    )
}

pub fn track(id: &str, user: &str, domain: &str, event: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"track","messageId":"{id}","userId":"{user}","event":"{event}","timestamp":"{ts}","properties":{{"n":1}},"context":{{"traits":{{"domain":"{domain}"}}}}}}"#
    )
}

pub fn s3_none() -> S3Options {
    S3Options::default()
}

/// Runs SQL against the lake and renders the result as a sorted text table.
pub async fn sql(lake: &Lake, query: &str) -> String {
    let batches: Vec<RecordBatch> = usagelake::query::run_sql(lake, query).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Every file under `root`, relative, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
