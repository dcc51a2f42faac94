//! Mints the web-session cookies of `benches/load/websessions.sh` by logging users in for real.
//!
//! 1. Starts the OpenID provider fixture (`tests/fixtures/oidc-provider`, `npm ci` when needed)
//!    over plain HTTP on 127.0.0.1, its browser clients allowed to come back to
//!    `<gateway-url>/pa/oidc/cb`, and writes its issuer to `<dir>/issuer` (for the gateway's
//!    `oidcProvider`).
//! 2. Waits until the gateway answers `<gateway-url><path>` with a redirect to the provider.
//! 3. Logs `count` different users in (`bench-00000`, `bench-00001`, …), each with its own
//!    cookie-keeping client, as a browser would: the gateway's redirect, the provider's login
//!    and consent forms, the gateway's callback, which sets the session cookie.
//! 4. Checks that each cookie alone opens `<path>` (200), and writes them to `<dir>/sessions`,
//!    `<cookie-name>=<value>` one a line: the `Cookie` header of one user.
//!
//! The provider stops when this program exits: right after writing the cookies, or with `--serve`
//! when it is sent SIGTERM or SIGINT (so that the gateway can still start logins meanwhile).
//!
//! Usage: `web-sessions [--count N] [--parallel N] [--serve] <dir> <gateway-url> <path>
//! <cookie-name>` (count 1000, parallel 8 by default), e.g.
//! `web-sessions --count 1000 /tmp/s http://127.0.0.1:8080 /web/bench PA.web`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_tests::idp::{Idp, IdpOptions};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use tokio::signal::unix::{signal, SignalKind};

/// Longest wait for the gateway to answer the protected path with a login redirect.
const GATEWAY_DEADLINE: Duration = Duration::from_secs(120);

/// What one login needs.
struct Job {
    idp: Idp,
    /// The gateway's base URL, without a trailing slash.
    gateway: String,
    /// The protected path, e.g. `/web/bench`.
    path: String,
    /// The session cookie's name, e.g. `PA.web`.
    cookie: String,
    /// A client without cookies that does not follow redirects.
    plain: Client,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: web-sessions [--count N] [--parallel N] [--serve] <dir> <gateway-url> \
                 <path> <cookie-name>";
    let (mut count, mut parallel, mut serve) = (1000_usize, 8_usize, false);
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = args.next().context(usage)?.parse().context("--count")?,
            "--parallel" => parallel = args.next().context(usage)?.parse().context("--parallel")?,
            "--serve" => serve = true,
            _ if arg.starts_with("--") => anyhow::bail!("unknown option {arg}\n{usage}"),
            _ => positional.push(arg),
        }
    }
    let [dir, gateway, path, cookie] =
        <[String; 4]>::try_from(positional).map_err(|_| anyhow::anyhow!("{usage}"))?;
    let dir = PathBuf::from(dir);
    let gateway = gateway.trim_end_matches('/').to_string();
    anyhow::ensure!(parallel > 0, "--parallel must be at least 1");
    std::fs::create_dir_all(&dir)?;

    let idp = Idp::start(IdpOptions {
        redirect_uris: vec![format!("{gateway}/pa/oidc/cb")],
        tls: false,
        host: "127.0.0.1".to_string(),
        ..IdpOptions::default()
    })
    .await?;
    write_atomically(&dir, "issuer", &format!("{}\n", idp.issuer()))?;
    eprintln!("web-sessions: provider at {}", idp.issuer());

    let job = Arc::new(Job {
        idp,
        gateway,
        path,
        cookie,
        plain: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?,
    });
    wait_for_gateway(&job).await?;

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..parallel.min(count.max(1)) {
        let (job, next) = (job.clone(), next.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(done);
                }
                let user = format!("bench-{i:05}");
                let value = log_in(&job, &user)
                    .await
                    .with_context(|| format!("login of {user}"))?;
                done.push((i, value));
            }
        });
    }
    let mut sessions = Vec::with_capacity(count);
    while let Some(joined) = workers.join_next().await {
        sessions.extend(joined??);
    }
    sessions.sort_unstable_by_key(|(i, _)| *i);
    let mut lines = String::new();
    for (_, value) in &sessions {
        lines.push_str(&format!("{}={value}\n", job.cookie));
    }
    write_atomically(&dir, "sessions", &lines)?;
    let bytes = sessions.first().map_or(0, |(_, v)| v.len());
    eprintln!(
        "web-sessions: {} logins in {:.1?} ({parallel} at a time), cookies of about {bytes} \
         bytes, in {}",
        sessions.len(),
        started.elapsed(),
        dir.join("sessions").display()
    );
    if serve {
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    // Dropping the provider kills node.
    drop(job);
    Ok(())
}

/// Polls the protected path until the gateway redirects to the provider's authorization
/// endpoint (it is up and configured with this provider).
async fn wait_for_gateway(job: &Job) -> anyhow::Result<()> {
    let url = format!("{}{}", job.gateway, job.path);
    let authorize = job.idp.authorization_endpoint()?;
    let deadline = Instant::now() + GATEWAY_DEADLINE;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match job.plain.get(&url).send().await {
            Ok(r) if r.status() == StatusCode::FOUND && location(&r).starts_with(&authorize) => {
                return Ok(());
            }
            Ok(r) => last = format!("{} {}", r.status(), location(&r)),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the gateway did not redirect {url} to {authorize} within {GATEWAY_DEADLINE:?} (last: {last})")
}

/// Logs `user` in through the gateway with a new browser; the session cookie's value, checked.
async fn log_in(job: &Job, user: &str) -> anyhow::Result<String> {
    let browser = job.idp.browser_client()?;
    let url = format!("{}{}", job.gateway, job.path);
    let start = browser.get(&url).send().await?;
    anyhow::ensure!(
        start.status() == StatusCode::FOUND,
        "GET {url} answered {} instead of a redirect to the provider",
        start.status()
    );
    let callback = job.idp.login(&browser, &location(&start), user).await?;
    let done = browser.get(&callback).send().await?;
    anyhow::ensure!(
        done.status() == StatusCode::FOUND,
        "the callback answered {}: {}",
        done.status(),
        done.text().await.unwrap_or_default()
    );
    let prefix = format!("{}=", job.cookie);
    let value = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&prefix))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("the callback set no {} cookie", job.cookie))?;
    // A value split over several cookies starts with `<n>~`; the benchmark sends one cookie.
    anyhow::ensure!(
        !value.is_empty() && !value.contains('~'),
        "the session cookie is empty or split over several cookies: {value:.40}"
    );
    let check = job
        .plain
        .get(&url)
        .header(COOKIE, format!("{prefix}{value}"))
        .send()
        .await?;
    anyhow::ensure!(
        check.status() == StatusCode::OK,
        "GET {url} with the new session cookie answered {}",
        check.status()
    );
    Ok(value)
}

fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Writes `name` in `dir` through a temporary file, so that a reader never sees half of it.
fn write_atomically(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(name))
        .with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}
