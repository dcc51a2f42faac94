//! The node under test as a real process: a temporary data directory, a generated
//! run.properties, the startup TOML, logs captured to files, killed on drop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::{free_port, wait};

/// Path of the node binary (same entry point as `gatehouse`): `gatehouse-e2e` next to the
/// `deps/` directory holding the running test executable.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    profile_dir.join("gatehouse-e2e")
}

/// Builds a node: configuration text and extra run.properties.
#[derive(Default)]
pub struct NodeBuilder {
    toml: Option<String>,
    props: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

fn launch(
    dir: &std::path::Path,
    stdout: std::fs::File,
    stderr: std::fs::File,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(binary());
    cmd.arg("--properties")
        .arg(dir.join("run.properties"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.spawn()?)
}

/// A running (or exited) node process.
pub struct Node {
    child: Child,
    env: Vec<(String, String)>,
    /// Temporary directory holding run.properties, the TOML, data and logs.
    pub dir: tempfile::TempDir,
    /// Admin port.
    pub admin_port: u16,
    /// Management port.
    pub management_port: u16,
}

impl NodeBuilder {
    /// Startup TOML document.
    pub fn toml(mut self, text: impl Into<String>) -> Self {
        self.toml = Some(text.into());
        self
    }

    /// An extra run.properties entry.
    pub fn prop(mut self, key: &str, value: impl ToString) -> Self {
        self.props.push((key.to_string(), value.to_string()));
        self
    }

    /// An environment variable for the process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(self) -> anyhow::Result<Node> {
        let dir = tempfile::tempdir()?;
        let admin_port = free_port();
        let management_port = free_port();
        let mut props = format!(
            "pa.data.dir=data\nadmin.port={admin_port}\nadmin.bindAddress=127.0.0.1\n\
             management.port={management_port}\nengine.http.bindAddress=127.0.0.1\n"
        );
        if let Some(toml) = &self.toml {
            std::fs::write(dir.path().join("gatehouse.toml"), toml)?;
            props.push_str("pa.startup.config=gatehouse.toml\n");
        }
        for (k, v) in &self.props {
            props.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(dir.path().join("run.properties"), props)?;
        let stdout = std::fs::File::create(dir.path().join("stdout.log"))?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let child = launch(dir.path(), stdout, stderr, &self.env)?;
        Ok(Node {
            child,
            dir,
            admin_port,
            management_port,
            env: self.env,
        })
    }

    /// Starts the process and waits until `/readyz` answers 200.
    pub async fn start(self) -> anyhow::Result<Node> {
        let mut node = self.spawn()?;
        node.wait_ready().await?;
        Ok(node)
    }
}

impl Node {
    /// A builder.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Waits for `/readyz`, failing early (with the log) if the process exits.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.management_port);
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("node exited with {status} before ready:\n{}", self.stderr());
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("node not ready after 30 s:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kills the process with SIGKILL (no chance to clean up) and waits for it to be gone.
    pub async fn kill_hard(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Starts the node again on the same directory (store, run.properties, TOML) and waits
    /// until it is ready. Logs are appended.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(name))
        };
        self.child = launch(
            self.dir.path(),
            open("stdout.log")?,
            open("stderr.log")?,
            &self.env,
        )?;
        self.wait_ready().await
    }

    /// `https://127.0.0.1:<admin port>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.admin_port)
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0)
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) with kill(1) (the workspace forbids `unsafe`).
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        if pid > 0 {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Waits for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, deadline: Duration) -> anyhow::Result<Option<i32>> {
        let status = tokio::time::timeout(deadline, self.child.wait()).await??;
        Ok(status.code())
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Peak resident memory of the process, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// Rewrites the startup TOML and asks the node to reload it (SIGHUP).
    pub fn reload(&self, toml: &str) -> anyhow::Result<()> {
        std::fs::write(self.dir.path().join("gatehouse.toml"), toml)?;
        self.signal(libc::SIGHUP);
        Ok(())
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_log(&self, needle: &str, deadline: Duration) -> anyhow::Result<()> {
        wait::until(needle, deadline, || async {
            self.stderr().contains(needle).then_some(())
        })
        .await
    }

    /// `http://127.0.0.1:<management>/<path>`.
    pub fn management_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.management_port)
    }
}
