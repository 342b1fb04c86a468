//! Collectors: one module per outside system. Telemetry ingest (Segment) is
//! the first; BI scrapers and query-log miners plug in beside it.

pub mod event_store;
pub mod segment;
