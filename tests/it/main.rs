//! Integration tests, linked once into one binary.

mod api;
#[cfg(feature = "distributed")]
mod ballista;
mod bigquery;
mod cli;
mod collect;
mod config;
mod daemon;
mod duckdb;
mod event_store;
mod http;
mod ingest;
mod lake;
mod looker;
mod metabase;
mod metrics;
mod pg_mine;
mod pg_server;
mod pg_tls;
mod power_bi;
mod s3;
mod snowflake;
mod sql;
mod superset;
mod support;
mod tableau;
mod ui;
mod usage;
