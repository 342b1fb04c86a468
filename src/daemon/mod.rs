//! `usagelake serve`: runs the jobs on their schedules and serves the HTTP
//! API until SIGTERM.
//!
//! tokio-cron-scheduler wakes the daemon at second 0 of every minute (in
//! UTC, where its fixed offset is right); which jobs are due is computed in
//! each job's own timezone by [`Schedule`]. The runner's lease keeps runs of
//! one job apart across processes, a per-job mutex queues them inside this
//! one, and the ledger records every attempt.

pub mod logging;
pub mod schedule;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{OwnedMutexGuard, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub use schedule::Schedule;

use crate::config::{self, Loaded};
use crate::lake::{Lake, LakeLocation};
use crate::runner::{self, Lease, Ledger, RunError, RunOptions, RunStatus};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("[server] listen: {0}")]
    Listen(String),
    #[error("cannot listen on {addr}: {source}; is another daemon using that port?")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("lake: {0}")]
    Lake(#[from] crate::lake::LakeError),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("HTTP server: {0}")]
    Server(std::io::Error),
}

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no job named {name:?}; known jobs: {known:?}")]
    UnknownJob { name: String, known: Vec<String> },
    #[error("job {0} is already running in this daemon; wait for it to finish")]
    RunningHere(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the daemon is shutting down; no new runs start")]
    Draining,
}

/// What `usagelake serve` was started with.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `--config`: re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// `--lake`: overrides lake.url.
    pub lake_url: Option<String>,
    /// `--listen`: overrides [server] listen.
    pub listen: Option<String>,
}

/// A run this daemon is executing.
struct Running {
    job: String,
    date: NaiveDate,
    lease: Option<Lease>,
    task: Option<JoinHandle<()>>,
}

/// A run that was started: what `POST /jobs/{name}/run` answers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StartedRun {
    pub run_id: String,
    pub job: String,
    pub date: NaiveDate,
    pub status: RunStatus,
}

/// The daemon's shared state: the API handlers and the scheduler use it.
pub struct Daemon {
    lake: Lake,
    loaded: RwLock<Arc<Loaded>>,
    options: ServeOptions,
    /// Listening address fixed at start ([server] listen changes need a restart).
    listen: Option<std::net::SocketAddr>,
    runs: Mutex<HashMap<String, Running>>,
    job_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    draining: AtomicBool,
    last_tick: Mutex<DateTime<Utc>>,
}

impl Daemon {
    /// A daemon over `lake` with `loaded` as its configuration; nothing
    /// runs until [`Daemon::tick`] or [`Daemon::catch_up`] is called.
    pub fn new(lake: Lake, loaded: Loaded, options: ServeOptions) -> Arc<Self> {
        Arc::new(Self {
            lake,
            loaded: RwLock::new(Arc::new(loaded)),
            options,
            listen: None,
            runs: Mutex::new(HashMap::new()),
            job_locks: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            last_tick: Mutex::new(Utc::now()),
        })
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The configuration in force (replaced by a valid SIGHUP reload).
    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded.read().expect("not poisoned").clone()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// How many runs are executing now.
    pub fn running(&self) -> usize {
        self.runs.lock().expect("not poisoned").len()
    }

    fn job_lock(&self, job: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.job_locks
            .lock()
            .expect("not poisoned")
            .entry(job.to_string())
            .or_default()
            .clone()
    }

    /// The default logical date of a manual run: yesterday in the job's
    /// timezone.
    pub fn default_date(&self, job: &str) -> NaiveDate {
        let loaded = self.loaded();
        let tz = loaded
            .jobs
            .get(job)
            .and_then(|j| j.timezone.clone())
            .unwrap_or_else(|| loaded.config.defaults.timezone.clone());
        runner::default_date(&tz)
    }

    /// Starts `job` for `date` now (the API's trigger): refused while the
    /// job runs here or anywhere else holding its lease.
    pub async fn trigger(
        self: &Arc<Self>,
        job: &str,
        date: NaiveDate,
    ) -> Result<StartedRun, TriggerError> {
        let loaded = self.loaded();
        let Some(job_config) = loaded.jobs.get(job).cloned() else {
            return Err(TriggerError::UnknownJob {
                name: job.to_string(),
                known: loaded.jobs.keys().cloned().collect(),
            });
        };
        let guard = self
            .job_lock(job)
            .try_lock_owned()
            .map_err(|_| TriggerError::RunningHere(job.to_string()))?;
        if self.is_draining() {
            return Err(TriggerError::Draining);
        }
        let lease =
            Lease::acquire_with_ttl(&self.lake, job, runner::lease_ttl(&loaded.config)).await?;
        let (run_id, _done) = self
            .start_run(loaded, job_config, date, lease, guard, "api")
            .ok_or(TriggerError::Draining)?;
        Ok(StartedRun {
            run_id,
            job: job.to_string(),
            date,
            status: RunStatus::Running,
        })
    }

    /// Runs `job` for `date` once this daemon's earlier run of the job is
    /// done, and waits for it. A lease held elsewhere skips the run (logged).
    async fn queued_run(self: Arc<Self>, job: String, date: NaiveDate, trigger: &'static str) {
        let guard = self.job_lock(&job).lock_owned().await;
        if self.is_draining() {
            return;
        }
        let loaded = self.loaded();
        let Some(job_config) = loaded.jobs.get(&job).cloned() else {
            return;
        };
        match Lease::acquire_with_ttl(&self.lake, &job, runner::lease_ttl(&loaded.config)).await {
            Ok(lease) => {
                if let Some((_, done)) =
                    self.start_run(loaded, job_config, date, lease, guard, trigger)
                {
                    let _ = done.await;
                }
            }
            Err(e) => tracing::warn!(job, %date, trigger, "not run: {e}"),
        }
    }

    /// Spawns the run; `None` when draining began. The returned receiver
    /// completes when the run ends.
    fn start_run(
        self: &Arc<Self>,
        loaded: Arc<Loaded>,
        job: config::JobConfig,
        date: NaiveDate,
        lease: Lease,
        guard: OwnedMutexGuard<()>,
        trigger: &'static str,
    ) -> Option<(String, oneshot::Receiver<()>)> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let mut runs = self.runs.lock().expect("not poisoned");
        // Checked under the same lock `drain` takes: a run either starts
        // before draining and is waited for, or does not start.
        if self.is_draining() {
            drop(runs);
            // The lease is released by its Drop only after expiry; give it back now.
            tokio::spawn(lease.release());
            return None;
        }
        runs.insert(
            run_id.clone(),
            Running {
                job: job.name.clone(),
                date,
                lease: Some(lease),
                task: None,
            },
        );
        let (done_tx, done_rx) = oneshot::channel();
        let span = tracing::info_span!("run", run_id = %run_id, job = %job.name, date = %date);
        let this = self.clone();
        let id = run_id.clone();
        let task = tokio::spawn(
            async move {
                let _guard = guard;
                tracing::info!(trigger, "run started");
                let options = RunOptions {
                    run_id: Some(id.clone()),
                    ..Default::default()
                };
                match runner::run_date(&this.lake, &loaded.config, &job, date, &options).await {
                    Ok(record) => tracing::info!("run {}", record.summary()),
                    Err(e) => tracing::error!("run failed: {e}"),
                }
                this.finish(&id).await;
                let _ = done_tx.send(());
            }
            .instrument(span),
        );
        if let Some(r) = runs.get_mut(&run_id) {
            r.task = Some(task);
        }
        Some((run_id, done_rx))
    }

    async fn finish(&self, run_id: &str) {
        let lease = self
            .runs
            .lock()
            .expect("not poisoned")
            .remove(run_id)
            .and_then(|mut r| r.lease.take());
        if let Some(lease) = lease {
            lease.release().await;
        }
    }

    /// Starts every job whose schedule fired since the last tick; returns
    /// the (job, logical date) pairs it queued.
    pub fn tick(self: &Arc<Self>, now: DateTime<Utc>) -> Vec<(String, NaiveDate)> {
        let after = std::mem::replace(&mut *self.last_tick.lock().expect("not poisoned"), now);
        let loaded = self.loaded();
        let mut due = Vec::new();
        for job in loaded.jobs.values() {
            let Some(Ok(schedule)) = Schedule::for_job(job, &loaded.config.defaults.timezone)
            else {
                continue;
            };
            let mut dates: Vec<NaiveDate> = schedule
                .fires_between(after, now)
                .into_iter()
                .map(|f| schedule.logical_date(f))
                .collect();
            dates.dedup();
            for date in dates {
                due.push((job.name.clone(), date));
                tokio::spawn(self.clone().queued_run(job.name.clone(), date, "schedule"));
            }
        }
        due
    }

    /// The scheduled dates up to `now` that have no succeeded run, at most
    /// `defaults.catch_up_limit` per job, oldest first.
    pub async fn missed_dates(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Vec<NaiveDate>)>, RunError> {
        let loaded = self.loaded();
        let ledger = Ledger::new(&self.lake);
        let limit = loaded.config.defaults.catch_up_limit as usize;
        let mut out = Vec::new();
        for job in loaded.jobs.values() {
            let Some(Ok(schedule)) = Schedule::for_job(job, &loaded.config.defaults.timezone)
            else {
                continue;
            };
            let mut missed = Vec::new();
            for date in schedule.recent_dates(now, limit) {
                let done = ledger
                    .attempts(&job.name, date)
                    .await?
                    .iter()
                    .any(|r| r.status.is_success());
                if !done {
                    missed.push(date);
                }
            }
            if !missed.is_empty() {
                out.push((job.name.clone(), missed));
            }
        }
        Ok(out)
    }

    /// Runs the missed dates (see [`Daemon::missed_dates`]) in the
    /// background, each job's oldest first; the returned handle ends when
    /// all have run.
    pub async fn catch_up(self: &Arc<Self>, now: DateTime<Utc>) -> JoinHandle<()> {
        *self.last_tick.lock().expect("not poisoned") = now;
        if let Err(e) = self.close_dead_runs().await {
            tracing::error!("closing runs left running by a stopped process: {e}");
        }
        let missed = match self.missed_dates(now).await {
            Ok(missed) => missed,
            Err(e) => {
                tracing::error!("catch-up skipped: {e}");
                Vec::new()
            }
        };
        let mut tasks = Vec::new();
        for (job, dates) in missed {
            tracing::info!(job, dates = ?dates, "catching up missed dates");
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                for date in dates {
                    this.clone().queued_run(job.clone(), date, "catch-up").await;
                }
            }));
        }
        tokio::spawn(async move {
            for t in tasks {
                let _ = t.await;
            }
        })
    }

    /// Attempts the ledger shows as running whose job lease is free were
    /// left by a process that died (SIGKILL, a crash, a lost machine): they
    /// are recorded as interrupted so the ledger and `/metrics` stop
    /// counting them as running. A job whose lease is held is left alone.
    pub async fn close_dead_runs(&self) -> Result<usize, RunError> {
        let ledger = Ledger::new(&self.lake);
        let running = ledger
            .query(&runner::RunFilter {
                status: Some(RunStatus::Running),
                ..Default::default()
            })
            .await?;
        let mut by_job: HashMap<String, Vec<runner::RunRecord>> = HashMap::new();
        for record in running {
            by_job.entry(record.job.clone()).or_default().push(record);
        }
        let ttl = runner::lease_ttl(&self.loaded().config);
        let mut closed = 0;
        for (job, records) in by_job {
            let Ok(lease) = Lease::acquire_with_ttl(&self.lake, &job, ttl).await else {
                continue;
            };
            for mut record in records {
                let span = tracing::info_span!("run", run_id = %record.run_id, job = %record.job, date = %record.date);
                let _enter = span.enter();
                record.status = RunStatus::Interrupted;
                record.error = Some(
                    "interrupted: the process running it stopped before it finished (its lease was free when the daemon started); run the date again"
                        .into(),
                );
                tracing::warn!("run left running by a stopped process: recorded as interrupted");
                drop(_enter);
                ledger.write(&record).await?;
                closed += 1;
            }
            lease.release().await;
        }
        Ok(closed)
    }

    /// Re-reads the configuration and jobs; a configuration with problems
    /// is rejected (each problem logged) and the old one stays in force.
    pub fn reload(&self) -> bool {
        let fresh = match config::load(self.options.config_path.as_deref()) {
            Ok(fresh) => fresh,
            Err(config::ConfigErrors(problems)) => {
                for p in &problems {
                    tracing::error!("{p}");
                }
                tracing::error!(
                    "reload rejected: {} problem(s); the previous configuration stays in force",
                    problems.len()
                );
                return false;
            }
        };
        if let Some(listen) = self.listen
            && let Err(message) = fresh.config.server.check_listen(Some(&listen.to_string()))
        {
            tracing::error!(
                "reload rejected: {message}; the previous configuration stays in force"
            );
            return false;
        }
        let old = self.loaded();
        if self.options.lake_url.is_none() && fresh.config.lake.url != old.config.lake.url {
            tracing::warn!(
                "lake.url changed; the daemon keeps the lake it started with until restarted"
            );
        }
        if fresh.config.server.listen != old.config.server.listen {
            tracing::warn!("[server] listen changed; it takes effect on restart");
        }
        let names = fresh.jobs.keys().cloned().collect::<Vec<_>>().join(", ");
        let count = fresh.jobs.len();
        // In force before it is announced: whoever reads the log line and
        // then asks the API sees the new configuration.
        *self.loaded.write().expect("not poisoned") = Arc::new(fresh);
        tracing::info!(jobs = count, "configuration reloaded: {names}");
        true
    }

    /// Stops new runs, waits up to `timeout` for the running ones, then
    /// cancels the rest, records them as interrupted and frees their leases.
    pub async fn drain(&self, timeout: Duration) {
        let tasks: Vec<(String, JoinHandle<()>)> = {
            let mut runs = self.runs.lock().expect("not poisoned");
            self.draining.store(true, Ordering::SeqCst);
            runs.iter_mut()
                .filter_map(|(id, r)| r.task.take().map(|t| (id.clone(), t)))
                .collect()
        };
        if !tasks.is_empty() {
            tracing::info!(
                runs = tasks.len(),
                "draining: waiting up to {} s for running jobs",
                timeout.as_secs()
            );
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for (run_id, mut task) in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
                self.interrupt(&run_id, timeout).await;
            }
        }
    }

    async fn interrupt(&self, run_id: &str, timeout: Duration) {
        let Some(mut running) = self.runs.lock().expect("not poisoned").remove(run_id) else {
            return;
        };
        let span = tracing::info_span!("run", run_id, job = %running.job, date = %running.date);
        async {
            let ledger = Ledger::new(&self.lake);
            match ledger.attempts(&running.job, running.date).await {
                Ok(attempts) => {
                    if let Some(mut record) = attempts
                        .into_iter()
                        .find(|r| r.run_id == run_id && r.status == RunStatus::Running)
                    {
                        let now = Utc::now();
                        record.status = RunStatus::Interrupted;
                        record.duration_ms =
                            (now - record.started_at).num_milliseconds().max(0) as u64;
                        record.finished_at = Some(now);
                        record.error = Some(format!(
                            "interrupted: the daemon shut down and the run was still going {} s later (shutdown_timeout_seconds); run the date again",
                            timeout.as_secs_f64()
                        ));
                        if let Err(e) = ledger.write(&record).await {
                            tracing::error!("recording the interruption: {e}");
                        }
                    }
                }
                Err(e) => tracing::error!("recording the interruption: {e}"),
            }
            tracing::warn!("run interrupted by shutdown");
            if let Some(lease) = running.lease.take() {
                lease.release().await;
            }
        }
        .instrument(span)
        .await
    }
}

/// Opens the lake and serves until SIGTERM or SIGINT (then drains and
/// returns). SIGHUP reloads the configuration.
pub async fn serve(options: ServeOptions, loaded: Loaded) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};

    let addr = loaded
        .config
        .server
        .check_listen(options.listen.as_deref())
        .map_err(DaemonError::Listen)?;
    let url = options
        .lake_url
        .clone()
        .unwrap_or_else(|| loaded.config.lake.url.clone());
    let lake = Lake::open(&LakeLocation::parse(&url, &loaded.config.lake.s3)?)?;
    let shutdown_timeout = Duration::from_secs(loaded.config.server.shutdown_timeout_seconds);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(DaemonError::Server)?;
    let mut daemon = Daemon::new(lake, loaded, options);
    Arc::get_mut(&mut daemon).expect("not shared yet").listen = Some(bound);

    // Signals first: a SIGTERM that arrives while starting up still drains.
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = crate::api::router(daemon.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::info!(
        lake = %daemon.lake().location(),
        jobs = daemon.loaded().jobs.len(),
        "listening on {bound}"
    );

    let start = Utc::now();
    daemon.catch_up(start).await;
    let mut scheduler = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let ticking = daemon.clone();
    let every_minute =
        tokio_cron_scheduler::Job::new_async("0 * * * * *", move |_id, _scheduler| {
            let daemon = ticking.clone();
            Box::pin(async move {
                daemon.tick(Utc::now());
            })
        })
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    scheduler
        .add(every_minute)
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    scheduler
        .start()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                daemon.reload();
            }
        }
    }
    tracing::info!("shutting down: no new runs start");
    let _ = scheduler.shutdown().await;
    daemon.drain(shutdown_timeout).await;
    let _ = stop_tx.send(());
    // Graceful shutdown waits for requests in flight (a bi-sync runs inside
    // its request): they get the same timeout as the runs, then are cut.
    let mut server = server;
    match tokio::time::timeout(shutdown_timeout, &mut server).await {
        Ok(Ok(result)) => result.map_err(DaemonError::Server)?,
        Ok(Err(e)) => tracing::error!("HTTP server task: {e}"),
        Err(_) => {
            tracing::warn!(
                "HTTP requests still running {} s after shutdown began; closing them",
                shutdown_timeout.as_secs_f64()
            );
            server.abort();
        }
    }
    tracing::info!("stopped");
    Ok(())
}
