//! Integration tests, linked once into one binary.

mod cli;
mod config;
mod duckdb;
mod ingest;
mod lake;
mod metrics;
mod s3;
mod sql;
mod support;
