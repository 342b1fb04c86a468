//! Which local days a derive run computes its per-day tables for, and what
//! each day's tables were derived from.
//!
//! A `scope: daily` table's rows of local day d depend only on d's events
//! and on what shapes the tables (timezone, session gap, noise lists,
//! feature areas, the SQL). The manifest `_usagelake/derive/daily_tables.json`
//! records a hash of the latter and, per local day, the raw `pages` /
//! `tracks` objects the day was derived from (path, size, ETag,
//! last-modified, from the object listing). A run derives a day only when
//! the manifest does not vouch for it: new, an input object added, rewritten
//! (a late event) or removed, or the shape changed (then every day, and the
//! partitions of the old shape are deleted).
//!
//! Commit order, so that a run killed anywhere leaves a readable and correct
//! lake: (1) the manifest drops the days about to be derived, (2) their
//! partitions are written (one atomic put each) and the ones that came out
//! empty deleted, (3) the manifest records them. A day is trusted only after
//! (3); a kill before it makes the next run derive the day again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::chunks::DayRange;
use super::{DeriveError, MetricParams, SqlDefinition, SqlKind};
use crate::lake::{DerivedTable, Lake, LakeError, TableContract, parquet_rows, tables};

const MANIFEST: &str = "derive/daily_tables.json";
const VERSION: u32 = 1;

/// One raw object as the listing saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputObject {
    pub path: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    pub last_modified: DateTime<Utc>,
}

impl From<&ObjectMeta> for InputObject {
    fn from(meta: &ObjectMeta) -> Self {
        Self {
            path: meta.location.to_string(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    /// SHA-256 of everything besides the events that shapes the per-day
    /// tables (see [`shape_hash`]).
    shape: String,
    /// The timezone those local days are in (also inside `shape`; kept
    /// readable for whoever opens the file).
    timezone: String,
    days: BTreeMap<NaiveDate, Vec<InputObject>>,
}

/// What a run derives and what it must clean up.
pub struct DayPlan {
    /// Local days to derive, ascending.
    pub dirty: Vec<NaiveDate>,
    /// Days the manifest vouches for and the run reads from the lake.
    pub reused: usize,
    /// The shape changed or `--force`: every partition not written by this
    /// run is stale.
    reset: bool,
    shape: String,
    timezone: String,
    previous: BTreeMap<NaiveDate, Vec<InputObject>>,
    inputs: BTreeMap<NaiveDate, Vec<InputObject>>,
    /// Raw rows per UTC day of the days to derive (chunk sizes).
    pub utc_rows: BTreeMap<NaiveDate, u64>,
    /// Objects of every per-day table, by table and local day.
    existing: BTreeMap<String, BTreeMap<NaiveDate, Vec<Path>>>,
}

/// The hash of what shapes the per-day tables besides the events: the
/// parameters their SQL and functions read, and the SQL text of the daily
/// tables and the views they are computed through.
pub fn shape_hash(params: &MetricParams, daily_pipeline: &[&SqlDefinition]) -> String {
    let mut text = format!(
        "daily tables v{VERSION}\ntimezone {}\nsession_gap_minutes {}\nnoise_events {:?}\nnoise_prefixes {:?}\nsearch_events {:?}\nfeature_areas {:?}\n",
        params.timezone.name(),
        params.session_gap_minutes,
        params.noise_events,
        params.noise_prefixes,
        params.search_events,
        params.feature_areas,
    );
    for def in daily_pipeline {
        text.push_str(&format!(
            "-- file {} {}\n{}\n",
            def.name,
            def.kind.as_str(),
            def.sql
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `(table, date)` of a partition object path `tables/<table>/date=…/…`.
pub(super) fn partition_date(path: &str, root: &str) -> Option<NaiveDate> {
    let rest = path.strip_prefix(root)?;
    let (folder, _) = rest.split_once('/')?;
    NaiveDate::parse_from_str(folder.strip_prefix("date=")?, "%Y-%m-%d").ok()
}

pub(super) async fn list(lake: &Lake, root: &str) -> Result<Vec<ObjectMeta>, LakeError> {
    let prefix = Path::from(root);
    lake.store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| LakeError::Store {
            path: root.to_string(),
            source,
        })
}

/// Decides which days `as_of`'s run derives. `intermediates` are the
/// per-day tables written to the lake.
pub async fn plan(
    lake: &Lake,
    params: &MetricParams,
    shape: String,
    intermediates: &[DerivedTable],
    force: bool,
) -> Result<DayPlan, DeriveError> {
    let as_of = params.as_of;
    let tz: Tz = params.timezone;
    // Raw objects by UTC day.
    let mut raw: BTreeMap<NaiveDate, Vec<ObjectMeta>> = BTreeMap::new();
    for spec in [&tables::PAGES, &tables::TRACKS] {
        let root = spec.root();
        for meta in list(lake, &root).await? {
            if !meta.location.as_ref().ends_with(".parquet") {
                continue;
            }
            if let Some(day) = partition_date(meta.location.as_ref(), &root) {
                raw.entry(day).or_default().push(meta);
            }
        }
    }
    let mut existing: BTreeMap<String, BTreeMap<NaiveDate, Vec<Path>>> = BTreeMap::new();
    for table in intermediates {
        let root = table.root();
        let days = existing.entry(table.name.clone()).or_default();
        for meta in list(lake, &root).await? {
            if let Some(day) = partition_date(meta.location.as_ref(), &root) {
                days.entry(day).or_default().push(meta.location);
            }
        }
    }
    let manifest = read(lake).await?;
    let reset = force || manifest.version != VERSION || manifest.shape != shape;

    // Every local day that has (or had) events or per-day rows up to as_of.
    let mut universe: BTreeSet<NaiveDate> = BTreeSet::new();
    if let Some(&first) = raw.keys().next() {
        // A UTC day's events can fall on the local day before it.
        let start = (first - chrono::Days::new(1)).min(as_of);
        universe.extend(start.iter_days().take_while(|d| *d <= as_of));
    }
    universe.extend(manifest.days.keys().filter(|d| **d <= as_of));
    for days in existing.values() {
        universe.extend(days.keys().filter(|d| **d <= as_of));
    }
    // An empty lake still derives as_of once, so every table exists.
    universe.insert(as_of);

    let mut inputs = BTreeMap::new();
    let mut dirty = Vec::new();
    for day in universe {
        let (from, to) = DayRange {
            start: day,
            end: day,
        }
        .utc_days(tz);
        let mut objects: Vec<InputObject> = raw
            .range(from..=to)
            .flat_map(|(_, metas)| metas.iter().map(InputObject::from))
            .collect();
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        if reset || manifest.days.get(&day) != Some(&objects) {
            dirty.push(day);
        }
        inputs.insert(day, objects);
    }
    let reused = inputs.len() - dirty.len();

    // Footers only of the raw days the derived days read.
    let mut utc_rows = BTreeMap::new();
    let touched: BTreeSet<NaiveDate> = dirty
        .iter()
        .flat_map(|&d| {
            let (from, to) = DayRange { start: d, end: d }.utc_days(tz);
            from.iter_days().take_while(move |x| *x <= to)
        })
        .collect();
    for day in touched {
        let mut rows = 0;
        for meta in raw.get(&day).into_iter().flatten() {
            rows += parquet_rows(lake, &meta.location, meta.size).await?;
        }
        utc_rows.insert(day, rows);
    }
    Ok(DayPlan {
        dirty,
        reused,
        reset,
        shape,
        timezone: tz.name().to_string(),
        previous: manifest.days,
        inputs,
        utc_rows,
        existing,
    })
}

async fn read(lake: &Lake) -> Result<Manifest, DeriveError> {
    let path = lake.meta_path(MANIFEST);
    let Some(bytes) = lake.read_meta(&path).await? else {
        return Ok(Manifest::default());
    };
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        // Only ever costs a full derive: the file vouches for nothing.
        tracing::warn!("{path} is not a derive manifest ({e}); deriving every day again");
        Manifest::default()
    }))
}

impl DayPlan {
    fn manifest(&self, days: BTreeMap<NaiveDate, Vec<InputObject>>) -> Manifest {
        Manifest {
            version: VERSION,
            shape: self.shape.clone(),
            timezone: self.timezone.clone(),
            days,
        }
    }

    /// The days the manifest may keep vouching for while the dirty ones are
    /// rewritten.
    fn kept(&self) -> BTreeMap<NaiveDate, Vec<InputObject>> {
        if self.reset {
            return BTreeMap::new();
        }
        let mut days = self.previous.clone();
        for day in &self.dirty {
            days.remove(day);
        }
        days
    }

    /// Step (1): the manifest stops vouching for the days to derive.
    pub async fn begin(&self, lake: &Lake) -> Result<(), DeriveError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        write(lake, &self.manifest(self.kept())).await
    }

    /// Steps (2) and (3), after the dirty days' partitions were written:
    /// deletes the per-day partitions no longer true (a day that came out
    /// empty; after a reset every one this run did not write), then records
    /// the derived days.
    pub async fn finish(
        &self,
        lake: &Lake,
        written: &BTreeMap<String, BTreeSet<NaiveDate>>,
    ) -> Result<usize, DeriveError> {
        if self.dirty.is_empty() {
            return Ok(0);
        }
        let dirty: BTreeSet<NaiveDate> = self.dirty.iter().copied().collect();
        let mut deleted = 0;
        for (table, days) in &self.existing {
            let fresh = written.get(table);
            for (day, objects) in days {
                let stale =
                    (self.reset || dirty.contains(day)) && !fresh.is_some_and(|f| f.contains(day));
                if !stale {
                    continue;
                }
                for path in objects {
                    match lake.store().delete(path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(source) => {
                            return Err(LakeError::Store {
                                path: path.to_string(),
                                source,
                            }
                            .into());
                        }
                    }
                }
                deleted += 1;
            }
        }
        let mut days = self.kept();
        for day in &self.dirty {
            days.insert(*day, self.inputs[day].clone());
        }
        write(lake, &self.manifest(days)).await?;
        Ok(deleted)
    }
}

async fn write(lake: &Lake, manifest: &Manifest) -> Result<(), DeriveError> {
    let body = serde_json::to_vec(manifest).expect("a manifest serializes");
    Ok(lake.write_meta(&lake.meta_path(MANIFEST), body).await?)
}

/// The definitions whose SQL shapes the per-day tables: the daily ones and
/// every view before the last of them.
pub fn daily_pipeline(catalog: &[SqlDefinition]) -> Vec<&SqlDefinition> {
    let Some(last) = catalog.iter().rposition(|d| d.daily) else {
        return Vec::new();
    };
    catalog[..=last]
        .iter()
        .filter(|d| d.daily || d.kind == SqlKind::View)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_hash_follows_what_shapes_the_per_day_tables_only() {
        let as_of = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let catalog = super::super::load_catalog(None).unwrap();
        let pipeline = daily_pipeline(&catalog);
        let hash = |text: &str| {
            let params: crate::config::Params = toml::from_str(text).unwrap();
            shape_hash(
                &MetricParams::from_params(&params, as_of).unwrap(),
                &pipeline,
            )
        };
        let base = hash("");
        // Metric parameters and memory settings do not change a day's rows.
        assert_eq!(hash("window_days = 7\ntop_n = 5\nchunk_events = 10"), base);
        for changed in [
            "timezone = \"Asia/Kolkata\"",
            "session_gap_minutes = 20",
            "noise_events = []",
            "noise_prefixes = []",
            "search_events = [\"x\"]",
            "feature_areas = [{ name = \"All\", pages = [\"home\"] }]",
        ] {
            assert_ne!(hash(changed), base, "{changed}");
        }
        // Nor does the SQL of a metric; a daily file's does.
        let mut edited = catalog.clone();
        edited
            .iter_mut()
            .find(|d| d.name == "dau")
            .unwrap()
            .sql
            .push(' ');
        assert_eq!(
            shape_hash(
                &MetricParams::from_params(&Default::default(), as_of).unwrap(),
                &daily_pipeline(&edited)
            ),
            base
        );
        edited
            .iter_mut()
            .find(|d| d.name == "user_sessions")
            .unwrap()
            .sql
            .push(' ');
        assert_ne!(
            shape_hash(
                &MetricParams::from_params(&Default::default(), as_of).unwrap(),
                &daily_pipeline(&edited)
            ),
            base
        );
    }

    #[test]
    fn partition_dates_come_from_the_folder() {
        assert_eq!(
            partition_date("tables/pages/date=2026-03-01/data.parquet", "tables/pages/"),
            NaiveDate::from_ymd_opt(2026, 3, 1)
        );
        assert_eq!(
            partition_date("tables/pages/data.parquet", "tables/pages/"),
            None
        );
        assert_eq!(
            partition_date("tables/pages/date=x/data.parquet", "tables/pages/"),
            None
        );
    }
}
