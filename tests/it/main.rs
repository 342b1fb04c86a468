//! Integration tests, linked once into one binary.

mod cli;
mod collect;
mod config;
mod duckdb;
mod http;
mod ingest;
mod lake;
mod metrics;
mod pg_server;
mod s3;
mod sql;
mod support;
mod ui;
