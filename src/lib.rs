//! usagelake: a file-based usage lakehouse.
//!
//! Data flows one way: `sources` collect raw usage into the `lake`, derive jobs
//! turn lake tables into metric tables, `usage` turns
//! collected queries into usage per data product, and every table is Hive-partitioned
//! Parquet that other engines read without help. The `runner` executes job
//! definitions from `config` for logical dates and keeps a run ledger.

pub mod api;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub mod lake;
pub mod metrics;
pub mod platform;
pub mod query;
pub mod runner;
pub mod sources;
pub mod sql;
pub mod ui;
pub mod usage;
