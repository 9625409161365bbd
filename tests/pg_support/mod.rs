//! A throwaway PostgreSQL cluster for tests and benchmarks (shared by `tests/postgres*.rs` and
//! `benches/pg_limits.rs` through `#[path]`).
//!
//! `AUDITKIT_PG_URL` (a database the tests may create schemas in) wins when set. Otherwise a
//! cluster is created with the local `initdb` in a temporary directory, as an unprivileged user
//! when running as root (initdb refuses root), listening on a free loopback port, and removed
//! when the process ends: a small watchdog process stops it even after a panic or abort.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use auditkit::postgres::PgStore;

/// Where the tests' server is: a URL and, for our own cluster, its handle.
pub struct Server {
    pub url: String,
    pub cluster: Option<Cluster>,
}

/// A cluster this process started.
pub struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    pub port: u16,
    options: String,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {}", out.status, text.trim()))
    }
}

/// The directory with `initdb` and `pg_ctl`: from PATH, else the newest Debian install.
pub fn find_bin() -> Result<PathBuf, String> {
    let from_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("initdb"))
            .find(|f| f.is_file())
    });
    if let Some(initdb) = from_path {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent() {
            if dir.join("pg_ctl").is_file() {
                return Ok(dir.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| {
            "initdb is not on PATH and /usr/lib/postgresql does not exist; install PostgreSQL \
             (apt-get install postgresql) or set AUDITKIT_PG_URL"
                .to_string()
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| "no initdb found under /usr/lib/postgresql/*/bin".to_string())
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0")
}

/// An unprivileged account to own the cluster when we are root.
fn cluster_user() -> Result<String, String> {
    for name in ["postgres", "nobody"] {
        if run(Command::new("id").arg("-u").arg(name)).is_ok() {
            return Ok(name.to_string());
        }
    }
    let name = "auditkit-pg";
    if run(Command::new("id").arg("-u").arg(name)).is_err() {
        run(Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/false"])
            .arg(name))?;
    }
    Ok(name.to_string())
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl Cluster {
    /// A new cluster; `durable` keeps fsync on (benchmarks, crash-restart tests).
    pub fn start(durable: bool) -> Result<Cluster, String> {
        Self::start_with(durable, false)
    }

    /// A new cluster a hot standby can stream from ([`Cluster::standby`]): WAL kept for
    /// replication, WAL senders, and a `host replication` line for loopback in `pg_hba.conf`.
    pub fn start_primary() -> Result<Cluster, String> {
        Self::start_with(false, true)
    }

    fn start_with(durable: bool, replication: bool) -> Result<Cluster, String> {
        let mut cluster = Self::empty(find_bin()?)?;
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        if replication {
            // initdb's sample has such lines today; stated here so a standby never depends on it.
            let hba = cluster.data().join("pg_hba.conf");
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&hba)
                .map_err(|e| format!("cannot open {}: {e}", hba.display()))?;
            writeln!(f, "host replication postgres 127.0.0.1/32 trust")
                .map_err(|e| format!("cannot write {}: {e}", hba.display()))?;
        }
        cluster.launch(&format!(
            "-c fsync={}{}",
            if durable { "on" } else { "off" },
            if replication {
                " -c wal_level=replica -c max_wal_senders=4"
            } else {
                ""
            }
        ))?;
        Ok(cluster)
    }

    /// A hot standby of this cluster (started with [`Cluster::start_primary`]): a base backup
    /// taken with `pg_basebackup -R -X stream`, so it streams from here, started on a port of
    /// its own with `hot_standby = on`.
    pub fn standby(&self) -> Result<Cluster, String> {
        let mut standby = Self::empty(self.bin.clone())?;
        standby.pg(
            "pg_basebackup",
            &[
                "-D",
                &standby.data().to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ],
        )?;
        // A standby needs at least the primary's max_connections (set in `launch`) and
        // max_wal_senders.
        standby.launch("-c fsync=off -c hot_standby=on -c max_wal_senders=4")?;
        Ok(standby)
    }

    /// A cluster directory owned by the cluster's user, with nothing in it yet.
    fn empty(bin: PathBuf) -> Result<Cluster, String> {
        let user = if is_root() {
            Some(cluster_user()?)
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix("auditkit-pg-")
            .tempdir()
            .map_err(|e| format!("no temporary directory: {e}"))?
            .keep();
        let cluster = Cluster {
            root,
            bin,
            user,
            port: 0,
            options: String::new(),
        };
        cluster.watch();
        if let Some(u) = &cluster.user {
            run(Command::new("chown").arg("-R").arg(u).arg(&cluster.root))?;
        }
        Ok(cluster)
    }

    /// Starts the server on a free loopback port with `extra` settings.
    fn launch(&mut self, extra: &str) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..3 {
            self.port = free_port()?;
            self.options = format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=300 {extra}",
                self.port,
                self.root.display(),
            );
            match self.ctl("start") {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Runs a PostgreSQL program as the cluster's user.
    fn pg(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(u).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(&self.root);
        run(&mut cmd)
    }

    fn ctl(&self, action: &str) -> Result<(), String> {
        let data = self.data().to_string_lossy().into_owned();
        let log = self.root.join("server.log").to_string_lossy().into_owned();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-t", "60"];
        if action != "stop" {
            args.extend(["-o", &self.options]);
        }
        args.push(action);
        self.pg("pg_ctl", &args).map(drop).map_err(|e| {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    /// Stops the server abruptly (as a crash would) and starts it again.
    pub fn crash_restart(&self) -> Result<(), String> {
        self.stop_immediately()?;
        self.ctl("start")
    }

    pub fn stop_immediately(&self) -> Result<(), String> {
        let data = self.data().to_string_lossy().into_owned();
        self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .map(drop)
    }

    pub fn start_again(&self) -> Result<(), String> {
        self.ctl("start")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A process that outlives this one just long enough to stop the server and remove the
    /// directory when this process ends, however it ends.
    fn watch(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.user {
            Some(u) => format!(
                "runuser -u {u} -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                self.data().display()
            ),
            None => format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                self.data().display()
            ),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            root = self.root.display()
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop_immediately();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The server shared by every test of this binary: started once.
pub fn server() -> Result<&'static Server, String> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var("AUDITKIT_PG_URL") {
            Ok(url) if !url.is_empty() => Ok(Server { url, cluster: None }),
            _ => Cluster::start(false).map(|c| Server {
                url: c.url(),
                cluster: Some(c),
            }),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Prints past libtest's output capture, so a skip is never silent; with
/// `AUDITKIT_REQUIRE_PG` set (as `.ci/run` sets it) a skip is a failure instead, so that on CI a
/// PostgreSQL test never skips.
pub fn skipped(why: &str) {
    if std::env::var_os("AUDITKIT_REQUIRE_PG").is_some() {
        panic!("AUDITKIT_REQUIRE_PG is set but no PostgreSQL server could be started: {why}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no PostgreSQL server could be started: {why}"
    );
}

/// A durable cluster of the test's own (one it may crash), or `None` after [`skipped`] said
/// why there is none.
pub fn own_durable_cluster() -> Option<Cluster> {
    match Cluster::start(true) {
        Ok(c) => Some(c),
        Err(e) => {
            skipped(&e);
            None
        }
    }
}

/// For a benchmark: `AUDITKIT_PG_URL` when set, else a throwaway cluster of its own (fsync
/// on), kept alive by the returned handle; `None` after printing why there is neither.
pub fn bench_server() -> Option<(String, Option<Cluster>)> {
    match std::env::var("AUDITKIT_PG_URL") {
        Ok(url) if !url.is_empty() => Some((url, None)),
        _ => match Cluster::start(true) {
            Ok(c) => Some((c.url(), Some(c))),
            Err(e) => {
                skipped(&e);
                None
            }
        },
    }
}

/// The shared server's URL, or `None` after printing why there is none.
pub fn url() -> Option<String> {
    match server() {
        Ok(s) => Some(s.url.clone()),
        Err(e) => {
            skipped(&e);
            None
        }
    }
}

/// A schema name no other store of this run uses.
pub fn fresh_schema(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}_{}_{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store in a fresh schema of the shared server: an empty log for each call.
pub fn fresh_store(url: &str) -> PgStore {
    PgStore::connect_with_schema(url, &fresh_schema("s")).expect("connect to the test server")
}

/// A raw client for poking at the database behind the store's back.
pub fn raw_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("raw connection")
}

/// Waits until `f` holds, up to `secs`.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
