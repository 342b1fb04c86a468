//! The one writer of `bi_queries` and `sync_jobs`, and the collectors'
//! checkpoints. Every collector's rows come through here: SQL is
//! anonymized and analyzed once, in one place, and the raw text goes no
//! further than this module.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
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

/// A row on its way to the lake: the collector's row (its raw SQL is not
/// written) with the shared analysis of its text.
struct StoredRow<'a> {
    id: String,
    row: &'a BiRow,
    analysis: Option<Arc<TextAnalysis>>,
    /// The system's own table list when it gave one, else the analysis's.
    tables: Option<Vec<String>>,
}

/// Analyses by (dialect, raw text): logs repeat the same texts many times
/// (a dashboard's queries, a job's statements), so each is analyzed once
/// and its strings are shared by the rows that have it.
type AnalysisCache<'a> = HashMap<(SqlDialect, &'a str), Option<Arc<TextAnalysis>>>;

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

/// The id of a row: stable for the same object or execution.
pub fn row_id(connector_id: &str, row: &BiRow) -> String {
    let key = format!(
        "{connector_id}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        row.resource_type.as_str(),
        row.resource_id,
        row.dashboard_id.as_deref().unwrap_or(""),
        row.executed_at.map(|t| t.timestamp_micros()).unwrap_or(0),
    );
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
    let connector_id = connector.id_string();
    let default_dialect = connector_dialect(connector);
    let declared: BTreeSet<Slice> = collected.slices.iter().copied().collect();
    let mut by_date: BTreeMap<NaiveDate, Vec<StoredRow<'_>>> = BTreeMap::new();
    let mut cache = AnalysisCache::new();
    let mut report = CommitReport::default();
    for row in &collected.rows {
        let scope = row.resource_type.scope();
        let date = match scope {
            RowScope::Definitions => snapshot_date,
            RowScope::Executions => match row.executed_at {
                Some(at) => at.date_naive(),
                None => snapshot_date,
            },
        };
        if !declared.contains(&Slice { date, scope }) {
            report.rows_outside_slices += 1;
            continue;
        }
        by_date.entry(date).or_default().push(store_row(
            &connector_id,
            row,
            default_dialect,
            &mut cache,
        ));
    }
    let dates: BTreeSet<NaiveDate> = declared.iter().map(|s| s.date).collect();
    for date in dates {
        let replaced: Vec<RowScope> = declared
            .iter()
            .filter(|s| s.date == date)
            .map(|s| s.scope)
            .collect();
        let rows = by_date.remove(&date).unwrap_or_default();
        let key = [
            PartitionValue::Date(date),
            PartitionValue::Str(connector_id.clone()),
        ];
        let existing = read_partition(lake, &BI_QUERIES, &key)
            .await?
            .unwrap_or_default();
        let kept = keep_other_scopes(&existing, &replaced)?;
        let incoming = rows_to_batch(&rows)?;
        report.rows_upserted += rows.len() as u64;
        let merged = merge_dedup(&BI_QUERIES, &kept, &[incoming])?;
        lake.write_partition(&BI_QUERIES)
            .partition(key)
            .write(&[merged.batch])
            .await?;
        report.partitions += 1;
    }
    Ok(report)
}

fn store_row<'a>(
    connector_id: &str,
    row: &'a BiRow,
    dialect: SqlDialect,
    cache: &mut AnalysisCache<'a>,
) -> StoredRow<'a> {
    let analysis = row.sql.as_deref().and_then(|text| {
        let dialect = row.dialect.unwrap_or(dialect);
        cache
            .entry((dialect, text))
            .or_insert_with(|| analyze_text(text, dialect).map(Arc::new))
            .clone()
    });
    let tables = (!row.tables.is_empty()).then(|| {
        let mut tables = row.tables.clone();
        tables.sort();
        tables.dedup();
        tables
    });
    StoredRow {
        id: row_id(connector_id, row),
        row,
        analysis,
        tables,
    }
}

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

fn rows_to_batch(rows: &[StoredRow]) -> Result<RecordBatch, LakeError> {
    let mut id = StringBuilder::new();
    let mut resource_type = StringBuilder::new();
    let mut resource_id = StringBuilder::new();
    let mut title = StringBuilder::new();
    let mut sql_text = StringBuilder::new();
    let mut fingerprint = StringBuilder::new();
    let mut tables = ListBuilder::new(StringBuilder::new());
    let mut written = ListBuilder::new(StringBuilder::new());
    let mut columns = ListBuilder::new(StringBuilder::new());
    let mut database = StringBuilder::new();
    let mut executed_by = StringBuilder::new();
    let mut executed_at = ts_builder();
    let mut execution_count = Int64Builder::new();
    let mut dashboard_id = StringBuilder::new();
    let mut dashboard_title = StringBuilder::new();
    let mut dashboard_url = StringBuilder::new();
    let mut created_at = ts_builder();
    let now = Utc::now();
    for stored in rows {
        let row = stored.row;
        let analysis = stored.analysis.as_deref();
        id.append_value(&stored.id);
        resource_type.append_value(row.resource_type.as_str());
        resource_id.append_value(&row.resource_id);
        title.append_option(row.title.as_deref());
        sql_text.append_option(analysis.map(|a| a.sql_text.as_str()));
        fingerprint.append_option(analysis.map(|a| a.fingerprint.as_str()));
        let none: &[String] = &[];
        let read = match (&stored.tables, analysis) {
            (Some(given), _) => given.as_slice(),
            (None, Some(a)) => a.tables.as_slice(),
            (None, None) => none,
        };
        for (builder, values) in [
            (&mut tables, read),
            (
                &mut written,
                analysis.map_or(none, |a| a.written_tables.as_slice()),
            ),
            (
                &mut columns,
                analysis.map_or(none, |a| a.columns.as_slice()),
            ),
        ] {
            for v in values {
                builder.values().append_value(v);
            }
            builder.append(true);
        }
        database.append_option(row.database.as_deref());
        executed_by.append_option(row.executed_by.as_deref());
        executed_at.append_option(micros(row.executed_at));
        execution_count.append_value(row.execution_count);
        dashboard_id.append_option(row.dashboard_id.as_deref());
        dashboard_title.append_option(row.dashboard_title.as_deref());
        dashboard_url.append_option(row.dashboard_url.as_deref());
        created_at.append_value(row.created_at.unwrap_or(now).timestamp_micros());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(resource_type.finish()),
        Arc::new(resource_id.finish()),
        Arc::new(title.finish()),
        Arc::new(sql_text.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(tables.finish()),
        Arc::new(written.finish()),
        Arc::new(columns.finish()),
        Arc::new(database.finish()),
        Arc::new(executed_by.finish()),
        Arc::new(executed_at.finish()),
        Arc::new(execution_count.finish()),
        Arc::new(dashboard_id.finish()),
        Arc::new(dashboard_title.finish()),
        Arc::new(dashboard_url.finish()),
        Arc::new(created_at.finish()),
    ];
    RecordBatch::try_new(BI_QUERIES.file_schema(), columns).map_err(|source| LakeError::Arrow {
        table: BI_QUERIES.name().to_string(),
        source,
    })
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
            Arc::new(datafusion::arrow::array::Int64Array::from(vec![
                job.rows_upserted,
            ])),
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
