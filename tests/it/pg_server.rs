//! A real PostgreSQL server for tests: Debian's `postgresql` package (.ci/run
//! installs it when missing), a fresh cluster per test, on a free loopback
//! port, stopped on Drop whatever the outcome.
//!
//! ```ignore
//! let pg = PgServer::start();                 // or start_with(&[("log_connections", "on")])
//! pg.create_user("alice", "alice-pw");        // LOGIN role with a password
//! pg.create_database("shop", "alice");        // database owned by alice
//! pg.psql("alice", "alice-pw", "shop", "CREATE TABLE t (id int);\nSELECT * FROM t;");
//! let err = pg.try_psql("alice", "alice-pw", "shop", "SELECT * FROM missing;").unwrap_err();
//! let client = pg.connect("alice", "alice-pw", "shop").await; // tokio-postgres
//! client.query("SELECT * FROM t WHERE id = $1", &[&5i32]).await?; // extended protocol
//! pg.sync_logs();                             // every statement so far is in the log files
//! let csv: Vec<PathBuf> = pg.log_files("csv"); // also "json" and "log"
//! let url = pg.url("alice", "alice-pw", "shop"); // postgres://alice:alice-pw@127.0.0.1:PORT/shop
//! ```
//!
//! - The cluster: `initdb -U postgres` (superuser `postgres`, password
//!   [`SUPERUSER_PASSWORD`], scram-sha-256 over TCP) in a temp dir; as root
//!   it runs as the OS user `postgres` (initdb refuses root), the temp dir
//!   chowned to it. No Unix socket: everything goes over 127.0.0.1.
//! - Settings: `shared_preload_libraries = 'pg_stat_statements'` (the
//!   extension is created in the `postgres` database and in every database
//!   made by [`PgServer::create_database`]), `logging_collector = on`,
//!   `log_destination = 'csvlog,jsonlog'` (PostgreSQL 15 writes every record
//!   to a `.csv`, a `.json` and a `.log` file), `log_statement = 'all'`,
//!   `log_timezone = 'UTC'`, `fsync = off`. [`PgServer::start_with`] adds or
//!   overrides settings (`postgresql.conf` keeps the last value).
//! - [`PgServer::log_dir`] is the folder of those files (a miner's
//!   `log_dir`). The collector writes them asynchronously: call
//!   [`PgServer::sync_logs`] before reading them. It runs one marker
//!   statement as `postgres` (a system user miners skip) and waits until the
//!   marker is in every file.
//! - [`PgServer::psql`] runs a script with `psql` (simple query protocol,
//!   one message per statement, as typed at a prompt; `ON_ERROR_STOP`) and
//!   returns its stdout; [`PgServer::try_psql`] returns stderr on failure.
//!   [`PgServer::connect`] gives a tokio-postgres client (extended protocol:
//!   parse / bind / execute, parameters as bind values).
//! - Every panic names what failed and how to fix the setup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::free_port;

/// The `postgres` superuser's password in every test cluster.
pub const SUPERUSER_PASSWORD: &str = "harness-superuser-pw";

pub struct PgServer {
    // Dropped after `Drop::drop` stopped the server.
    _dir: tempfile::TempDir,
    bin: PathBuf,
    data: PathBuf,
    log_dir: PathBuf,
    port: u16,
    /// Run server commands as the OS user `postgres` (we are root).
    as_postgres: bool,
    markers: AtomicU32,
}

impl PgServer {
    /// A fresh cluster with the standard settings (see the module comment).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh cluster with extra `postgresql.conf` settings, e.g.
    /// `("log_connections", "on")`. Values are written as given (quote
    /// strings: `("log_line_prefix", "'%m [%p] '")`).
    pub fn start_with(settings: &[(&str, &str)]) -> Self {
        Self::start_with_files(settings, &[])
    }

    /// A fresh cluster with `ssl = on` serving `cert_pem` / `key_pem`
    /// (PEM, the key unencrypted).
    pub fn start_with_tls(cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self::start_with_files(
            &[("ssl", "on")],
            &[("server.crt", cert_pem), ("server.key", key_pem)],
        )
    }

    /// As [`Self::start_with`], with `files` written into the data folder
    /// (owned by the server's user, mode 0600, as it wants its key).
    fn start_with_files(settings: &[(&str, &str)], files: &[(&str, &[u8])]) -> Self {
        let bin = server_bin_dir();
        let as_postgres = is_root();
        let dir = tempfile::tempdir().expect("create a temp dir for the test cluster");
        let data = dir.path().join("data");
        let log_dir = dir.path().join("log");
        if as_postgres {
            chown_to_postgres(dir.path());
        }
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        if as_postgres {
            chown_to_postgres(&pwfile);
        }
        let mut server = Self {
            _dir: dir,
            bin,
            data,
            log_dir,
            port: 0,
            as_postgres,
            markers: AtomicU32::new(0),
        };
        let initdb = server.server_command(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--auth-host=scram-sha-256".as_ref(),
                "--auth-local=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        check(initdb, "initdb");
        for (name, bytes) in files {
            use std::os::unix::fs::PermissionsExt;
            let path = server.data.join(name);
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if as_postgres {
                chown_to_postgres(&path);
            }
        }
        // A port can be taken between probing and binding: try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            server.port = free_port();
            server.write_conf(settings);
            let log = server.data.join("startup.log");
            let out = server.server_command(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    server.data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            );
            if out.status.success() {
                server
                    .try_psql(
                        "postgres",
                        SUPERUSER_PASSWORD,
                        "postgres",
                        "CREATE EXTENSION pg_stat_statements;",
                    )
                    .expect("CREATE EXTENSION pg_stat_statements");
                return server;
            }
            last_error = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("the test PostgreSQL server did not start:\n{last_error}");
    }

    fn write_conf(&self, settings: &[(&str, &str)]) {
        let mut conf = std::fs::read_to_string(self.data.join("postgresql.conf")).unwrap();
        // Settings appended later win; a retry appends again with its port.
        conf.push_str(&format!(
            "\n# usagelake test harness\n\
             port = {}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n\
             shared_preload_libraries = 'pg_stat_statements'\n\
             logging_collector = on\n\
             log_destination = 'csvlog,jsonlog'\n\
             log_directory = '{}'\n\
             log_filename = 'postgresql-%Y%m%d.log'\n\
             log_rotation_age = 0\n\
             log_rotation_size = 0\n\
             log_statement = 'all'\n\
             log_timezone = 'UTC'\n\
             timezone = 'UTC'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            self.port,
            self.log_dir.display()
        ));
        for (key, value) in settings {
            conf.push_str(&format!("{key} = {value}\n"));
        }
        std::fs::write(self.data.join("postgresql.conf"), conf).unwrap();
    }

    /// `bin/<program> args…`, as `postgres` when we are root.
    fn server_command(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            // The server inherits the test's stdout otherwise, and cargo
            // waits for it to close.
            .stdin(Stdio::null())
            .current_dir("/")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of the server's log files (`.csv`, `.json`, `.log`).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// `postgres://user:password@127.0.0.1:PORT/database`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The superuser's URL to the `postgres` database.
    pub fn superuser_url(&self) -> String {
        self.url("postgres", SUPERUSER_PASSWORD, "postgres")
    }

    /// Runs `script` with psql as `user`; panics with psql's stderr on failure.
    pub fn psql(&self, user: &str, password: &str, database: &str, script: &str) -> String {
        self.try_psql(user, password, database, script)
            .unwrap_or_else(|e| panic!("psql as {user} on {database} failed: {e}"))
    }

    /// Runs `script` with psql as `user` (simple protocol, one statement per
    /// message, stops at the first error): stdout, or stderr on failure.
    pub fn try_psql(
        &self,
        user: &str,
        password: &str,
        database: &str,
        script: &str,
    ) -> Result<String, String> {
        use std::io::Write;
        let mut child = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", user, "-d", database])
            .env("PGPASSWORD", password)
            .env("PGAPPNAME", "psql")
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A LOGIN role with a password.
    pub fn create_user(&self, name: &str, password: &str) {
        self.psql(
            "postgres",
            SUPERUSER_PASSWORD,
            "postgres",
            &format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}';"),
        );
    }

    /// A database owned by `owner`, with pg_stat_statements created in it.
    pub fn create_database(&self, name: &str, owner: &str) {
        self.psql(
            "postgres",
            SUPERUSER_PASSWORD,
            "postgres",
            &format!("CREATE DATABASE \"{name}\" OWNER \"{owner}\";"),
        );
        self.psql(
            "postgres",
            SUPERUSER_PASSWORD,
            name,
            "CREATE EXTENSION pg_stat_statements;",
        );
    }

    /// A tokio-postgres client (no TLS) as `user`; the connection runs on a
    /// spawned task until the client is dropped.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        database: &str,
    ) -> tokio_postgres::Client {
        let config = format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={database} application_name=tokio-postgres connect_timeout=10",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting as {user} to {database}: {e}"));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// The log files with this extension (`csv`, `json`, `log`), sorted.
    pub fn log_files(&self, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.log_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        files
    }

    /// Waits (at most 30 s) until everything logged so far is in the csv
    /// and json files: logs a marker statement as `postgres` and waits for it.
    pub fn sync_logs(&self) {
        let n = self.markers.fetch_add(1, Ordering::Relaxed);
        let marker = format!("usagelake_log_marker_{}_{n}", std::process::id());
        self.psql(
            "postgres",
            SUPERUSER_PASSWORD,
            "postgres",
            &format!("SELECT '{marker}';"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = ["csv", "json"].iter().all(|ext| {
                self.log_files(ext)
                    .iter()
                    .any(|f| std::fs::read_to_string(f).is_ok_and(|text| text.contains(&marker)))
            });
            if found {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the marker statement did not reach the csv and json logs in {} within 30 s",
                self.log_dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server now (Drop does it too; a second stop is a no-op).
    pub fn stop(&self) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        let out = self.server_command(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "stop".as_ref(),
            ],
        );
        if !out.status.success() {
            // Last resort: the postmaster's pid is the pid file's first line.
            if let Some(pid) = std::fs::read_to_string(self.data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string))
            {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `/usr/lib/postgresql/<newest>/bin`, or the folder of `pg_ctl` on PATH.
fn server_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").exists() {
            return bin;
        }
    }
    panic!(
        "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install Debian's `postgresql` package (`apt-get install postgresql`; .ci/run does)"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(path: &Path) {
    let out = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .output()
        .expect("chown runs");
    assert!(
        out.status.success(),
        "chown postgres {} failed (is there a `postgres` OS user? Debian's postgresql package creates it): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn harness_runs_both_protocols_and_logs_to_csv_and_json() {
    let pg = PgServer::start();
    pg.create_user("alice", "alice-pw");
    pg.create_database("shop", "alice");
    pg.psql(
        "alice",
        "alice-pw",
        "shop",
        "CREATE TABLE orders (id int, total numeric);\nINSERT INTO orders VALUES (1, 9.5);",
    );
    let failed = pg
        .try_psql("alice", "alice-pw", "shop", "SELECT * FROM missing_table;")
        .unwrap_err();
    assert!(failed.contains("missing_table"), "{failed}");
    let client = pg.connect("alice", "alice-pw", "shop").await;
    let rows = client
        .query("SELECT total::text FROM orders WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "9.5");
    drop(client);
    assert_eq!(
        pg.psql(
            "postgres",
            SUPERUSER_PASSWORD,
            "shop",
            "SELECT calls FROM pg_stat_statements WHERE query LIKE 'SELECT total::text FROM orders%';"
        )
        .trim(),
        "1"
    );
    pg.sync_logs();
    let csv = std::fs::read_to_string(&pg.log_files("csv")[0]).unwrap();
    let json = std::fs::read_to_string(&pg.log_files("json")[0]).unwrap();
    for text in [&csv, &json] {
        let orders: Vec<&str> = text.lines().filter(|l| l.contains("orders")).collect();
        assert!(
            text.contains("statement: INSERT INTO orders VALUES (1, 9.5);"),
            "{orders:#?}"
        );
        // tokio-postgres prepares named statements: `execute s0: …`.
        assert!(
            text.contains(": SELECT total::text FROM orders WHERE id = $1")
                && text.contains("parameters: $1 = '1'"),
            "{orders:#?}"
        );
    }
    assert!(pg.log_files("csv")[0].starts_with(pg.log_dir()));
    assert_eq!(
        pg.superuser_url(),
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/postgres",
            pg.port()
        )
    );
    let data = pg.data.clone();
    pg.stop();
    assert!(!data.join("postmaster.pid").exists(), "stopped");
    drop(pg);
    assert!(!data.exists(), "the cluster's temp dir is removed on Drop");
}
