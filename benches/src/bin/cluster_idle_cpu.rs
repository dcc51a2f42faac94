//! Console CPU with many idle long-polling engines (issue target: < 1 % of one core with 100
//! engines).
//!
//! A real `CLUSTERED_CONSOLE` (the release `gatehouse` binary, `engine.polling.delay` at its
//! default of 2000 ms unless `POLLING_DELAY_MS` is set) and `ENGINES` simulated engines in this
//! process, registered through the admin API (`POST /engines`, `POST /engines/{id}/config`).
//! Each simulated engine polls exactly as `gatehouse_admin::cluster::engine_node` does: its own
//! HTTPS client pinned to the config-query certificate's fingerprint (kept-alive connection), a
//! fresh ES256 poll token per request, the first poll without a digest (gets the snapshot and
//! its `x-snapshot-digest`, then posts its report), every later one with `have=<digest>` (held
//! by the console for the polling delay, then `204`). Starts are spread evenly over one polling
//! delay (`START_SPREAD_MS`; 0 starts them together, so their polls arrive in bursts).
//!
//! Measured: the console's CPU time (`utime + stime` of `/proc/<pid>/stat`, all threads) over
//! `BASELINE_SECS` before any engine polls and over `DURATION_SECS` after `WARMUP_SECS` of
//! polling; polls completed per second; this process's own CPU; the machine's total busy time.
//!
//! Usage: `cluster-idle-cpu` (env: `ENGINES=100`, `DURATION_SECS=60`, `BASELINE_SECS=30`,
//! `WARMUP_SECS=10`, `POLLING_DELAY_MS`, `START_SPREAD_MS`). Prints a Markdown table on stdout,
//! progress on stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_admin::cluster::bootstrap::Bootstrap;
use gatehouse_admin::cluster::{pinning, token};
use gatehouse_benches::cluster::{cpu_time, env_or, loadavg, machine_jiffies, Console};
use serde_json::json;

#[derive(Default)]
struct Counters {
    snapshots: AtomicU64,
    unchanged: AtomicU64,
    reports: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn polls(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed) + self.unchanged.load(Ordering::Relaxed)
    }
}

/// One simulated engine: polls until aborted.
async fn engine(
    b: Bootstrap,
    polling_delay: Duration,
    start_after: Duration,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let tls = pinning::client_config(pinning::Pins::new(&b.fingerprints))?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(polling_delay + Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("https://{}:{}", b.admin_host, b.admin_port);
    tokio::time::sleep(start_after).await;
    let mut digest = String::new();
    loop {
        let token = token::mint(&b)?;
        let url = format!("{base}/engines/rest/config?have={digest}");
        let resp = match client.get(&url).bearer_auth(token).send().await {
            Ok(r) => r,
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("engine {}: {e}", b.engine_id);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match resp.status().as_u16() {
            204 => {
                counters.unchanged.fetch_add(1, Ordering::Relaxed);
            }
            200 => {
                digest = resp
                    .headers()
                    .get("x-snapshot-digest")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body: serde_json::Value = resp.json().await?;
                counters.snapshots.fetch_add(1, Ordering::Relaxed);
                let report = json!({"appliedRevision": body["revision"].as_u64().unwrap_or(0)});
                let r = client
                    .post(format!("{base}/engines/rest/report"))
                    .bearer_auth(token::mint(&b)?)
                    .json(&report)
                    .send()
                    .await?;
                if r.status().is_success() {
                    counters.reports.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            other => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("engine {}: console answered {other}", b.engine_id);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

struct Window {
    wall: Duration,
    console_cpu: Duration,
    own_cpu: Duration,
    polls: u64,
    snapshots: u64,
    errors: u64,
    machine_busy: f64,
}

/// Runs `secs` and measures what happened meanwhile.
async fn window(console_pid: u32, counters: &Counters, secs: u64) -> anyhow::Result<Window> {
    let me = std::process::id();
    let (busy0, total0) = machine_jiffies()?;
    let (c0, o0) = (cpu_time(console_pid)?, cpu_time(me)?);
    let (p0, s0, e0) = (
        counters.polls(),
        counters.snapshots.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = started.elapsed();
    let (c1, o1) = (cpu_time(console_pid)?, cpu_time(me)?);
    let (busy1, total1) = machine_jiffies()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Ok(Window {
        wall,
        console_cpu: c1.saturating_sub(c0),
        own_cpu: o1.saturating_sub(o0),
        polls: counters.polls() - p0,
        snapshots: counters.snapshots.load(Ordering::Relaxed) - s0,
        errors: counters.errors.load(Ordering::Relaxed) - e0,
        // In cores busy (0..=cores).
        machine_busy: (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64 * cores,
    })
}

fn pct(cpu: Duration, wall: Duration) -> f64 {
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("ENGINES", 100)?;
    let duration: u64 = env_or("DURATION_SECS", 60)?;
    let baseline_secs: u64 = env_or("BASELINE_SECS", 30)?;
    let warmup: u64 = env_or("WARMUP_SECS", 10)?;
    let delay_ms: Option<u64> = match std::env::var("POLLING_DELAY_MS") {
        Ok(v) => Some(v.trim().parse().context("POLLING_DELAY_MS")?),
        Err(_) => None,
    };
    let polling_delay = Duration::from_millis(delay_ms.unwrap_or(2000));

    let console = Console::start(delay_ms).await?;
    let pid = console.node.pid();
    eprintln!("console pid {pid}; registering {n} engines");
    let mut bootstraps = Vec::new();
    for i in 0..n {
        let (_, text) = console.register(&format!("sim-{i}")).await?;
        bootstraps.push(Bootstrap::parse(text.as_bytes(), "bootstrap")?);
    }
    let counters = Arc::new(Counters::default());

    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!("baseline: {baseline_secs} s without engines");
    let base = window(pid, &counters, baseline_secs).await?;

    let mut tasks = tokio::task::JoinSet::new();
    let spread = Duration::from_millis(env_or(
        "START_SPREAD_MS",
        u64::try_from(polling_delay.as_millis())?,
    )?) / u32::try_from(n.max(1))?;
    for (i, b) in bootstraps.into_iter().enumerate() {
        let start_after = spread * u32::try_from(i)?;
        tasks.spawn(engine(b, polling_delay, start_after, counters.clone()));
    }
    eprintln!("{n} engines polling; warm-up {warmup} s");
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    eprintln!(
        "after warm-up: {} snapshots, {} reports, {} errors; measuring {duration} s (loadavg {})",
        counters.snapshots.load(Ordering::Relaxed),
        counters.reports.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
        loadavg()
    );
    let load = window(pid, &counters, duration).await?;
    let load_after = loadavg();
    if let Some(Ok(Err(e))) = tasks.try_join_next() {
        eprintln!("a simulated engine stopped: {e}");
    }
    let alive = tasks.len();

    // Every engine should show as green.
    let (_, status) = console.api.get("/engines/status").await?;
    let items = status["items"].as_array().cloned().unwrap_or_default();
    let green = items.iter().filter(|e| e["status"] == "green").count();
    let rss = console.node.rss_kib().unwrap_or(0);
    tasks.abort_all();

    let base_pct = pct(base.console_cpu, base.wall);
    let load_pct = pct(load.console_cpu, load.wall);
    let polls_per_s = load.polls as f64 / load.wall.as_secs_f64();
    // CPU beyond what the idle console would have used over the same wall time.
    let extra = load.console_cpu.as_secs_f64() - base_pct / 100.0 * load.wall.as_secs_f64();
    let per_poll_us = if load.polls > 0 {
        extra / load.polls as f64 * 1e6
    } else {
        0.0
    };
    println!(
        "| phase | wall (s) | console CPU (ms) | console % of one core | polls/s | console CPU µs/poll over idle | load generator % of one core | whole machine busy (cores of {}) |",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| idle, no engine polling | {:.1} | {} | {:.2} % | 0 | – | {:.2} % | {:.2} |",
        base.wall.as_secs_f64(),
        base.console_cpu.as_millis(),
        base_pct,
        pct(base.own_cpu, base.wall),
        base.machine_busy
    );
    println!(
        "| {n} engines long-polling | {:.1} | {} | {:.2} % | {:.1} | {:.0} | {:.2} % | {:.2} |",
        load.wall.as_secs_f64(),
        load.console_cpu.as_millis(),
        load_pct,
        polls_per_s,
        per_poll_us,
        pct(load.own_cpu, load.wall),
        load.machine_busy
    );
    println!();
    println!(
        "- target < 1 % of one core with {n} engines: {}",
        if load_pct < 1.0 { "met" } else { "not met" }
    );
    println!(
        "- engine.polling.delay {} ms, starts spread over {} ms; {} snapshots and {} errors during the window; {alive}/{n} \
         simulated engines running at the end; {green}/{} engines green in /engines/status",
        polling_delay.as_millis(),
        (spread * u32::try_from(n)?).as_millis(),
        load.snapshots,
        load.errors,
        items.len()
    );
    println!("- console RSS at the end: {rss} KiB; loadavg at the end `{load_after}`");
    Ok(())
}
