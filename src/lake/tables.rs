//! The table catalog: names, Arrow schemas and partition keys are the public
//! contract other engines read (README "Tables" documents each column).

use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Type of a Hive partition key as DataFusion registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    Date,
    Utf8,
}

impl PartitionType {
    pub fn data_type(self) -> DataType {
        match self {
            Self::Date => DataType::Date32,
            Self::Utf8 => DataType::Utf8,
        }
    }
}

/// A value of one partition key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionValue {
    Date(NaiveDate),
    Str(String),
}

impl PartitionValue {
    /// The folder-name form of the value. Strings are restricted to a safe
    /// set (see [`PartitionValue::is_safe`]) so every engine reads the same
    /// value back: Hive escaping is not applied alike by all of them.
    pub fn to_path_segment(&self) -> String {
        match self {
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Str(s) => s.clone(),
        }
    }

    pub fn is_safe(&self) -> bool {
        match self {
            Self::Date(_) => true,
            Self::Str(s) => {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@')
                    })
            }
        }
    }

    fn kind(&self) -> PartitionType {
        match self {
            Self::Date(_) => PartitionType::Date,
            Self::Str(_) => PartitionType::Utf8,
        }
    }
}

impl std::fmt::Display for PartitionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_path_segment())
    }
}

/// One table of the lake.
pub struct TableSpec {
    pub name: &'static str,
    /// Columns stored inside the Parquet files (partition keys excluded).
    schema: LazyLock<SchemaRef>,
    pub partition_keys: &'static [(&'static str, PartitionType)],
    /// Columns whose values identify a row; rewrites of a partition keep the
    /// first row per key (rows already in the lake win).
    pub dedup_key: &'static [&'static str],
    /// Row order inside a partition (for tight statistics and stable output).
    pub sort_key: &'static [&'static str],
    pub description: &'static str,
}

impl std::fmt::Debug for TableSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// What a writer and a reader need to know of a table: the static catalog
/// tables and the derived (metric) tables declared by SQL files alike.
pub trait TableContract: Send + Sync {
    fn name(&self) -> &str;
    /// Columns stored inside the Parquet files (partition keys excluded).
    fn file_schema(&self) -> SchemaRef;
    fn partition_keys(&self) -> &[(&'static str, PartitionType)];

    /// Validates partition values against the keys and returns `k=v/...`.
    fn partition_path(&self, values: &[PartitionValue]) -> Option<String> {
        let keys = self.partition_keys();
        if values.len() != keys.len() {
            return None;
        }
        let mut out = String::new();
        for ((key, kind), value) in keys.iter().zip(values) {
            if *kind != value.kind() {
                return None;
            }
            out.push_str(key);
            out.push('=');
            out.push_str(&value.to_path_segment());
            out.push('/');
        }
        Some(out)
    }

    fn root(&self) -> String {
        format!("tables/{}/", self.name())
    }
}

impl TableContract for TableSpec {
    fn name(&self) -> &str {
        self.name
    }

    fn file_schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partition_keys(&self) -> &[(&'static str, PartitionType)] {
        self.partition_keys
    }
}

/// A table whose schema is known only at run time (metric and intermediate
/// tables declared by SQL files).
#[derive(Debug, Clone)]
pub struct DerivedTable {
    pub name: String,
    pub schema: SchemaRef,
    pub partition_keys: Vec<(&'static str, PartitionType)>,
}

impl TableContract for DerivedTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn file_schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partition_keys(&self) -> &[(&'static str, PartitionType)] {
        &self.partition_keys
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn list_of_utf8(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )
}

const BY_DATE: &[(&str, PartitionType)] = &[("date", PartitionType::Date)];

pub static PAGES: TableSpec = TableSpec {
    name: "pages",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("message_id", false),
            utf8("user_id", true),
            utf8("anonymous_id", true),
            utf8("customer_domain", true),
            utf8("page_name", true),
            utf8("tab", true),
            utf8("asset_guid", true),
            utf8("connector_name", true),
            utf8("asset_type", true),
            Field::new("timestamp", ts(), false),
            Field::new("received_at", ts(), true),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["message_id"],
    sort_key: &["timestamp", "message_id"],
    description: "Segment page calls: one row per page view (partition: UTC day of timestamp)",
};

pub static TRACKS: TableSpec = TableSpec {
    name: "tracks",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("message_id", false),
            utf8("user_id", true),
            utf8("anonymous_id", true),
            utf8("customer_domain", true),
            utf8("event_name", true),
            utf8("properties", true),
            Field::new("timestamp", ts(), false),
            Field::new("received_at", ts(), true),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["message_id"],
    sort_key: &["timestamp", "message_id"],
    description: "Segment track calls: one row per user action (partition: UTC day of timestamp)",
};

pub static USERS: TableSpec = TableSpec {
    name: "users",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("message_id", false),
            utf8("user_id", false),
            utf8("email", true),
            utf8("username", true),
            utf8("role", true),
            utf8("license_type", true),
            utf8("job_role", true),
            utf8("customer_domain", true),
            Field::new("created_at", ts(), true),
            Field::new("received_at", ts(), false),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["message_id"],
    sort_key: &["received_at", "message_id"],
    description: "Segment identify calls: one identity snapshot per call (partition: UTC day of received_at)",
};

pub static QUARANTINE: TableSpec = TableSpec {
    name: "quarantine",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("input", false),
            Field::new("line", DataType::Int64, false),
            utf8("reason", false),
            utf8("raw", false),
            Field::new("quarantined_at", ts(), false),
        ]))
    }),
    partition_keys: &[
        ("date", PartitionType::Date),
        ("source", PartitionType::Utf8),
    ],
    dedup_key: &["input", "line"],
    sort_key: &["input", "line"],
    description: "Input that could not be used, with the reason and the raw record (partition: run date, source kind)",
};

pub static BI_QUERIES: TableSpec = TableSpec {
    name: "bi_queries",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("id", false),
            utf8("resource_type", false),
            utf8("resource_id", false),
            utf8("title", true),
            utf8("sql_text", true),
            utf8("query_fingerprint", true),
            list_of_utf8("referenced_tables"),
            list_of_utf8("written_tables"),
            list_of_utf8("referenced_columns"),
            utf8("database", true),
            utf8("executed_by", true),
            Field::new("executed_at", ts(), true),
            Field::new("execution_count", DataType::Int64, false),
            utf8("dashboard_id", true),
            utf8("dashboard_title", true),
            utf8("dashboard_url", true),
            Field::new("created_at", ts(), false),
        ]))
    }),
    partition_keys: &[
        ("date", PartitionType::Date),
        ("connector_id", PartitionType::Utf8),
    ],
    dedup_key: &["id"],
    // `id` last: one total order, and equal ids meet when sorted runs of a
    // big partition are merged (src/lake/runs.rs).
    sort_key: &["resource_type", "resource_id", "id"],
    description: "Saved queries, charts and query-log entries from BI tools and warehouses (SQL anonymized)",
};

pub static SYNC_JOBS: TableSpec = TableSpec {
    name: "sync_jobs",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("id", false),
            utf8("kind", false),
            utf8("status", false),
            Field::new("started_at", ts(), false),
            Field::new("finished_at", ts(), true),
            Field::new("rows_upserted", DataType::Int64, false),
            utf8("error", true),
            utf8("report", true),
        ]))
    }),
    partition_keys: &[
        ("date", PartitionType::Date),
        ("connector_id", PartitionType::Utf8),
    ],
    dedup_key: &["id"],
    sort_key: &["started_at"],
    description: "One row per connector run",
};

pub static PRODUCT_USAGE_STATS: TableSpec = TableSpec {
    name: "product_usage_stats",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("product_id", false),
            Field::new("query_count_30d", DataType::Int64, false),
            Field::new("unique_users_30d", DataType::Int64, false),
            Field::new("last_queried_at", ts(), true),
            Field::new("popularity_score", DataType::Float64, false),
            list_of_utf8("top_columns"),
            Field::new("updated_at", ts(), false),
        ]))
    }),
    partition_keys: &[
        ("as_of", PartitionType::Date),
        ("space_id", PartitionType::Utf8),
    ],
    dedup_key: &["product_id"],
    sort_key: &["product_id"],
    description: "Usage statistics per data product of a space, one snapshot per as-of date",
};

pub static TABLE_USAGE_STATS: TableSpec = TableSpec {
    name: "table_usage_stats",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("level", false),
            utf8("name", false),
            Field::new("query_count_30d", DataType::Int64, false),
            Field::new("unique_users_30d", DataType::Int64, false),
            Field::new("last_queried_at", ts(), true),
            list_of_utf8("product_ids"),
            Field::new("updated_at", ts(), false),
        ]))
    }),
    partition_keys: &[
        ("as_of", PartitionType::Date),
        ("space_id", PartitionType::Utf8),
    ],
    dedup_key: &["level", "name"],
    sort_key: &["level", "name"],
    description: "Usage per table, schema and database referenced (with the space's products each belongs to), one snapshot per as-of date",
};

/// Every table usagelake writes, in catalog order.
pub static ALL: &[&TableSpec] = &[
    &PAGES,
    &TRACKS,
    &USERS,
    &QUARANTINE,
    &BI_QUERIES,
    &SYNC_JOBS,
    &PRODUCT_USAGE_STATS,
    &TABLE_USAGE_STATS,
    &PLATFORM_EVENTS,
    &PLATFORM_ERRORS,
    &PLATFORM_USERS,
];

pub fn by_name(name: &str) -> Option<&'static TableSpec> {
    ALL.iter().copied().find(|t| t.name == name)
}

pub static PLATFORM_EVENTS: TableSpec = TableSpec {
    name: "platform_events",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("event_id", false),
            utf8("event_type", true),
            utf8("source", true),
            utf8("friendly_name", true),
            utf8("user_login", true),
            utf8("session_id", true),
            utf8("package", false),
            Field::new("duration_ms", DataType::Float64, true),
            Field::new("is_error", DataType::Boolean, false),
            utf8("parameters", true),
            Field::new("event_time", ts(), false),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["event_id"],
    sort_key: &["event_time", "event_id"],
    description: "Platform event-store events with user, package and duration resolved (partition: UTC day of event_time)",
};

pub static PLATFORM_ERRORS: TableSpec = TableSpec {
    name: "platform_errors",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("event_id", false),
            utf8("user_login", true),
            utf8("session_id", true),
            utf8("package", false),
            utf8("error_message", true),
            utf8("signature", true),
            Field::new("event_time", ts(), false),
            utf8("preceding_event_type", true),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["event_id"],
    sort_key: &["event_time", "event_id"],
    description: "Platform event-store errors with their signature and the session's preceding event (partition: UTC day of event_time)",
};

pub static PLATFORM_USERS: TableSpec = TableSpec {
    name: "platform_users",
    schema: LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            utf8("login", false),
            utf8("friendly_name", true),
            Field::new("joined", ts(), true),
            list_of_utf8("groups"),
        ]))
    }),
    partition_keys: BY_DATE,
    dedup_key: &["login"],
    sort_key: &["login"],
    description: "Platform event-store users with every group they belong to, directly or through nested groups (partition: UTC day of the collection; the latest is current)",
};
