//! The `usagelake` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use usagelake::config::{self, ConfigErrors, Loaded, parse_set};
use usagelake::daemon::{self, ServeOptions, logging::LogFormat};
use usagelake::demo;
use usagelake::demo::generator::GeneratorOptions;
use usagelake::engine::{self, Engine};
use usagelake::lake::{Lake, LakeLocation};
use usagelake::query::{self, OutputFormat};
use usagelake::runner::{self, Ledger, RunOptions};
use usagelake::sources::segment::{self, IngestRequest};
use usagelake::usage;

#[derive(Parser)]
#[command(
    name = "usagelake",
    version,
    about = "Usage analytics on a file-based lakehouse"
)]
struct Cli {
    /// Configuration file [default: config/usagelake.toml when present, else built-in defaults]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Lake URL (local path, file:///abs/path or s3://bucket/prefix); overrides lake.url
    #[arg(long, global = true)]
    lake: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration and every job without touching the lake or the network
    Validate,
    /// Run the jobs on their schedules and serve the HTTP API until SIGTERM
    Serve {
        /// host:port of the HTTP API [default: [server] listen, 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Run a job for one logical date
    Run {
        job: String,
        /// Logical date [default: yesterday in the configured timezone]
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Override a job parameter for this run (repeatable): --set key=value
        #[arg(long = "set", value_parser = parse_set)]
        overrides: Vec<(String, toml::Value)>,
        /// Derive every local day's per-day tables again instead of reusing unchanged ones
        #[arg(long)]
        force: bool,
        /// Where derive steps run: local, ballista ([engine] scheduler), df://HOST:PORT or
        /// standalone (an in-process cluster) [default: [engine]]
        #[arg(long)]
        engine: Option<String>,
    },
    /// Run a job for every date in a range; resumes where an interrupted backfill stopped
    Backfill {
        job: String,
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
        /// Re-run dates the ledger marks done (and derive the per-day tables again, once)
        #[arg(long)]
        force: bool,
        /// Stop at the first failing date
        #[arg(long)]
        fail_fast: bool,
        #[arg(long = "set", value_parser = parse_set)]
        overrides: Vec<(String, toml::Value)>,
        /// Where derive steps run (as for `run`) [default: [engine]]
        #[arg(long)]
        engine: Option<String>,
    },
    /// Ingest every Segment file under SOURCE now (no job, no date selection)
    Ingest {
        source: String,
        /// Date of the quarantine partition [default: today, UTC]
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Run SQL over the lake's tables
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// List tables with partitions, rows and sizes
    Tables {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Scrape a BI connector now (a snapshot of its saved queries, charts and
    /// dashboards); prints the sync job as JSON, exit 1 when it failed
    Sync {
        /// The connector's name or id
        connector: String,
        /// Snapshot date [default: today, UTC]
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Mine a warehouse's query log now; prints {"rows_upserted": N, "dates": […]}
    Mine {
        /// The connector's name or id
        connector: String,
        /// The UTC day to mine [default: every day after the last complete one, through today]
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Collect an event-store connector now (everything new since its
    /// watermark); prints {"rows_upserted": N, "sync_job": …, "report": …},
    /// exit 1 when it failed
    Collect {
        /// The connector's name or id
        connector: String,
        /// Re-read exactly this UTC day (its partitions become what the store holds)
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Recompute product_usage_stats and table_usage_stats of a space; prints {"products_updated": N}
    Aggregate {
        /// The space's slug
        space: String,
        /// As-of date [default: today, UTC]
        #[arg(long)]
        date: Option<NaiveDate>,
        /// A folder of .sql files that replace or add to the shipped usage files
        #[arg(long)]
        sql_dir: Option<PathBuf>,
    },
    /// Products of a space with no reference in the last N days (unused, or unknown when a connector missed a day)
    Unused {
        space: String,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Last day of the window [default: today, UTC]
        #[arg(long)]
        date: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        format: usage::ReportFormat,
    },
    /// The most run query patterns per product of a space over its window
    Popular {
        space: String,
        /// Only this product (name or id)
        #[arg(long)]
        product: Option<String>,
        /// Last day of the window [default: today, UTC]
        #[arg(long)]
        date: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        format: usage::ReportFormat,
    },
    /// Show the run ledger's most recent attempts
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// The metric tables the `derive` step writes
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// Anonymize SQL and extract the tables and columns it references
    Sql {
        #[command(subcommand)]
        command: SqlCommand,
    },
    /// Serve the Usage Analysis page (/ui/) and its data API (/api/ui/…) over the lake
    Ui {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Write the Usage Analysis page as one self-contained HTML file with the data embedded
    Report {
        /// The HTML file to write
        #[arg(long)]
        out: PathBuf,
        /// As-of date of the metric tables [default: the newest the metrics job wrote]
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// A node of an Apache Ballista cluster that runs derive steps (builds with
    /// --features distributed); every node reads the lake of --lake / [lake]
    Ballista {
        #[command(subcommand)]
        command: BallistaCommand,
    },
    /// Generate a synthetic Segment dataset and run the daily job over it into the lake
    Demo {
        /// Folder for the generated event files
        #[arg(long, default_value = "./demo-data")]
        data: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        #[arg(long, default_value_t = 45)]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Last activity day [default: yesterday, UTC]
        #[arg(long)]
        end_date: Option<NaiveDate>,
        /// Only write the event files
        #[arg(long)]
        generate_only: bool,
    },
}

#[derive(Subcommand)]
enum BallistaCommand {
    /// The scheduler: plans each query into stages and hands them to executors;
    /// runs point at it with --engine df://HOST:PORT
    Scheduler {
        /// IP:PORT to listen on
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: String,
    },
    /// An executor: runs the stages the scheduler hands out, until SIGTERM
    Executor {
        /// The scheduler's IP:PORT
        #[arg(long)]
        scheduler: String,
        /// IP:PORT this executor serves its shuffle data on
        #[arg(long)]
        bind: String,
        /// Tasks at once [default: the machine's cores]
        #[arg(long)]
        concurrent_tasks: Option<usize>,
    },
}

#[derive(Subcommand)]
enum MetricsCommand {
    /// List every metric with its family and one-line definition
    List {
        /// Also read the .sql files of this folder (as a job's sql_dir would)
        #[arg(long)]
        sql_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SqlCommand {
    /// Read JSON lines {"id", "sql"} (FILE or stdin) and write one JSON line per statement:
    /// id, anonymized, fingerprint, tables, written_tables, columns, error
    Analyze {
        #[arg(long, value_enum, default_value = "generic")]
        dialect: usagelake::sql::SqlDialect,
        /// JSON file of table → column names ({"sales.orders": ["id", "amount"]}) that makes
        /// column resolution exact (also sqlglot's {"table": {"column": "type"}} form)
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        file: Option<PathBuf>,
    },
    /// Print the anonymized form of SQL (the argument, or stdin), one statement per line
    Anonymize {
        #[arg(long, value_enum, default_value = "generic")]
        dialect: usagelake::sql::SqlDialect,
        sql: Option<String>,
    },
}

/// Exit code for an invalid configuration (as `validate` documents).
const EXIT_INVALID_CONFIG: u8 = 2;
/// The run (or ingest) finished, but some input file was read only up to
/// damage: schedulers should notice without treating the date as failed.
const EXIT_QUARANTINED_INPUT: u8 = 3;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks the kernel for transparent huge pages on its segments, and
/// the first touch of each 2 MiB page zeroes all of it: a daily metrics run
/// spent a quarter of its CPU zeroing pages, and a from-scratch derive held
/// 1.6-2.4 GiB instead of 0.8-1.0 GiB. With THP off for the process, pages
/// are 4 KiB as without mimalloc.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory
    // of ours; it fails only on kernels without THP, where there is nothing
    // to turn off.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // The kernel decides on a page when it is first touched, so this also
    // covers what the runtime mapped before.
    no_huge_pages();
    let cli = Cli::parse();
    match &cli.command {
        // A daemon says what it does; commands print their results and log only errors.
        Command::Serve { log_format, .. } => {
            daemon::logging::init(*log_format, "warn,usagelake=info")
        }
        Command::Ballista { .. } => daemon::logging::init(LogFormat::Text, "warn,usagelake=info"),
        _ => daemon::logging::init(LogFormat::Text, "error"),
    }
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(ConfigErrors(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} problem(s); nothing was run", problems.len());
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    match execute(cli, loaded).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open_lake(cli_lake: Option<&str>, loaded: &Loaded) -> Result<Lake, String> {
    let url = cli_lake.unwrap_or(&loaded.config.lake.url);
    let location = LakeLocation::parse(url, &loaded.config.lake.s3).map_err(|e| e.to_string())?;
    Lake::open(&location).map_err(|e| e.to_string())
}

fn chosen_engine(given: Option<&str>, loaded: &Loaded) -> Result<Option<Engine>, String> {
    given
        .map(|given| Engine::choose(given, &loaded.config.engine))
        .transpose()
        .map_err(|e| e.to_string())
}

fn job<'a>(loaded: &'a Loaded, name: &str) -> Result<&'a config::JobConfig, String> {
    loaded.jobs.get(name).ok_or_else(|| {
        format!(
            "no job named {name:?}; known jobs: {:?} (files in {}/)",
            loaded.jobs.keys().collect::<Vec<_>>(),
            loaded.config.defaults.jobs_dir
        )
    })
}

async fn execute(cli: Cli, loaded: Loaded) -> Result<ExitCode, String> {
    let lake_url = cli.lake.as_deref();
    match cli.command {
        Command::Validate => {
            if let Some(url) = lake_url {
                LakeLocation::parse(url, &loaded.config.lake.s3)
                    .and_then(|l| l.validate().map(|_| l))
                    .map_err(|e| format!("--lake: {e}"))?;
            }
            println!(
                "configuration ok: lake {}, timezone {}, {} connector(s), {} space(s), {} job(s): {}",
                lake_url.unwrap_or(&loaded.config.lake.url),
                loaded.config.defaults.timezone,
                loaded.config.connectors.len(),
                loaded.config.spaces.len(),
                loaded.jobs.len(),
                loaded.jobs.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        Command::Serve { listen, .. } => {
            let options = ServeOptions {
                config_path: cli.config.clone(),
                lake_url: cli.lake.clone(),
                listen,
            };
            daemon::serve(options, loaded)
                .await
                .map_err(|e| e.to_string())?;
        }
        Command::Run {
            job: name,
            date,
            overrides,
            force,
            engine,
        } => {
            let lake = open_lake(lake_url, &loaded)?;
            let job = job(&loaded, &name)?;
            let date = date.unwrap_or_else(|| {
                runner::default_date(
                    job.timezone
                        .as_deref()
                        .unwrap_or(&loaded.config.defaults.timezone),
                )
            });
            let options = RunOptions {
                overrides,
                force,
                engine: chosen_engine(engine.as_deref(), &loaded)?,
                ..Default::default()
            };
            let record = runner::run_job(&lake, &loaded.config, job, date, &options)
                .await
                .map_err(|e| e.to_string())?;
            println!("{name} {date}: {}", record.summary());
            if record.status == runner::RunStatus::SucceededWithQuarantinedInput {
                return Ok(ExitCode::from(EXIT_QUARANTINED_INPUT));
            }
        }
        Command::Backfill {
            job: name,
            from,
            to,
            force,
            fail_fast,
            overrides,
            engine,
        } => {
            if from > to {
                return Err(format!("--from {from} is after --to {to}"));
            }
            let lake = open_lake(lake_url, &loaded)?;
            let job = job(&loaded, &name)?;
            let options = RunOptions {
                overrides,
                force,
                fail_fast,
                engine: chosen_engine(engine.as_deref(), &loaded)?,
                ..Default::default()
            };
            let report = runner::backfill(&lake, &loaded.config, job, from, to, &options)
                .await
                .map_err(|e| e.to_string())?;
            let quarantined = match report.quarantined_input.len() {
                0 => String::new(),
                n => format!(" ({n} with quarantined input)"),
            };
            println!(
                "{name} {from}..{to}: {} succeeded{quarantined}, {} skipped (done), {} failed",
                report.succeeded.len(),
                report.skipped.len(),
                report.failed.len()
            );
            for (date, error) in &report.failed {
                println!("  {date}: {error}");
            }
            if !report.failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            if !report.quarantined_input.is_empty() {
                return Ok(ExitCode::from(EXIT_QUARANTINED_INPUT));
            }
        }
        Command::Ingest { source, date } => {
            let lake = open_lake(lake_url, &loaded)?;
            let request = IngestRequest {
                source,
                selection: config::FileSelection::All,
                date: date.unwrap_or_else(|| chrono::Utc::now().date_naive()),
                s3: loaded.config.lake.s3.clone(),
                event_time: Default::default(),
            };
            let started = std::time::Instant::now();
            let report = segment::ingest(&lake, &request)
                .await
                .map_err(|e| e.to_string())?;
            let secs = started.elapsed().as_secs_f64();
            println!("{report}");
            println!(
                "{:.2} s, {:.0} lines/s, {:.1} MB/s of JSON",
                secs,
                report.lines as f64 / secs,
                report.bytes as f64 / secs / 1e6
            );
            if report.damaged_files > 0 {
                return Ok(ExitCode::from(EXIT_QUARANTINED_INPUT));
            }
        }
        Command::Query { sql, format } => {
            let lake = open_lake(lake_url, &loaded)?;
            let batches = query::run_sql(&lake, &sql)
                .await
                .map_err(|e| e.to_string())?;
            print!(
                "{}",
                query::format_batches(&batches, format).map_err(|e| e.to_string())?
            );
            if format == OutputFormat::Table {
                println!();
            }
        }
        Command::Tables { format } => {
            let lake = open_lake(lake_url, &loaded)?;
            let inventory = query::inventory(&lake).await.map_err(|e| e.to_string())?;
            print_inventory(&inventory, format)?;
        }
        Command::Metrics {
            command: MetricsCommand::List { sql_dir },
        } => {
            let catalog =
                usagelake::metrics::load_catalog(sql_dir.as_deref()).map_err(|e| e.to_string())?;
            let mut rows = usagelake::metrics::describe(&catalog);
            rows.extend(usagelake::platform::describe());
            let width = rows
                .iter()
                .map(|(_, name, _)| name.len())
                .max()
                .unwrap_or(0);
            let mut family = String::new();
            for (row_family, name, summary) in rows {
                if row_family != family {
                    println!("{row_family}");
                    family = row_family;
                }
                println!("  {name:<width$}  {summary}");
            }
        }
        Command::Sql { command } => run_sql_command(command)?,
        Command::Sync { connector, date } => {
            let lake = open_lake(lake_url, &loaded)?;
            let job = runner::collect::sync(&lake, &loaded.config, &connector, date)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&job).expect("sync job serializes")
            );
            if let Some(error) = &job.error {
                eprintln!("error: {error}");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Mine { connector, date } => {
            let lake = open_lake(lake_url, &loaded)?;
            let report = runner::collect::mine(&lake, &loaded.config, &connector, date)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&report).expect("report serializes")
            );
            for job in &report.failed {
                eprintln!(
                    "error: {}: {}",
                    job.date,
                    job.error.as_deref().unwrap_or("")
                );
            }
            if !report.failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Collect { connector, date } => {
            let lake = open_lake(lake_url, &loaded)?;
            let outcome = runner::events::collect_events(&lake, &loaded.config, &connector, date)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&outcome).expect("collect outcome serializes")
            );
            if let Some(error) = &outcome.sync_job.error {
                eprintln!("error: {error}");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Aggregate {
            space,
            date,
            sql_dir,
        } => {
            let lake = open_lake(lake_url, &loaded)?;
            let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let summary = usage::aggregate_dir(&lake, &loaded.config, &space, date, sql_dir)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&summary).expect("summary serializes")
            );
        }
        Command::Unused {
            space,
            days,
            date,
            format,
        } => {
            let lake = open_lake(lake_url, &loaded)?;
            let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let products = usage::unused(&lake, &loaded.config, &space, days, date)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", usage::render_unused(&products, format));
        }
        Command::Popular {
            space,
            product,
            date,
            format,
        } => {
            let lake = open_lake(lake_url, &loaded)?;
            let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let products = usage::popular(&lake, &loaded.config, &space, product.as_deref(), date)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", usage::render_popular(&products, format));
        }
        Command::Runs { limit } => {
            let lake = open_lake(lake_url, &loaded)?;
            for record in Ledger::new(&lake)
                .recent(limit)
                .await
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{} {} attempt {}: {}",
                    record.job,
                    record.date,
                    record.attempt,
                    record.summary()
                );
            }
        }
        Command::Ui { listen } => {
            let lake = open_lake(lake_url, &loaded)?;
            let state = usagelake::ui::UiState::fixed(lake, loaded.config.spaces.clone());
            usagelake::ui::serve(state, &listen)
                .await
                .map_err(|e| e.to_string())?;
        }
        Command::Report { out, date } => {
            let lake = open_lake(lake_url, &loaded)?;
            let state = usagelake::ui::UiState::fixed(lake, loaded.config.spaces.clone());
            usagelake::ui::report(&state, date, &out)
                .await
                .map_err(|e| e.to_string())?;
            println!("wrote {}", out.display());
        }
        Command::Ballista { command } => {
            let lake = open_lake(lake_url, &loaded)?;
            match command {
                BallistaCommand::Scheduler { bind } => engine::run_scheduler(&bind, &lake).await,
                BallistaCommand::Executor {
                    scheduler,
                    bind,
                    concurrent_tasks,
                } => engine::run_executor(&scheduler, &bind, concurrent_tasks, &lake).await,
            }
            .map_err(|e| e.to_string())?;
        }
        Command::Demo {
            data,
            events,
            days,
            seed,
            end_date,
            generate_only,
        } => {
            let lake = open_lake(lake_url, &loaded)?;
            let options = GeneratorOptions {
                seed,
                events,
                days,
                end_date: end_date
                    .unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Days::new(1)),
                ..GeneratorOptions::default()
            };
            let report = demo::run(&loaded, &lake, &options, &data, generate_only)
                .await
                .map_err(|e| e.to_string())?;
            let g = &report.generated;
            println!(
                "generated {} lines ({} page, {} track, {} identify, {} malformed, {} late) in {} files under {}",
                g.lines,
                g.pages,
                g.tracks,
                g.identifies,
                g.malformed,
                g.late,
                g.files,
                report.data_dir.display()
            );
            if let Some((from, to, backfill)) = &report.backfill {
                println!(
                    "ran job daily for {from}..{to}: {} dates succeeded, {} skipped, {} failed",
                    backfill.succeeded.len(),
                    backfill.skipped.len(),
                    backfill.failed.len()
                );
                if let Some(metrics) = &report.metrics {
                    println!(
                        "ran job metrics for {}: {}",
                        metrics.date,
                        metrics
                            .steps
                            .iter()
                            .map(|s| s.summary.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    );
                }
                println!("\nlake {}:", lake.location());
                print_inventory(&report.tables, OutputFormat::Table)?;
                let lake_arg = lake_url.map(|u| format!(" --lake {u}")).unwrap_or_default();
                println!("\ntry:");
                println!(
                    "  usagelake{lake_arg} query \"SELECT date, count(*) AS views FROM pages GROUP BY date ORDER BY date DESC LIMIT 7\""
                );
                println!(
                    "  usagelake{lake_arg} query \"SELECT customer_domain, count(DISTINCT user_id) AS users FROM tracks GROUP BY 1 ORDER BY 2 DESC\""
                );
                println!(
                    "  usagelake{lake_arg} query \"SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC\" --format csv"
                );
                println!(
                    "  usagelake{lake_arg} query \"SELECT customer_domain, mau, stickiness, band FROM stickiness ORDER BY mau DESC\""
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_sql_command(command: SqlCommand) -> Result<(), String> {
    use std::io::{BufRead, Read};
    match command {
        SqlCommand::Analyze {
            dialect,
            schema,
            file,
        } => {
            let schema = match &schema {
                Some(path) => usagelake::sql::Schema::from_file(path).map_err(|e| e.to_string())?,
                None => usagelake::sql::Schema::default(),
            };
            let input: Box<dyn BufRead> = match &file {
                Some(path) => Box::new(std::io::BufReader::new(
                    std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::stdin().lock()),
            };
            let stdout = std::io::stdout().lock();
            usagelake::sql::analyze_lines_with_schema(
                input,
                std::io::BufWriter::new(stdout),
                dialect,
                &schema,
            )
            .map_err(|e| e.to_string())?;
        }
        SqlCommand::Anonymize { dialect, sql } => {
            let text = match sql {
                Some(text) => text,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|e| e.to_string())?;
                    text
                }
            };
            for statement in usagelake::sql::anonymize(&text, dialect) {
                println!("{statement}");
            }
        }
    }
    Ok(())
}

fn print_inventory(
    inventory: &[query::TableInventory],
    format: OutputFormat,
) -> Result<(), String> {
    match format {
        OutputFormat::Json => {
            for t in inventory {
                println!("{}", serde_json::to_string(t).map_err(|e| e.to_string())?);
            }
        }
        OutputFormat::Csv => {
            println!("table,partitions,rows,bytes,first_partition,last_partition");
            for t in inventory {
                println!(
                    "{},{},{},{},{},{}",
                    t.table,
                    t.partitions,
                    t.rows,
                    t.bytes,
                    t.first_partition.as_deref().unwrap_or(""),
                    t.last_partition.as_deref().unwrap_or("")
                );
            }
        }
        OutputFormat::Table => {
            println!(
                "{:<26} {:>10} {:>12} {:>12}  partitions",
                "table", "partitions", "rows", "bytes"
            );
            for t in inventory {
                let range = match (&t.first_partition, &t.last_partition) {
                    (Some(a), Some(b)) if a != b => format!("{a} .. {b}"),
                    (Some(a), _) => a.clone(),
                    _ => "-".into(),
                };
                println!(
                    "{:<26} {:>10} {:>12} {:>12}  {range}",
                    t.table, t.partitions, t.rows, t.bytes
                );
            }
        }
    }
    Ok(())
}
