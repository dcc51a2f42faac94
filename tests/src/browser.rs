//! A real headless Chromium driven over WebDriver (chromedriver + fantoccini), for tests that go
//! through pages as a person would: open a protected page, log in at the provider, log out.
//!
//! [`Browser::start`] runs `chromedriver` on a free port of 127.0.0.1 (its own process group),
//! waits until its `/status` says it is ready, and opens a session with a fresh profile. Dropping
//! the [`Browser`] kills chromedriver and every Chromium process under it, then removes the
//! profile. Needs the Debian packages `chromium` and `chromium-driver`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::{free_port, wait};

/// Where Debian puts the driver when it is not on `PATH`.
const CHROMEDRIVER_FALLBACK: &str = "/usr/bin/chromedriver";
/// Debian's Chromium (a launcher script that execs `/usr/lib/chromium/chromium`).
const CHROMIUM_BINARY: &str = "/usr/bin/chromium";
/// Longest wait for chromedriver's `/status` to say ready.
const DRIVER_READY_DEADLINE: Duration = Duration::from_secs(30);
/// Longest wait for the session (Chromium's start) to be created.
const SESSION_DEADLINE: Duration = Duration::from_secs(60);
/// How often a chromedriver that exits at once (port taken meanwhile) is started again.
const DRIVER_ATTEMPTS: usize = 3;
/// Longest wait for an element that [`Browser::fill`] and [`Browser::click`] look for.
pub const ELEMENT_DEADLINE: Duration = Duration::from_secs(10);
/// Page-load and script timeouts of the session (WebDriver's own default is 300 s).
const PAGE_LOAD_TIMEOUT_MS: u64 = 30_000;
/// Longest wait, on drop, for the killed processes to be gone.
const KILL_DEADLINE: Duration = Duration::from_secs(5);

/// What [`Browser::wait_for_url`] waits for: a substring (`&str`, `String`) or a predicate
/// (`|url: &str| ...`).
pub trait UrlMatch {
    /// Whether `url` is the one wanted.
    fn matches(&self, url: &str) -> bool;
    /// For the error message.
    fn describe(&self) -> String;
}

impl UrlMatch for &str {
    fn matches(&self, url: &str) -> bool {
        url.contains(*self)
    }
    fn describe(&self) -> String {
        format!("a URL containing {self:?}")
    }
}

impl UrlMatch for String {
    fn matches(&self, url: &str) -> bool {
        url.contains(self.as_str())
    }
    fn describe(&self) -> String {
        format!("a URL containing {self:?}")
    }
}

impl<F: Fn(&str) -> bool> UrlMatch for F {
    fn matches(&self, url: &str) -> bool {
        self(url)
    }
    fn describe(&self) -> String {
        "a URL matching the predicate".to_string()
    }
}

/// A headless Chromium with its chromedriver; both are killed on drop.
pub struct Browser {
    // Fields drop in this order: the client, then the driver (killing the processes), then the
    // profile directory (no longer in use).
    client: Client,
    driver: Driver,
    profile: tempfile::TempDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("webdriver", &self.driver.url())
            .field("profile", &self.profile.path())
            .finish()
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile that accepts any TLS
    /// certificate (the tests' servers use self-signed ones).
    pub async fn start() -> anyhow::Result<Browser> {
        let chromedriver = chromedriver_path()?;
        let driver = Driver::start(&chromedriver).await?;
        let profile = tempfile::Builder::new()
            .prefix("gatehouse-chromium-")
            .tempdir()?;
        let caps = capabilities(profile.path());
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let webdriver = driver.url();
        let connect = builder.connect(&webdriver);
        let client = match tokio::time::timeout(SESSION_DEADLINE, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => anyhow::bail!(
                "chromedriver could not start Chromium ({CHROMIUM_BINARY}; Debian package \
                 `chromium`): {e}\n{}",
                driver.logs()
            ),
            Err(_) => anyhow::bail!(
                "no WebDriver session after {SESSION_DEADLINE:?} (Chromium did not start)\n{}",
                driver.logs()
            ),
        };
        Ok(Browser {
            client,
            driver,
            profile,
        })
    }

    /// chromedriver's process id, then those of every process under it (Chromium, its helpers):
    /// what drop kills.
    pub fn pids(&self) -> Vec<u32> {
        let leader = self.driver.child.id();
        let mut pids = vec![leader];
        pids.extend(descendants(leader));
        pids
    }

    /// The fantoccini client, for what the methods here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for the page to load (redirects included).
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// The current page's HTML, as the DOM now is.
    pub async fn page_source(&self) -> anyhow::Result<String> {
        Ok(self.client.source().await?)
    }

    /// The visible text of the current page's `<body>`.
    pub async fn body_text(&self) -> anyhow::Result<String> {
        let body = self.client.find(Locator::Css("body")).await?;
        Ok(body.text().await?)
    }

    /// The first element matching the CSS selector, waiting up to `deadline` for it to appear.
    pub async fn wait_for_element(&self, css: &str, deadline: Duration) -> anyhow::Result<Element> {
        let client = &self.client;
        let found = wait::until(
            &format!("an element matching `{css}`"),
            deadline,
            || async move { client.find(Locator::Css(css)).await.ok() },
        )
        .await;
        match found {
            Ok(element) => Ok(element),
            Err(e) => Err(self.with_page(e).await),
        }
    }

    /// Types `text` into the element matching the CSS selector (cleared first).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.wait_for_element(css, ELEMENT_DEADLINE).await?;
        element
            .clear()
            .await
            .map_err(|e| anyhow::anyhow!("cannot clear `{css}`: {e}"))?;
        element
            .send_keys(text)
            .await
            .map_err(|e| anyhow::anyhow!("cannot type into `{css}`: {e}"))
    }

    /// Clicks the element matching the CSS selector.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.wait_for_element(css, ELEMENT_DEADLINE).await?;
        element
            .click()
            .await
            .map_err(|e| anyhow::anyhow!("cannot click `{css}`: {e}"))
    }

    /// Waits until the current URL matches (a substring, or a predicate on the URL); that URL.
    pub async fn wait_for_url(
        &self,
        wanted: impl UrlMatch,
        deadline: Duration,
    ) -> anyhow::Result<String> {
        let what = wanted.describe();
        let wanted = &wanted;
        let found = wait::until(&what, deadline, || async move {
            self.current_url().await.ok().filter(|u| wanted.matches(u))
        })
        .await;
        match found {
            Ok(url) => Ok(url),
            Err(e) => Err(self.with_page(e).await),
        }
    }

    /// Waits until the page's visible text contains `text`; that text.
    pub async fn wait_for_text(&self, text: &str, deadline: Duration) -> anyhow::Result<String> {
        let found = wait::until(&format!("the text {text:?}"), deadline, || async move {
            self.body_text().await.ok().filter(|t| t.contains(text))
        })
        .await;
        match found {
            Ok(body) => Ok(body),
            Err(e) => Err(self.with_page(e).await),
        }
    }

    /// The cookies the browser would send to the current page (`HttpOnly` ones included), as
    /// name and value.
    pub async fn cookies(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .client
            .get_all_cookies()
            .await?
            .into_iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect())
    }

    /// The value of cookie `name` for the current page, if set.
    pub async fn cookie(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .cookies()
            .await?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v))
    }

    /// A PNG of the viewport (to look at when a flow goes wrong).
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self.client.screenshot().await?)
    }

    /// Ends the session (Chromium quits), then stops chromedriver. Dropping the browser without
    /// calling this kills both.
    pub async fn close(self) -> anyhow::Result<()> {
        let Browser {
            client,
            driver,
            profile,
        } = self;
        let closed = client.close().await;
        drop(driver);
        drop(profile);
        Ok(closed?)
    }

    /// `err`, with where the browser is and what it shows.
    async fn with_page(&self, err: anyhow::Error) -> anyhow::Error {
        let url = self
            .current_url()
            .await
            .unwrap_or_else(|e| format!("(no URL: {e})"));
        let text = self
            .body_text()
            .await
            .unwrap_or_else(|e| format!("(no text: {e})"));
        let text: String = text.chars().take(2000).collect();
        err.context(format!("the browser is at {url}, showing:\n{text}"))
    }
}

/// Session capabilities: headless Chromium, fresh profile, self-signed certificates accepted.
fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let mut chrome = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--ignore-certificate-errors",
            "--no-first-run",
            "--no-default-browser-check",
            "--window-size=1280,800",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if Path::new(CHROMIUM_BINARY).exists() {
        chrome["binary"] = json!(CHROMIUM_BINARY);
    }
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "pageLoadStrategy": "normal",
        "timeouts": {
            "pageLoad": PAGE_LOAD_TIMEOUT_MS,
            "script": PAGE_LOAD_TIMEOUT_MS,
            "implicit": 0,
        },
        "goog:chromeOptions": chrome,
    });
    match caps {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// `chromedriver` on `PATH`, else Debian's `/usr/bin/chromedriver`.
fn chromedriver_path() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file());
    let fallback = Path::new(CHROMEDRIVER_FALLBACK);
    match on_path {
        Some(p) => Ok(p),
        None if fallback.is_file() => Ok(fallback.to_path_buf()),
        None => anyhow::bail!(
            "chromedriver not found on PATH nor at {CHROMEDRIVER_FALLBACK}: the browser tests \
             need the Debian packages `chromium` and `chromium-driver` \
             (apt-get install -y chromium chromium-driver)"
        ),
    }
}

/// The chromedriver process, leader of its own process group; logs in a temporary directory.
struct Driver {
    child: Child,
    port: u16,
    logs: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until `/status` says ready. A driver that
    /// exits at once (another process took the port meanwhile) is started again on another one.
    async fn start(binary: &Path) -> anyhow::Result<Driver> {
        let mut last_error = None;
        for _ in 0..DRIVER_ATTEMPTS {
            let mut driver = Driver::spawn(binary)?;
            match driver.wait_ready().await {
                Ok(()) => return Ok(driver),
                Err(DriverFailure::Exited(why)) => last_error = Some(why),
                Err(DriverFailure::Fatal(e)) => return Err(e),
            }
        }
        anyhow::bail!(
            "chromedriver exited at start {DRIVER_ATTEMPTS} times; last: {}",
            last_error.unwrap_or_default()
        )
    }

    fn spawn(binary: &Path) -> anyhow::Result<Driver> {
        use std::os::unix::process::CommandExt;

        let logs = tempfile::Builder::new()
            .prefix("gatehouse-chromedriver-")
            .tempdir()?;
        let port = free_port();
        anyhow::ensure!(port != 0, "no free port on 127.0.0.1");
        let stdout = std::fs::File::create(logs.path().join("stdout.log"))?;
        let stderr = std::fs::File::create(logs.path().join("stderr.log"))?;
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own group, so that drop can kill Chromium with it.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot run {}: {e} (Debian packages `chromium` and `chromium-driver`)",
                    binary.display()
                )
            })?;
        Ok(Driver { child, port, logs })
    }

    async fn wait_ready(&mut self) -> Result<(), DriverFailure> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| DriverFailure::Fatal(e.into()))?;
        let status_url = format!("{}/status", self.url());
        let child = &mut self.child;
        let outcome = wait::until(
            "chromedriver's /status to say ready",
            DRIVER_READY_DEADLINE,
            || {
                let exited = child.try_wait();
                let http = &http;
                let status_url = &status_url;
                async move {
                    match exited {
                        Ok(Some(status)) => return Some(Err(format!("exited with {status}"))),
                        Err(e) => return Some(Err(format!("cannot poll the process: {e}"))),
                        Ok(None) => {}
                    }
                    let status: Value =
                        http.get(status_url).send().await.ok()?.json().await.ok()?;
                    (status["value"]["ready"] == true).then_some(Ok(()))
                }
            },
        )
        .await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(DriverFailure::Exited(format!(
                "chromedriver {why}\n{}",
                self.logs()
            ))),
            Err(e) => Err(DriverFailure::Fatal(anyhow::anyhow!(
                "{e}\n{}",
                self.logs()
            ))),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// chromedriver's stdout and stderr so far.
    fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.logs.path().join(name)).unwrap_or_default();
        format!(
            "--- chromedriver stdout ---\n{}\n--- chromedriver stderr ---\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }
}

enum DriverFailure {
    /// The process exited before it was ready: worth another try.
    Exited(String),
    /// Anything else.
    Fatal(anyhow::Error),
}

impl Drop for Driver {
    fn drop(&mut self) {
        let leader = self.child.id();
        // Chromium and its helpers, found before anything dies and gets re-parented.
        let mut pids = descendants(leader);
        pids.push(leader);
        // kill(1) rather than kill(2): the workspace forbids `unsafe`.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{leader}"))
            .args(pids.iter().map(u32::to_string))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let end = Instant::now() + KILL_DEADLINE;
        while pids.iter().any(|&p| alive(p)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `/proc/<pid>/stat` fields after the command name: state, ppid, ….
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` runs (exists and is no zombie).
fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|state| state != "Z"))
}

/// Every process below `root` in the parent tree.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let ppid = stat_fields(pid)?.get(1)?.parse::<u32>().ok()?;
                    Some((pid, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}
