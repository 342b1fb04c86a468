//! The one writer of `bi_queries` and `sync_jobs`, and the collectors'
//! checkpoints. Every collector's rows come through here: SQL is
//! anonymized and analyzed once, in one place, and the raw text goes no
//! further than this module.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Array, ListBuilder, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::collect::{BiRow, Collected, RowScope, Slice, SyncJob};
use crate::config::ConnectorConfig;
use crate::lake::tables::{BI_QUERIES, SYNC_JOBS, TableContract};
use crate::lake::{Lake, LakeError, PartitionValue, merge_dedup, read_partition};
use crate::sql::{self, SqlDialect};

/// Fixed namespace for row ids: the same execution or object always gets
/// the same id, so a re-run rewrites rather than adds.
const ROW_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d1b_7a4e_2f0c_4b8e_9a51_3c2d_8e7f_1a60);

/// The dialect a connector's SQL is written in.
pub fn connector_dialect(connector: &ConnectorConfig) -> SqlDialect {
    use crate::config::ConnectorKind as K;
    match connector.kind {
        K::Snowflake => SqlDialect::Snowflake,
        K::Bigquery => SqlDialect::Bigquery,
        K::Postgres | K::EventStore => SqlDialect::Postgres,
        K::PowerBi => SqlDialect::Mssql,
        K::Superset | K::Metabase | K::Looker | K::Tableau => SqlDialect::Generic,
    }
}

/// The stored form of a query text: statements anonymized and joined, one
/// fingerprint (of the statements' fingerprints when there are several),
/// references merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextAnalysis {
    pub sql_text: String,
    pub fingerprint: String,
    pub tables: Vec<String>,
    pub written_tables: Vec<String>,
    pub columns: Vec<String>,
}

/// Analyzes a whole query text; `None` when it holds no statement.
pub fn analyze_text(text: &str, dialect: SqlDialect) -> Option<TextAnalysis> {
    let statements = sql::analyze(text, dialect);
    match statements.as_slice() {
        [] => None,
        [only] => Some(TextAnalysis {
            sql_text: only.anonymized.clone(),
            fingerprint: only.fingerprint.clone(),
            tables: only.tables.clone(),
            written_tables: only.written_tables.clone(),
            columns: only.columns.clone(),
        }),
        many => {
            let union = |pick: fn(&sql::StatementAnalysis) -> &Vec<String>| {
                many.iter()
                    .flat_map(|s| pick(s).iter().cloned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
            };
            let fingerprints: Vec<&str> = many.iter().map(|s| s.fingerprint.as_str()).collect();
            Some(TextAnalysis {
                sql_text: many
                    .iter()
                    .map(|s| s.anonymized.as_str())
                    .collect::<Vec<_>>()
                    .join(";\n"),
                fingerprint: sql::fingerprint_of_fingerprints(&fingerprints),
                tables: union(|s| &s.tables),
                written_tables: union(|s| &s.written_tables),
                columns: union(|s| &s.columns),
            })
        }
    }
}

/// The id of a row: stable for the same object or execution. Two users
/// running the same object in the same instant are two executions (activity
/// logs keep whole seconds), so the user is part of an execution's id.
pub fn row_id(connector_id: &str, row: &BiRow) -> String {
    let mut key = format!(
        "{connector_id}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        row.resource_type.as_str(),
        row.resource_id,
        row.dashboard_id.as_deref().unwrap_or(""),
        row.executed_at.map(|t| t.timestamp_micros()).unwrap_or(0),
    );
    if let Some(user) = &row.executed_by {
        key.push('\u{1f}');
        key.push_str(user);
    }
    uuid::Uuid::new_v5(&ROW_ID_NAMESPACE, key.as_bytes()).to_string()
}

/// What [`commit`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommitReport {
    /// Rows written into the declared slices.
    pub rows_upserted: u64,
    /// Rows that fell outside every declared slice (another day's run owns them).
    pub rows_outside_slices: u64,
    /// Partitions rewritten.
    pub partitions: u64,
}

/// Writes a collect's rows: each declared slice of each day's partition
/// is replaced by the rows that fall in it; the partition's other rows
/// (the other scope) are kept. Each partition is one atomic put, so a
/// crash leaves every partition either as it was or as it will be.
pub async fn commit(
    lake: &Lake,
    connector: &ConnectorConfig,
    collected: &Collected,
    snapshot_date: NaiveDate,
) -> Result<CommitReport, LakeError> {
    let mut pending = PendingRows::new(connector, snapshot_date);
    for row in &collected.rows {
        pending.push(row);
    }
    pending.commit(lake, &collected.slices).await
}

/// How many raw texts [`PendingRows`] remembers to skip re-analysis: a log
/// of statements with literals has about as many distinct texts as rows,
/// so the memo is bounded; it only saves time.
const RECENT_TEXTS: usize = 16_384;

/// Rows on their way to the lake, held compact while a collect runs: each
/// row's own fields go straight into Arrow builders of its slice, and its
/// SQL is analyzed at once and kept as an index into the distinct stored
/// forms. Memory follows the stored bytes of the row, not its raw text, so
/// a collector can hand over a million log statements as it reads them.
pub struct PendingRows {
    connector_id: String,
    default_dialect: SqlDialect,
    snapshot_date: NaiveDate,
    now: DateTime<Utc>,
    recent: HashMap<SqlDialect, HashMap<String, Option<u32>>>,
    stored: Vec<Arc<StoredSql>>,
    stored_index: HashMap<Arc<StoredSql>, u32>,
    slices: BTreeMap<Slice, SliceRows>,
}

/// What a row stores of its SQL: the analysis of its text, with the
/// system's own table list in place of the analysis's when it gave one.
#[derive(Debug, PartialEq, Eq, Hash)]
struct StoredSql {
    sql_text: Option<String>,
    fingerprint: Option<String>,
    tables: Vec<String>,
    written_tables: Vec<String>,
    columns: Vec<String>,
}

/// One slice's rows, column by column; the SQL columns are filled from
/// `PendingRows::stored` when the slice is written.
#[derive(Default)]
struct SliceRows {
    id: StringBuilder,
    resource_type: StringBuilder,
    resource_id: StringBuilder,
    title: StringBuilder,
    database: StringBuilder,
    executed_by: StringBuilder,
    executed_at: Vec<Option<i64>>,
    execution_count: Vec<i64>,
    dashboard_id: StringBuilder,
    dashboard_title: StringBuilder,
    dashboard_url: StringBuilder,
    created_at: Vec<i64>,
    sql: Vec<Option<u32>>,
}

impl PendingRows {
    pub fn new(connector: &ConnectorConfig, snapshot_date: NaiveDate) -> Self {
        Self {
            connector_id: connector.id_string(),
            default_dialect: connector_dialect(connector),
            snapshot_date,
            now: Utc::now(),
            recent: HashMap::new(),
            stored: Vec::new(),
            stored_index: HashMap::new(),
            slices: BTreeMap::new(),
        }
    }

    /// Rows held so far.
    pub fn len(&self) -> usize {
        self.slices.values().map(|s| s.execution_count.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one row: its raw SQL is analyzed now and not kept.
    pub fn push(&mut self, row: &BiRow) {
        let scope = row.resource_type.scope();
        let date = match (scope, row.executed_at) {
            (RowScope::Executions, Some(at)) => at.date_naive(),
            _ => self.snapshot_date,
        };
        let sql = self.stored_sql(row);
        let id = row_id(&self.connector_id, row);
        let rows = self.slices.entry(Slice { date, scope }).or_default();
        rows.id.append_value(id);
        rows.resource_type.append_value(row.resource_type.as_str());
        rows.resource_id.append_value(&row.resource_id);
        rows.title.append_option(row.title.as_deref());
        rows.database.append_option(row.database.as_deref());
        rows.executed_by.append_option(row.executed_by.as_deref());
        rows.executed_at.push(micros(row.executed_at));
        rows.execution_count.push(row.execution_count);
        rows.dashboard_id.append_option(row.dashboard_id.as_deref());
        rows.dashboard_title
            .append_option(row.dashboard_title.as_deref());
        rows.dashboard_url
            .append_option(row.dashboard_url.as_deref());
        rows.created_at
            .push(row.created_at.unwrap_or(self.now).timestamp_micros());
        rows.sql.push(sql);
    }

    fn stored_sql(&mut self, row: &BiRow) -> Option<u32> {
        let analyzed = row
            .sql
            .as_deref()
            .and_then(|text| self.analyzed(text, row.dialect.unwrap_or(self.default_dialect)));
        if row.tables.is_empty() && row.columns.is_empty() {
            return analyzed;
        }
        let given = |names: &[String]| {
            let mut names = names.to_vec();
            names.sort();
            names.dedup();
            names
        };
        let base = analyzed.map(|index| Arc::clone(&self.stored[index as usize]));
        let base = base.as_deref();
        let pick = |given_names: &[String], analyzed: Option<&Vec<String>>| {
            if given_names.is_empty() {
                analyzed.cloned().unwrap_or_default()
            } else {
                given(given_names)
            }
        };
        let stored = StoredSql {
            sql_text: base.and_then(|b| b.sql_text.clone()),
            fingerprint: base.and_then(|b| b.fingerprint.clone()),
            tables: pick(&row.tables, base.map(|b| &b.tables)),
            written_tables: base.map(|b| b.written_tables.clone()).unwrap_or_default(),
            columns: pick(&row.columns, base.map(|b| &b.columns)),
        };
        Some(self.intern(stored))
    }

    /// The stored form of a text's analysis, memoized for recent texts.
    fn analyzed(&mut self, text: &str, dialect: SqlDialect) -> Option<u32> {
        if let Some(&index) = self.recent.get(&dialect).and_then(|m| m.get(text)) {
            return index;
        }
        let index = analyze_text(text, dialect).map(|a| {
            self.intern(StoredSql {
                sql_text: Some(a.sql_text),
                fingerprint: Some(a.fingerprint),
                tables: a.tables,
                written_tables: a.written_tables,
                columns: a.columns,
            })
        });
        let memo = self.recent.entry(dialect).or_default();
        if memo.len() >= RECENT_TEXTS {
            memo.clear();
        }
        memo.insert(text.to_string(), index);
        index
    }

    fn intern(&mut self, sql: StoredSql) -> u32 {
        if let Some(&index) = self.stored_index.get(&sql) {
            return index;
        }
        let index = u32::try_from(self.stored.len()).expect("fewer than 2^32 distinct SQL texts");
        let sql = Arc::new(sql);
        self.stored.push(Arc::clone(&sql));
        self.stored_index.insert(sql, index);
        index
    }

    /// Writes the rows: see [`commit`].
    pub async fn commit(self, lake: &Lake, slices: &[Slice]) -> Result<CommitReport, LakeError> {
        let Self {
            connector_id,
            stored,
            slices: mut held,
            ..
        } = self;
        let declared: BTreeSet<Slice> = slices.iter().copied().collect();
        let mut report = CommitReport {
            rows_outside_slices: held
                .iter()
                .filter(|(slice, _)| !declared.contains(slice))
                .map(|(_, rows)| rows.execution_count.len() as u64)
                .sum(),
            ..CommitReport::default()
        };
        let dates: BTreeSet<NaiveDate> = declared.iter().map(|s| s.date).collect();
        for date in dates {
            let replaced: Vec<Slice> = declared
                .iter()
                .filter(|s| s.date == date)
                .copied()
                .collect();
            let mut incoming = Vec::new();
            for slice in &replaced {
                if let Some(rows) = held.remove(slice) {
                    report.rows_upserted += rows.execution_count.len() as u64;
                    incoming.push(rows.finish(&stored)?);
                }
            }
            let key = [
                PartitionValue::Date(date),
                PartitionValue::Str(connector_id.clone()),
            ];
            let existing = read_partition(lake, &BI_QUERIES, &key)
                .await?
                .unwrap_or_default();
            let scopes: Vec<RowScope> = replaced.iter().map(|s| s.scope).collect();
            let kept = keep_other_scopes(&existing, &scopes)?;
            let merged = merge_dedup(&BI_QUERIES, &kept, &incoming)?;
            lake.write_partition(&BI_QUERIES)
                .partition(key)
                .write(&[merged.batch])
                .await?;
            report.partitions += 1;
        }
        Ok(report)
    }
}

/// Something that takes rows as a collector reads them (see
/// [`super::collect::CollectContext::rows`]).
pub type RowSink = std::sync::Mutex<PendingRows>;
/// The rows of `batches` whose resource type is not in a replaced scope.
fn keep_other_scopes(
    batches: &[RecordBatch],
    replaced: &[RowScope],
) -> Result<Vec<RecordBatch>, LakeError> {
    let arrow_err = |source| LakeError::Arrow {
        table: BI_QUERIES.name().to_string(),
        source,
    };
    let index = BI_QUERIES
        .file_schema()
        .index_of("resource_type")
        .expect("bi_queries has resource_type");
    batches
        .iter()
        .map(|batch| {
            let types = batch.column(index).as_string::<i32>();
            let keep: datafusion::arrow::array::BooleanArray = types
                .iter()
                .map(|t| {
                    let scope = t
                        .and_then(super::collect::ResourceType::parse)
                        .map(|t| t.scope());
                    Some(!scope.is_some_and(|s| replaced.contains(&s)))
                })
                .collect();
            datafusion::arrow::compute::filter_record_batch(batch, &keep).map_err(arrow_err)
        })
        .collect()
}

fn ts_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

impl SliceRows {
    fn finish(mut self, stored: &[Arc<StoredSql>]) -> Result<RecordBatch, LakeError> {
        let mut sql_text = StringBuilder::new();
        let mut fingerprint = StringBuilder::new();
        let mut tables = ListBuilder::new(StringBuilder::new());
        let mut written = ListBuilder::new(StringBuilder::new());
        let mut columns = ListBuilder::new(StringBuilder::new());
        let none: &[String] = &[];
        for index in &self.sql {
            let sql = index.map(|i| stored[i as usize].as_ref());
            sql_text.append_option(sql.and_then(|s| s.sql_text.as_deref()));
            fingerprint.append_option(sql.and_then(|s| s.fingerprint.as_deref()));
            for (builder, values) in [
                (&mut tables, sql.map_or(none, |s| s.tables.as_slice())),
                (
                    &mut written,
                    sql.map_or(none, |s| s.written_tables.as_slice()),
                ),
                (&mut columns, sql.map_or(none, |s| s.columns.as_slice())),
            ] {
                for v in values {
                    builder.values().append_value(v);
                }
                builder.append(true);
            }
        }
        let timestamps = |values: Vec<Option<i64>>| {
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")) as ArrayRef
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.resource_type.finish()),
            Arc::new(self.resource_id.finish()),
            Arc::new(self.title.finish()),
            Arc::new(sql_text.finish()),
            Arc::new(fingerprint.finish()),
            Arc::new(tables.finish()),
            Arc::new(written.finish()),
            Arc::new(columns.finish()),
            Arc::new(self.database.finish()),
            Arc::new(self.executed_by.finish()),
            timestamps(self.executed_at),
            Arc::new(Int64Array::from(self.execution_count)),
            Arc::new(self.dashboard_id.finish()),
            Arc::new(self.dashboard_title.finish()),
            Arc::new(self.dashboard_url.finish()),
            timestamps(self.created_at.into_iter().map(Some).collect()),
        ];
        RecordBatch::try_new(BI_QUERIES.file_schema(), columns).map_err(|source| LakeError::Arrow {
            table: BI_QUERIES.name().to_string(),
            source,
        })
    }
}

/// Appends one attempt to `sync_jobs` (partition: the attempt's logical
/// date and connector).
pub async fn record_sync_job(lake: &Lake, job: &SyncJob) -> Result<(), LakeError> {
    let key = [
        PartitionValue::Date(job.date),
        PartitionValue::Str(job.connector_id.clone()),
    ];
    let existing = read_partition(lake, &SYNC_JOBS, &key)
        .await?
        .unwrap_or_default();
    let mut started = ts_builder();
    started.append_value(job.started_at.timestamp_micros());
    let mut finished = ts_builder();
    finished.append_option(micros(job.finished_at));
    let string = |v: Option<&str>| {
        let mut b = StringBuilder::new();
        b.append_option(v);
        Arc::new(b.finish()) as ArrayRef
    };
    let report =
        (!job.report.is_empty()).then(|| serde_json::Value::Object(job.report.clone()).to_string());
    let row = RecordBatch::try_new(
        SYNC_JOBS.file_schema(),
        vec![
            string(Some(&job.id)),
            string(Some(job.kind.as_str())),
            string(Some(job.status.as_str())),
            Arc::new(started.finish()),
            Arc::new(finished.finish()),
            Arc::new(Int64Array::from(vec![job.rows_upserted])),
            string(job.error.as_deref()),
            string(report.as_deref()),
        ],
    )
    .map_err(|source| LakeError::Arrow {
        table: SYNC_JOBS.name().to_string(),
        source,
    })?;
    let merged = merge_dedup(&SYNC_JOBS, &existing, &[row])?;
    lake.write_partition(&SYNC_JOBS)
        .partition(key)
        .write(&[merged.batch])
        .await?;
    Ok(())
}

/// A collector's watermark for one kind of attempt, kept under
/// `_usagelake/checkpoints/<connector id>/<kind>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last logical date an attempt of this kind succeeded for.
    pub last_succeeded: Option<NaiveDate>,
    /// The collector's own state (a pg_stat_statements snapshot, a cursor).
    #[serde(default)]
    pub source: Option<serde_json::Value>,
}

fn checkpoint_path(lake: &Lake, connector_id: &str, kind: &str) -> object_store::path::Path {
    lake.meta_path(&format!("checkpoints/{connector_id}/{kind}.json"))
}

pub async fn read_checkpoint(
    lake: &Lake,
    connector_id: &str,
    kind: &str,
) -> Result<Checkpoint, LakeError> {
    let path = checkpoint_path(lake, connector_id, kind);
    let Some(bytes) = lake.read_meta(&path).await? else {
        return Ok(Checkpoint::default());
    };
    // A checkpoint that does not parse (hand-edited, from an older build)
    // means "start over", which re-collects and rewrites idempotently.
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

pub async fn write_checkpoint(
    lake: &Lake,
    connector_id: &str,
    kind: &str,
    checkpoint: &Checkpoint,
) -> Result<(), LakeError> {
    let path = checkpoint_path(lake, connector_id, kind);
    let body = serde_json::to_vec_pretty(checkpoint).expect("checkpoint serializes");
    lake.write_meta(&path, body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;
    use crate::sources::collect::ResourceType;

    fn connector() -> ConnectorConfig {
        let config = AppConfig::parse(
            "c.toml",
            "[[connectors]]\nid = \"5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22\"\nname = \"wh\"\ntype = \"postgres\"\nlog_dir = \"/x\"\n",
            &|_| None,
        )
        .unwrap();
        config.connector("wh").unwrap().clone()
    }

    #[test]
    fn distinct_literals_share_one_stored_text_and_the_memo_stays_bounded() {
        let day: NaiveDate = "2026-11-02".parse().unwrap();
        let mut pending = PendingRows::new(&connector(), day);
        let rows = 2 * RECENT_TEXTS + 7;
        for n in 0..rows {
            pending.push(&BiRow {
                sql: Some(format!("SELECT total FROM orders WHERE id = {n}")),
                executed_at: Some(day.and_hms_opt(9, 0, 0).unwrap().and_utc()),
                ..BiRow::new(ResourceType::QueryLog, n.to_string())
            });
        }
        assert_eq!(pending.len(), rows);
        assert_eq!(pending.stored.len(), 1, "one anonymized text");
        assert!(pending.recent[&SqlDialect::Postgres].len() <= RECENT_TEXTS);
        let slice = Slice {
            date: day,
            scope: RowScope::Executions,
        };
        let batch = pending
            .slices
            .remove(&slice)
            .unwrap()
            .finish(&pending.stored)
            .unwrap();
        assert_eq!(batch.num_rows(), rows);
        let text = batch.column_by_name("sql_text").unwrap().as_string::<i32>();
        assert_eq!(
            text.value(rows - 1),
            "SELECT total FROM orders WHERE id = ?"
        );
    }

    #[test]
    fn columns_a_system_reports_replace_the_analyzers_and_keep_the_text() {
        let day: NaiveDate = "2026-11-02".parse().unwrap();
        let mut pending = PendingRows::new(&connector(), day);
        let sql = "SELECT * FROM orders WHERE id = 5";
        pending.push(&BiRow {
            sql: Some(sql.into()),
            columns: vec![
                "shop.public.orders.total".into(),
                "shop.public.orders.id".into(),
            ],
            ..BiRow::new(ResourceType::SavedQuery, "a")
        });
        pending.push(&BiRow {
            sql: Some(sql.into()),
            ..BiRow::new(ResourceType::SavedQuery, "b")
        });
        let stored: Vec<&StoredSql> = pending.stored.iter().map(Arc::as_ref).collect();
        assert_eq!(stored.len(), 2);
        let [analyzed, given] = [stored[0], stored[1]];
        assert_eq!(given.sql_text, analyzed.sql_text);
        assert_eq!(given.tables, analyzed.tables);
        assert_eq!(
            given.columns,
            ["shop.public.orders.id", "shop.public.orders.total"]
        );
    }
}
