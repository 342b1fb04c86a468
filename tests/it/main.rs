//! Integration tests, linked once into one binary.

mod api;
mod cli;
mod config;
mod daemon;
mod duckdb;
mod ingest;
mod lake;
mod metrics;
mod pg_server;
mod s3;
mod sql;
mod support;
