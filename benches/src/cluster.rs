//! Harness of the cluster benchmarks (`src/bin/cluster_propagation.rs`,
//! `src/bin/cluster_idle_cpu.rs`): the release `gatehouse` binary started as a
//! `CLUSTERED_CONSOLE` or `CLUSTERED_ENGINE` process (a temporary directory with its
//! run.properties, logs to files, killed on drop), the admin API of the console, and the CPU time
//! of a process from `/proc`.
//!
//! The e2e harness (`gatehouse_tests::node::Node`) looks for `gatehouse-e2e` next to the test
//! executable's `deps/` directory; these programs run from `target/release/` and start the
//! `gatehouse` binary next to them (or `$GATEHOUSE_BIN`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_tests::admin::AdminClient;
use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::{config, free_port};
use serde_json::json;

/// Password of the console's `Administrator`.
pub const PASSWORD: &str = "cluster-bench-password";

/// The node binary: `$GATEHOUSE_BIN`, else `gatehouse` next to the running program.
pub fn gatehouse_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("GATEHOUSE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .map(|d| d.join("gatehouse"))
        .context("no directory around the running program")?;
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it first (cargo build --release --bin gatehouse) or set GATEHOUSE_BIN",
        bin.display()
    );
    Ok(bin)
}

/// A `gatehouse` process.
pub struct NodeProc {
    child: Child,
    /// Holds run.properties, the TOML, the data directory and the logs.
    pub dir: tempfile::TempDir,
    /// `admin.port`.
    pub admin_port: u16,
    /// `management.port` (plain HTTP on 127.0.0.1).
    pub management_port: u16,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    /// Starts the binary with these run.properties entries (after the ports and data
    /// directory) and, when given, a startup TOML; does not wait for it to be ready.
    pub fn spawn(props: &[(&str, String)], toml: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let admin_port = free_port();
        let management_port = free_port();
        let mut text = format!(
            "pa.data.dir=data\nadmin.port={admin_port}\nadmin.bindAddress=127.0.0.1\n\
             management.port={management_port}\n"
        );
        if let Some(toml) = toml {
            std::fs::write(dir.path().join("gatehouse.toml"), toml)?;
            text.push_str("pa.startup.config=gatehouse.toml\n");
        }
        for (k, v) in props {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(dir.path().join("run.properties"), text)?;
        let child = Command::new(gatehouse_binary()?)
            .arg("--properties")
            .arg(dir.path().join("run.properties"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout.log"))?)
            .stderr(std::fs::File::create(dir.path().join("stderr.log"))?)
            .spawn()?;
        Ok(Self {
            child,
            dir,
            admin_port,
            management_port,
        })
    }

    /// Waits until `/readyz` answers 200 (an engine: once it applied its first snapshot).
    pub async fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.management_port);
        let client = reqwest::Client::new();
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("node exited with {status} before ready:\n{}", self.stderr());
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < end,
                "node not ready after {deadline:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// CPU time used so far by the process, all threads (`utime + stime`).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid())
    }

    /// Resident memory now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 if unknown).
pub fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// CPU time used so far by process `pid`, all threads: fields 14 and 15 of `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unreadable /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        // `rest` starts at field 3 (state).
        Ok(fields.get(n - 3).context("short /proc stat")?.parse()?)
    };
    let ticks = field(14)? + field(15)?;
    Ok(Duration::from_micros(ticks * 1_000_000 / clock_ticks()))
}

/// Busy and total jiffies of the whole machine (`/proc/stat`, first line), to tell how much
/// CPU everything else used during a measurement.
pub fn machine_jiffies() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// The first line of `/proc/loadavg`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A running console: its process, admin API, config-query port and the port every engine
/// listener uses, and the backend of its applications.
pub struct Console {
    /// The process.
    pub node: NodeProc,
    /// Its admin API.
    pub api: AdminClient,
    /// `clusterconfig.port`.
    pub config_port: u16,
    /// Port of the engine listener in the configuration (engines bind it on their own address).
    pub engine_port: u16,
    /// Backend of the applications (answers 200 with an echo of the request).
    pub backend: Backend,
    /// Bootstrap files.
    pub keep: tempfile::TempDir,
}

impl Console {
    /// Starts a console with one unprotected application at `/app` and waits until it is ready.
    /// `polling_delay_ms`: `engine.polling.delay` (`None`: the default, 2000 ms).
    pub async fn start(polling_delay_ms: Option<u64>) -> anyhow::Result<Self> {
        let backend = Backend::start("bench", Behavior::Echo).await?;
        let engine_port = free_port();
        let config_port = free_port();
        let toml = config::simple(engine_port, false, "/app", &[&backend.target()]);
        let mut props = vec![
            ("pa.operational.mode", "CLUSTERED_CONSOLE".to_string()),
            ("admin.initial.password", PASSWORD.to_string()),
            ("clusterconfig.port", config_port.to_string()),
            ("clusterconfig.bindAddress", "127.0.0.1".to_string()),
            ("clusterconfig.public.host", "127.0.0.1".to_string()),
            ("engine.http.bindAddress", "127.0.0.1".to_string()),
        ];
        if let Some(ms) = polling_delay_ms {
            props.push(("engine.polling.delay", ms.to_string()));
        }
        let mut node = NodeProc::spawn(&props, Some(&toml))?;
        node.wait_ready(Duration::from_secs(60)).await?;
        let api = AdminClient::new(node.admin_port, "Administrator", PASSWORD);
        Ok(Self {
            node,
            api,
            config_port,
            engine_port,
            backend,
            keep: tempfile::tempdir()?,
        })
    }

    /// Registers an engine (`POST /engines`) and gets its bootstrap.properties text
    /// (`POST /engines/{id}/config`); returns (id, text).
    pub async fn register(&self, name: &str) -> anyhow::Result<(u64, String)> {
        let (status, engine) = self.api.post("/engines", &json!({ "name": name })).await?;
        anyhow::ensure!(status == 200, "register {name}: {status} {engine}");
        let id = engine["id"].as_u64().context("engine without id")?;
        let resp = self
            .api
            .request(reqwest::Method::POST, &format!("/engines/{id}/config"))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status() == 200,
            "bootstrap of {name}: {}",
            resp.status()
        );
        Ok((id, resp.text().await?))
    }

    /// Writes a bootstrap file for `name`; its path.
    pub fn save_bootstrap(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.keep.path().join(format!("{name}.properties"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// `http://<ip>:<engine port><path>`.
    pub fn engine_url(&self, ip: &str, path: &str) -> String {
        format!("http://{ip}:{}{path}", self.engine_port)
    }
}

/// Starts a `CLUSTERED_ENGINE` with this bootstrap file, its engine listeners on `ip`, polling
/// at once and otherwise with the default timing.
pub fn spawn_engine(bootstrap: &Path, ip: &str) -> anyhow::Result<NodeProc> {
    NodeProc::spawn(
        &[
            ("pa.operational.mode", "CLUSTERED_ENGINE".to_string()),
            ("engine.bootstrap.file", bootstrap.display().to_string()),
            ("engine.http.bindAddress", ip.to_string()),
            ("engine.polling.initialdelay", "0".to_string()),
        ],
        None,
    )
}

/// Minimum, median and maximum of `v` (sorted in place); zeros when empty.
pub fn min_median_max(v: &mut [Duration]) -> (Duration, Duration, Duration) {
    if v.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    v.sort();
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    (v[0], median, v[n - 1])
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// An environment variable parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{key}={v}: not a valid value")),
        Err(_) => Ok(default),
    }
}
