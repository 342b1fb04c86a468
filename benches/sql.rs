//! `cargo bench --bench sql`: the full SQL pipeline (anonymize, fingerprint,
//! tables, columns) over the test corpus, single-threaded: TPC-H, TPC-DS
//! and every file of tests/data/sql. `bench/sql.py` runs this and the
//! same corpus through sqlglot side by side.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use usagelake::sql::{SqlDialect, analyze};

/// The queries of the corpus files whose names start with `prefix` (all
/// of tests/data/sql/*.jsonl for ""), in file-name order.
fn corpus(prefix: &str) -> Vec<(SqlDialect, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sql");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "jsonl")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("corpus file")
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("corpus line");
                    let dialect = serde_json::from_value(v["dialect"].clone()).expect("dialect");
                    (dialect, v["sql"].as_str().expect("sql").to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn run(queries: &[(SqlDialect, String)]) -> usize {
    queries
        .iter()
        .map(|(dialect, sql)| black_box(analyze(sql, *dialect)).len())
        .sum()
}

/// A plain wall-clock figure next to criterion's, in the unit the issue
/// names (queries per second), for bench/sql.py to read.
fn print_rate(name: &str, queries: &[(SqlDialect, String)]) {
    run(queries);
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed().as_secs_f64() < 2.0 {
        run(queries);
        rounds += 1;
    }
    let rate = (rounds * queries.len()) as f64 / started.elapsed().as_secs_f64();
    println!(
        "RATE {name} {rate:.0} queries/s ({} queries)",
        queries.len()
    );
}

fn bench(c: &mut Criterion) {
    let tpch = corpus("tpch.");
    let tpcds = corpus("tpcds.");
    let all = corpus("");
    print_rate("tpch", &tpch);
    print_rate("tpcds", &tpcds);
    print_rate("corpus", &all);
    let mut group = c.benchmark_group("sql_pipeline");
    for (name, queries) in [("tpch", &tpch), ("tpcds", &tpcds), ("corpus", &all)] {
        group.throughput(Throughput::Elements(queries.len() as u64));
        group.bench_function(name, |b| b.iter(|| run(queries)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
