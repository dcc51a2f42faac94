//! Propagation time of a configuration change to every engine of a cluster (issue target:
//! < 1 s with 16 engines).
//!
//! For each cluster size N: a real `CLUSTERED_CONSOLE` and N real `CLUSTERED_ENGINE` processes
//! (the release `gatehouse` binary; engine i binds its listeners on 127.0.0.(2+i), all on the
//! same port), default polling timing (`engine.polling.delay` 2000 ms). Once every engine serves
//! the startup application, each change creates an application through the admin API
//! (`POST /applications`, then its unprotected `/*` resource) and the clock runs from the first
//! call until every engine answers `200` through the new context root; each engine is polled
//! every `POLL_MS` over a kept-alive connection. Changes are spaced 1.0–2.0 s apart so they land
//! at different points of the engines' long-poll.
//!
//! Usage: `cluster-propagation` (env: `ENGINES="1 4 16"`, `CHANGES=10`, `POLL_MS=10`).
//! Prints a Markdown table on stdout, progress on stderr.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_benches::cluster::{
    env_or, loadavg, min_median_max, ms, spawn_engine, Console, NodeProc,
};
use serde_json::json;

/// Longest wait for one engine to serve a change.
const GIVE_UP: Duration = Duration::from_secs(30);

struct Row {
    engines: usize,
    changes: usize,
    api: (Duration, Duration, Duration),
    first: (Duration, Duration, Duration),
    all: (Duration, Duration, Duration),
    samples: Vec<Duration>,
    load_before: String,
    load_after: String,
}

/// Time until `url` answers 200, from `started`, polling every `every`.
async fn until_served(
    http: reqwest::Client,
    url: String,
    started: Instant,
    every: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if r.status() == 200 {
                return Ok(started.elapsed());
            }
        }
        anyhow::ensure!(
            started.elapsed() < GIVE_UP,
            "{url} not served after {GIVE_UP:?}"
        );
        tokio::time::sleep(every).await;
    }
}

async fn measure(n: usize, changes: usize, every: Duration) -> anyhow::Result<Row> {
    anyhow::ensure!(n <= 250, "at most 250 engines (127.0.0.2–251)");
    let console = Console::start(None).await?;
    let mut engines: Vec<(String, NodeProc)> = Vec::new();
    for i in 0..n {
        let name = format!("engine-{i}");
        let (_, text) = console.register(&name).await?;
        let path = console.save_bootstrap(&name, &text)?;
        let ip = format!("127.0.0.{}", 2 + i);
        engines.push((ip.clone(), spawn_engine(&path, &ip)?));
    }
    for (ip, e) in &mut engines {
        e.wait_ready(Duration::from_secs(60))
            .await
            .with_context(|| format!("engine on {ip}"))?;
    }
    // One client per engine: its own kept-alive connection, as a load balancer's health check.
    let clients: Vec<reqwest::Client> = engines
        .iter()
        .map(|_| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
        })
        .collect::<Result<_, _>>()?;
    let boot = Instant::now();
    for ((ip, _), http) in engines.iter().zip(&clients) {
        until_served(http.clone(), console.engine_url(ip, "/app/x"), boot, every).await?;
    }
    eprintln!(
        "{n} engine(s) ready (console pid {}); measuring {changes} changes",
        console.node.pid()
    );

    let load_before = loadavg();
    let mut api_times = Vec::new();
    let mut first_times = Vec::new();
    let mut all_times = Vec::new();
    for k in 0..changes {
        // 1.0–2.0 s apart, in steps that walk the long-poll cycle.
        tokio::time::sleep(Duration::from_millis(1000 + (k as u64 * 373) % 1000)).await;
        let root = format!("/change{k}");
        let started = Instant::now();
        let app = json!({"name": format!("change {k}"), "contextRoot": root,
                         "virtualHostIds": [1], "siteId": 1});
        let (status, created) = console.api.post("/applications", &app).await?;
        anyhow::ensure!(status == 200, "create application: {status} {created}");
        let app_id = created["id"].as_u64().context("application without id")?;
        let resource = json!({"name": "all", "unprotected": true,
                              "pathPatterns": [{"type": "WILDCARD", "pattern": "/*"}]});
        let (status, body) = console
            .api
            .post(&format!("/applications/{app_id}/resources"), &resource)
            .await?;
        anyhow::ensure!(status == 200, "create resource: {status} {body}");
        api_times.push(started.elapsed());
        let mut set = tokio::task::JoinSet::new();
        for ((ip, _), http) in engines.iter().zip(&clients) {
            set.spawn(until_served(
                http.clone(),
                console.engine_url(ip, &format!("{root}/x")),
                started,
                every,
            ));
        }
        let mut per_engine = Vec::new();
        while let Some(r) = set.join_next().await {
            per_engine.push(r??);
        }
        let (first, _, all) = min_median_max(&mut per_engine);
        eprintln!(
            "  N={n} change {k}: api {} ms, first engine {} ms, all engines {} ms",
            ms(api_times[k]),
            ms(first),
            ms(all)
        );
        first_times.push(first);
        all_times.push(all);
    }
    let load_after = loadavg();
    let samples = all_times.clone();
    Ok(Row {
        engines: n,
        changes,
        api: min_median_max(&mut api_times),
        first: min_median_max(&mut first_times),
        all: min_median_max(&mut all_times),
        samples,
        load_before,
        load_after,
    })
}

fn triple(t: (Duration, Duration, Duration)) -> String {
    format!("{} / {} / {}", ms(t.0), ms(t.1), ms(t.2))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("ENGINES")
        .unwrap_or_else(|_| "1 4 16".into())
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("ENGINES: numbers separated by spaces")?;
    let changes: usize = env_or("CHANGES", 10)?;
    let every = Duration::from_millis(env_or("POLL_MS", 10)?);
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(measure(n, changes, every).await?);
    }
    println!(
        "| engines | changes | admin API calls (ms) min / median / max | first engine serving (ms) \
         min / median / max | all engines serving (ms) min / median / max | < 1 s |"
    );
    println!("|---:|---:|---:|---:|---:|:---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.engines,
            r.changes,
            triple(r.api),
            triple(r.first),
            triple(r.all),
            if r.all.2 < Duration::from_secs(1) {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!();
    for r in &rows {
        let all: Vec<String> = r.samples.iter().map(|d| ms(*d)).collect();
        println!(
            "- N={}: all-engines times (ms, in order) {}; loadavg before `{}`, after `{}`",
            r.engines,
            all.join(", "),
            r.load_before,
            r.load_after
        );
    }
    println!("- engine URLs polled every {} ms", every.as_millis());
    Ok(())
}
