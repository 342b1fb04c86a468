//! Choosing the input files of a run.

use std::sync::Arc;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::config::FileSelection;

#[derive(Debug, Clone, PartialEq)]
pub struct InputFile {
    pub path: Path,
    pub size: u64,
}

/// The arrival day a path's folders name: Segment's `<epoch_ms>` folder (a
/// UTC midnight), `YYYY-MM-DD` or `date=YYYY-MM-DD`. None for undated paths.
pub fn arrival_date(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<_> = path.parts().collect();
    let folders = &parts[..parts.len().saturating_sub(1)];
    folders.iter().rev().find_map(|part| {
        let s = part.as_ref();
        let s = s.strip_prefix("date=").unwrap_or(s);
        if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
            let ms: i64 = s.parse().ok()?;
            return (ms % 86_400_000 == 0).then(|| super::utc_date(ms * 1000));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    })
}

/// Lists event files under the store's root, sorted by path so that input
/// order (and so which duplicate wins) is deterministic.
pub async fn list_inputs(
    store: &Arc<dyn ObjectStore>,
    selection: FileSelection,
    date: NaiveDate,
) -> Result<Vec<InputFile>, object_store::Error> {
    let mut files: Vec<InputFile> = store
        .list(None)
        .try_filter_map(|meta| async move {
            let name = meta.location.filename().unwrap_or_default();
            let is_data = !name.starts_with('.') && !name.starts_with('_') && meta.size > 0;
            let wanted = match selection {
                FileSelection::All => true,
                FileSelection::ByArrivalDate => {
                    arrival_date(&meta.location).is_none_or(|d| d == date)
                }
            };
            Ok((is_data && wanted).then_some(InputFile {
                path: meta.location,
                size: meta.size,
            }))
        })
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_dates_from_layouts() {
        let d = NaiveDate::from_ymd_opt(2025, 11, 23).unwrap();
        assert_eq!(
            arrival_date(&Path::from("segment-logs/src1/1763856000000/a.gz")),
            Some(d)
        );
        assert_eq!(
            arrival_date(&Path::from("events/2025-11-23/a.json")),
            Some(d)
        );
        assert_eq!(
            arrival_date(&Path::from("events/date=2025-11-23/a.json")),
            Some(d)
        );
        assert_eq!(arrival_date(&Path::from("events/a.json")), None);
        // Not a midnight: an id that happens to have 13 digits.
        assert_eq!(arrival_date(&Path::from("x/1763856000001/a.gz")), None);
    }
}
