//! The lake writer and table registration.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use usagelake::lake::tables::{self, PartitionType, TableSpec};
use usagelake::lake::{PartitionValue, TableContract, read_partition};

use crate::support::{files_under, sql, temp_lake};

/// A batch of `rows` rows for any catalog schema, with values derived from the row number.
fn sample_batch(spec: &TableSpec, rows: usize, salt: &str) -> RecordBatch {
    let schema = spec.file_schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.data_type() {
                DataType::Utf8 => Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{}-{salt}-{i}", f.name())),
                )),
                DataType::Int64 => Arc::new(Int64Array::from_iter_values(
                    (0..rows as i64).map(|i| i * 7),
                )),
                DataType::Float64 => Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|i| i as f64 / 4.0),
                )),
                DataType::Boolean => {
                    Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0))))
                }
                DataType::Timestamp(_, _) => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        (0..rows as i64).map(|i| 1_763_856_000_000_000 + i * 1_000_000),
                    )
                    .with_timezone("UTC"),
                ),
                DataType::List(_) => {
                    let mut b = ListBuilder::new(StringBuilder::new());
                    for i in 0..rows {
                        b.values().append_value(format!("t{i}"));
                        b.values().append_value("u");
                        b.append(true);
                    }
                    Arc::new(b.finish())
                }
                other => panic!("sample_batch: add {other}"),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

fn partition_for(spec: &TableSpec) -> Vec<PartitionValue> {
    spec.partition_keys
        .iter()
        .map(|(_, kind)| match kind {
            PartitionType::Date => {
                PartitionValue::Date(NaiveDate::from_ymd_opt(2025, 11, 23).unwrap())
            }
            PartitionType::Utf8 => PartitionValue::Str("c-1.x".into()),
        })
        .collect()
}

#[tokio::test]
async fn every_table_round_trips_and_rewrites_leave_one_object() {
    let (dir, lake) = temp_lake();
    for spec in tables::ALL {
        let key = partition_for(spec);
        let first = sample_batch(spec, 3, "a");
        lake.write_partition(*spec)
            .partition(key.clone())
            .write(&[first])
            .await
            .unwrap();
        let second = sample_batch(spec, 2, "b");
        let report = lake
            .write_partition(*spec)
            .partition(key.clone())
            .write(std::slice::from_ref(&second))
            .await
            .unwrap();
        assert_eq!(report.rows, 2);
        let back = read_partition(&lake, *spec, &key).await.unwrap().unwrap();
        assert_eq!(back, vec![second], "{} round trip", spec.name);
        // DataFusion sees the rewritten rows, with typed partition columns.
        let count = sql(&lake, &format!("SELECT count(*) AS n FROM {}", spec.name)).await;
        assert!(count.contains("| 2 |"), "{}: {count}", spec.name);
    }
    let files = files_under(&dir.path().join("lake/tables"));
    assert_eq!(
        files.len(),
        tables::ALL.len(),
        "one object per partition: {files:?}"
    );
    for f in &files {
        assert!(f.ends_with("/data.parquet"), "{f}");
        assert!(f.split('/').count() >= 3, "no file at a table root: {f}");
    }
    assert!(
        files.contains(&"bi_queries/date=2025-11-23/connector_id=c-1.x/data.parquet".to_string())
    );
    let typed = sql(
        &lake,
        "SELECT arrow_typeof(date) AS t, arrow_typeof(connector_id) AS c FROM bi_queries LIMIT 1",
    )
    .await;
    assert!(typed.contains("Date32"), "{typed}");
    assert!(typed.contains("Utf8"), "{typed}");
}

#[tokio::test]
async fn wrong_partition_or_schema_is_refused() {
    let (_dir, lake) = temp_lake();
    let err = lake
        .write_partition(&tables::PAGES)
        .partition([PartitionValue::Str("x".into())])
        .write(&[])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table pages: partition x does not match the table's partition keys [\"date\"]"
    );
    let err = lake
        .write_partition(&tables::QUARANTINE)
        .partition([
            PartitionValue::Date(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()),
            PartitionValue::Str("a/b".into()),
        ])
        .write(&[])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table quarantine: partition value \"a/b\" for key source may hold only letters, digits, '.', '_', '-' and '@'"
    );
    let err = lake
        .write_partition(&tables::PAGES)
        .partition(partition_for(&tables::PAGES))
        .write(&[sample_batch(&tables::TRACKS, 1, "x")])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("table pages: batch schema does not match the table contract"),
        "{err}"
    );
}

#[tokio::test]
async fn empty_tables_are_queryable() {
    let (_dir, lake) = temp_lake();
    let out = sql(&lake, "SELECT count(*) AS n FROM pages").await;
    assert!(out.contains("| 0 |"), "{out}");
}

#[tokio::test]
async fn stale_local_staging_files_are_removed_and_never_read() {
    let (dir, lake) = temp_lake();
    let key = partition_for(&tables::PAGES);
    lake.write_partition(&tables::PAGES)
        .partition(key.clone())
        .write(&[sample_batch(&tables::PAGES, 1, "a")])
        .await
        .unwrap();
    let folder = dir.path().join("lake/tables/pages/date=2025-11-23");
    // What a writer killed mid-put leaves behind.
    std::fs::write(folder.join("data.parquet#1"), b"partial garbage").unwrap();
    let out = sql(&lake, "SELECT count(*) AS n FROM pages").await;
    assert!(out.contains("| 1 |"), "{out}");
    lake.write_partition(&tables::PAGES)
        .partition(key)
        .write(&[sample_batch(&tables::PAGES, 2, "b")])
        .await
        .unwrap();
    assert_eq!(files_under(&folder), vec!["data.parquet".to_string()]);
}

#[tokio::test]
async fn a_query_over_a_damaged_file_names_the_file_and_the_repair() {
    let (dir, lake) = temp_lake();
    for (day, salt) in [(22, "a"), (23, "b")] {
        lake.write_partition(&tables::PAGES)
            .partition(vec![PartitionValue::Date(
                NaiveDate::from_ymd_opt(2025, 11, day).unwrap(),
            )])
            .write(&[sample_batch(&tables::PAGES, 2, salt)])
            .await
            .unwrap();
    }
    let damaged = dir
        .path()
        .join("lake/tables/pages/date=2025-11-23/data.parquet");
    std::fs::write(&damaged, b"not parquet").unwrap();
    let expect = |err: String| {
        assert!(
            err.starts_with(
                "damaged Parquet file in the lake: tables/pages/date=2025-11-23/data.parquet \
                 (Parquet error: Invalid Parquet file. Corrupt footer); \
                 restore it from a backup, or delete it and re-run the job that writes that partition\n\
                 caused by\n"
            ),
            "{err}"
        );
    };
    let err = usagelake::query::run_sql(&lake, "SELECT count(*) AS n FROM pages")
        .await
        .unwrap_err()
        .to_string();
    expect(err.trim_start_matches("datafusion: ").to_string());
    // Through a view (a derive step's views): the scan sits in the view's own plan.
    let ctx = usagelake::lake::session_for(&lake).unwrap();
    let recent = ctx
        .sql("SELECT * FROM pages WHERE date > DATE '2025-11-01'")
        .await
        .unwrap()
        .into_view();
    ctx.register_table("recent_pages", recent).unwrap();
    let frame = ctx.sql("SELECT count(*) FROM recent_pages").await.unwrap();
    let err = usagelake::lake::collect_naming_damage(frame)
        .await
        .unwrap_err();
    expect(err.to_string());
    // A healthy table next to it still reads.
    assert!(
        sql(&lake, "SELECT count(*) AS n FROM tracks")
            .await
            .contains("| 0 |")
    );
}

/// A derive that reuses a damaged per-day partition fails, and says which.
#[tokio::test]
async fn a_derive_reading_a_damaged_per_day_partition_names_it() {
    use usagelake::config::{FileSelection, Params};
    use usagelake::metrics::{DeriveRequest, MetricParams, derive};
    use usagelake::sources::segment::{IngestRequest, ingest};
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    let lines: Vec<String> = ["2026-03-01", "2026-03-02", "2026-03-03"]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            crate::support::page(
                &format!("p{i}"),
                "u1",
                "a.example",
                "discovery",
                &format!("{d}T10:00:00Z"),
            )
        })
        .collect();
    crate::support::write_events(&events, "a.json", &lines);
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    ingest(
        &lake,
        &IngestRequest {
            source: events.display().to_string(),
            selection: FileSelection::All,
            date: as_of,
            s3: crate::support::s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
    let request = DeriveRequest {
        params: MetricParams::from_params(&Params::default(), as_of).unwrap(),
        sql_dir: None,
        metrics: None,
        force: false,
    };
    derive(&lake, &request).await.unwrap();
    std::fs::write(
        dir.path()
            .join("lake/tables/user_day/date=2026-03-02/data.parquet"),
        b"not parquet",
    )
    .unwrap();
    let err = derive(&lake, &request).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "damaged Parquet file in the lake: tables/user_day/date=2026-03-02/data.parquet \
             (Parquet error: Invalid Parquet file. Corrupt footer)"
        ),
        "{err}"
    );
}
