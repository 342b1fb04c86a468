//! Collectors: one module per outside system. Telemetry ingest (Segment)
//! reads files; BI scrapers and query-log miners implement
//! [`collect::Collector`] and hand their rows to the one writer in
//! [`bi_queries`], over the one HTTP client in [`http`].

pub mod bi_queries;
pub mod bigquery;
pub mod collect;
pub mod event_store;
pub mod http;
pub mod looker;
pub mod metabase;
pub mod postgres;
pub mod power_bi;
pub mod segment;
pub mod snowflake;
pub mod superset;
pub mod tableau;

use crate::config::{ConnectorConfig, ConnectorKind};
use collect::{CollectError, Collector};

/// The collector for a connector's type. Each type's folder plugs in here.
pub fn build_collector(connector: &ConnectorConfig) -> Result<Box<dyn Collector>, CollectError> {
    match connector.kind {
        ConnectorKind::Superset => Ok(Box::new(superset::SupersetCollector::new(connector)?)),
        ConnectorKind::Metabase => Ok(Box::new(metabase::MetabaseCollector::new(connector)?)),
        ConnectorKind::Looker => Ok(Box::new(looker::LookerCollector::new(connector)?)),
        ConnectorKind::Tableau => Ok(Box::new(tableau::TableauCollector::new(connector)?)),
        ConnectorKind::PowerBi => Ok(Box::new(power_bi::PowerBiCollector::new(connector)?)),
        ConnectorKind::Postgres => Ok(postgres::build(connector)),
        ConnectorKind::Snowflake => snowflake::build(connector),
        ConnectorKind::Bigquery => bigquery::build(connector),
        _ => Err(CollectError::NotBuilt {
            connector: connector.name.clone(),
            kind: connector.kind.as_str(),
        }),
    }
}
