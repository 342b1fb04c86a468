//! Arrow builders for the three telemetry tables.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use super::event::{Common, Row};
use crate::lake::tables::{self, TableContract, TableSpec};

/// Which telemetry table a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Telemetry {
    Pages,
    Tracks,
    Users,
}

impl Telemetry {
    pub fn spec(self) -> &'static TableSpec {
        match self {
            Self::Pages => &tables::PAGES,
            Self::Tracks => &tables::TRACKS,
            Self::Users => &tables::USERS,
        }
    }
}

fn ts_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// Column builders for one table's partition; columns in schema order.
pub struct TableBuilder {
    table: Telemetry,
    strings: Vec<StringBuilder>,
    times: Vec<TimestampMicrosecondBuilder>,
    rows: usize,
}

impl TableBuilder {
    pub fn new(table: Telemetry) -> Self {
        let (strings, times) = match table {
            Telemetry::Pages => (9, 2),
            Telemetry::Tracks => (6, 2),
            Telemetry::Users => (8, 2),
        };
        Self {
            table,
            strings: (0..strings).map(|_| StringBuilder::new()).collect(),
            times: (0..times).map(|_| ts_builder()).collect(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn push_common(&mut self, c: &Common<'_>) {
        self.strings[0].append_value(&c.message_id);
        self.strings[1].append_option(c.user_id.as_deref());
        self.strings[2].append_option(c.anonymous_id.as_deref());
        self.strings[3].append_option(c.customer_domain.as_deref());
    }

    pub fn push(&mut self, row: &Row<'_>) {
        self.rows += 1;
        match row {
            Row::Page {
                common,
                page_name,
                tab,
                asset_guid,
                connector_name,
                asset_type,
            } => {
                self.push_common(common);
                for (i, v) in [page_name, tab, asset_guid, connector_name, asset_type]
                    .into_iter()
                    .enumerate()
                {
                    self.strings[4 + i].append_option(v.as_deref());
                }
                self.times[0].append_value(common.timestamp);
                self.times[1].append_option(common.received_at);
            }
            Row::Track {
                common,
                event_name,
                properties,
            } => {
                self.push_common(common);
                self.strings[4].append_option(event_name.as_deref());
                self.strings[5].append_option(*properties);
                self.times[0].append_value(common.timestamp);
                self.times[1].append_option(common.received_at);
            }
            Row::Identify {
                message_id,
                user_id,
                email,
                username,
                role,
                license_type,
                job_role,
                customer_domain,
                created_at,
                received_at,
            } => {
                self.strings[0].append_value(message_id);
                self.strings[1].append_value(user_id);
                for (i, v) in [email, username, role, license_type, job_role]
                    .into_iter()
                    .enumerate()
                {
                    self.strings[2 + i].append_option(v.as_deref());
                }
                self.strings[7].append_option(customer_domain.as_deref());
                self.times[0].append_option(*created_at);
                self.times[1].append_value(*received_at);
            }
        }
    }

    pub fn finish(mut self) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = self
            .strings
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        columns.extend(
            self.times
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        RecordBatch::try_new(self.table.spec().file_schema(), columns)
            .expect("builders follow the table schema")
    }
}

impl Telemetry {
    pub fn of(row: &Row<'_>) -> Self {
        match row {
            Row::Page { .. } => Self::Pages,
            Row::Track { .. } => Self::Tracks,
            Row::Identify { .. } => Self::Users,
        }
    }

    /// Partition time of a row: UTC day of `timestamp` (pages, tracks) or
    /// of `received_at` (users: one identity snapshot per receipt).
    pub fn partition_micros(row: &Row<'_>) -> i64 {
        match row {
            Row::Page { common, .. } | Row::Track { common, .. } => common.timestamp,
            Row::Identify { received_at, .. } => *received_at,
        }
    }
}
