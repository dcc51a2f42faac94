//! A cluster as real processes on loopback: one `CLUSTERED_CONSOLE` and three
//! `CLUSTERED_ENGINE` nodes (engine listeners on 127.0.0.2–4, same port). Propagation of a new
//! application to every engine (measured), engines serving on after the console is killed, an
//! engine restarted from its last good snapshot, a never-synced engine's `503`, poll tokens
//! refused (forged, replayed, expired, wrong audience, re-issued bootstrap), `/engines/status`.

use std::time::{Duration, Instant};

use gatehouse_admin::cluster::bootstrap::Bootstrap;
use gatehouse_admin::cluster::token;
use gatehouse_tests::admin::AdminClient;
use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::client::{fingerprint, served_certificate_at};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port, wait};
use serde_json::json;

const PASSWORD: &str = "cluster-admin-password";

pub(crate) struct Cluster {
    pub(crate) console: Node,
    pub(crate) api: AdminClient,
    pub(crate) config_port: u16,
    pub(crate) engine_port: u16,
    _backend: Backend,
    pub(crate) keep: tempfile::TempDir,
}

/// A `CLUSTERED_CONSOLE` node serving the configuration query on loopback `config_port`.
fn console_node(toml: String, config_port: u16) -> gatehouse_tests::node::NodeBuilder {
    Node::builder()
        .toml(toml)
        .prop("pa.operational.mode", "CLUSTERED_CONSOLE")
        .prop("admin.initial.password", PASSWORD)
        .prop("clusterconfig.port", config_port)
        .prop("clusterconfig.bindAddress", "127.0.0.1")
        .prop("clusterconfig.public.host", "127.0.0.1")
}

async fn console() -> anyhow::Result<Cluster> {
    console_with(|b| b).await
}

/// A console with three engines' worth of settings; `extra` adds properties.
pub(crate) async fn console_with(
    extra: impl FnOnce(gatehouse_tests::node::NodeBuilder) -> gatehouse_tests::node::NodeBuilder,
) -> anyhow::Result<Cluster> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let engine_port = free_port();
    let config_port = free_port();
    let toml = config::simple(engine_port, false, "/app", &[&backend.target()]);
    let console = extra(console_node(toml, config_port).prop("engine.polling.delay", 1000))
        .start()
        .await?;
    let api = AdminClient::new(console.admin_port, "Administrator", PASSWORD);
    Ok(Cluster {
        console,
        api,
        config_port,
        engine_port,
        _backend: backend,
        keep: tempfile::tempdir()?,
    })
}

impl Cluster {
    /// Registers an engine and writes its bootstrap file; returns (id, file, text).
    pub(crate) async fn register(
        &self,
        name: &str,
    ) -> anyhow::Result<(u64, std::path::PathBuf, String)> {
        let (status, engine) = self.api.post("/engines", &json!({ "name": name })).await?;
        anyhow::ensure!(status == 200, "register {name}: {status} {engine}");
        let id = engine["id"].as_u64().unwrap_or(0);
        let text = self.bootstrap_text(id).await?;
        let path = self.keep.path().join(format!("{name}.properties"));
        std::fs::write(&path, &text)?;
        Ok((id, path, text))
    }

    async fn bootstrap_text(&self, id: u64) -> anyhow::Result<String> {
        let resp = self
            .api
            .request(reqwest::Method::POST, &format!("/engines/{id}/config"))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "bootstrap: {}", resp.status());
        Ok(resp.text().await?)
    }

    pub(crate) fn engine(
        &self,
        bootstrap: &std::path::Path,
        ip: &str,
    ) -> gatehouse_tests::node::NodeBuilder {
        Node::builder()
            .prop("pa.operational.mode", "CLUSTERED_ENGINE")
            .prop("engine.bootstrap.file", bootstrap.display())
            .prop("engine.http.bindAddress", ip)
            .prop("engine.polling.initialdelay", 0)
            .prop("engine.polling.delay", 1000)
            .prop("pa.config.replication.retryDelay", 200)
    }

    pub(crate) fn url(&self, ip: &str, path: &str) -> String {
        format!("http://{ip}:{}{path}", self.engine_port)
    }

    /// Adds an application at `root` with one unprotected `/*` resource.
    pub(crate) async fn add_open_application(&self, name: &str, root: &str) -> anyhow::Result<()> {
        let app = json!({"name": name, "contextRoot": root, "virtualHostIds": [1], "siteId": 1});
        let (status, created) = self.api.post("/applications", &app).await?;
        anyhow::ensure!(status == 200, "{created}");
        let app_id = created["id"].as_u64().unwrap_or(0);
        let (status, body) = self
            .api
            .post(
                &format!("/applications/{app_id}/resources"),
                &json!({"name": "all", "pathPatterns": [{"type": "WILDCARD", "pattern": "/*"}],
                        "unprotected": true}),
            )
            .await?;
        anyhow::ensure!(status == 200, "{body}");
        Ok(())
    }

    /// Waits until every engine of [`IPS`] answers `200` at `path`.
    pub(crate) async fn wait_all_serving(&self, path: &str) -> anyhow::Result<()> {
        for ip in IPS {
            let url = self.url(ip, path);
            wait::until(
                &format!("{ip} serving {path}"),
                Duration::from_secs(5),
                || async { (status_of(&url).await == Some(200)).then_some(()) },
            )
            .await?;
        }
        Ok(())
    }

    /// A token request straight to the config-query listener.
    async fn poll_with(&self, token: &str) -> anyhow::Result<u16> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(http
            .get(format!(
                "https://127.0.0.1:{}/engines/rest/config?have=x",
                self.config_port
            ))
            .bearer_auth(token)
            .send()
            .await?
            .status()
            .as_u16())
    }
}

async fn status_of(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// Waits until `url` answers 200: an engine binds its listeners just after it applied the
/// snapshot that names them (`/readyz` says the snapshot is applied).
pub(crate) async fn serving(url: &str) -> anyhow::Result<()> {
    wait::until(
        &format!("{url} answering 200"),
        Duration::from_secs(10),
        || async { (status_of(url).await == Some(200)).then_some(()) },
    )
    .await
}

pub(crate) const IPS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

#[tokio::test]
async fn three_engines_follow_the_console_and_serve_on_without_it() -> anyhow::Result<()> {
    let c = console().await?;
    let mut engines = Vec::new();
    for (i, ip) in IPS.iter().enumerate() {
        let (_, path, _) = c.register(&format!("engine-{i}")).await?;
        engines.push(c.engine(&path, ip).start().await?);
    }
    for ip in IPS {
        serving(&c.url(ip, "/app/x")).await?;
    }

    // A new application reaches every engine; measured from the API call.
    let started = Instant::now();
    c.add_open_application("new app", "/new").await?;
    c.wait_all_serving("/new/x").await?;
    let slowest = started.elapsed();
    println!("propagation of a new application to 3 engines: {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");

    // Status: every engine green, on the current revision.
    let (_, status) = c.api.get("/engines/status").await?;
    let items = status["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{status}");
    let current = items[0]["currentRevision"].as_u64().unwrap_or(0);
    wait::until(
        "every engine reports the current revision",
        Duration::from_secs(5),
        || async {
            let (_, s) = c.api.get("/engines/status").await.ok()?;
            s["items"]
                .as_array()?
                .iter()
                .all(|e| e["appliedRevision"] == current && e["status"] == "green")
                .then_some(())
        },
    )
    .await?;

    // Both sides count the link.
    let engine_metrics = reqwest::get(engines[1].management_url("/metrics"))
        .await?
        .text()
        .await?;
    let applied = engine_metrics
        .lines()
        .find(|l| l.starts_with("gatehouse_cluster_snapshots_applied_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(applied >= 2.0, "{engine_metrics}");
    assert!(engine_metrics.contains("gatehouse_cluster_propagation_seconds_count"));
    let console_metrics = reqwest::get(c.console.management_url("/metrics"))
        .await?
        .text()
        .await?;
    assert!(console_metrics.contains("gatehouse_cluster_snapshots_published_total"));

    // The console dies: engines serve on; one restarts from its last good snapshot.
    let mut c = c;
    c.console.kill_hard().await?;
    for ip in IPS {
        assert_eq!(
            status_of(&c.url(ip, "/new/x")).await,
            Some(200),
            "{ip} without console"
        );
    }
    engines[0].kill_hard().await?;
    engines[0].restart().await?;
    serving(&c.url(IPS[0], "/new/x")).await?;
    let stored = std::fs::metadata(
        engines[0]
            .dir
            .path()
            .join("data")
            .join("last-good-snapshot.bin"),
    )?;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(stored.permissions().mode() & 0o777, 0o600);
    let raw = std::fs::read(
        engines[0]
            .dir
            .path()
            .join("data")
            .join("last-good-snapshot.bin"),
    )?;
    assert!(
        !String::from_utf8_lossy(&raw).contains("PRIVATE KEY"),
        "the last good snapshot is encrypted"
    );
    Ok(())
}

#[tokio::test]
async fn poll_tokens_are_checked_and_a_new_bootstrap_locks_out_the_old_key() -> anyhow::Result<()> {
    let c = console().await?;
    let (id, path, text) = c.register("solo").await?;
    let b = Bootstrap::parse(text.as_bytes(), "bootstrap")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();

    let valid = token::mint(&b)?;
    assert_eq!(
        c.poll_with(&valid).await?,
        200,
        "a valid token gets the snapshot"
    );
    assert_eq!(c.poll_with(&valid).await?, 401, "replayed");
    let expired = token::mint_at(&b, &b.audience, now - 600, now - 300)?;
    assert_eq!(c.poll_with(&expired).await?, 401, "expired");
    let foreign = token::mint_at(&b, "SomeOtherServer", now, now + 60)?;
    assert_eq!(c.poll_with(&foreign).await?, 401, "wrong audience");
    let (forger_key, _) = gatehouse_admin::cluster::bootstrap::new_key();
    let forged = Bootstrap {
        key: forger_key,
        ..b.clone()
    };
    assert_eq!(c.poll_with(&token::mint(&forged)?).await?, 401, "forged");
    assert_eq!(c.poll_with("not-a-token").await?, 401);

    // A never-synced engine (its console unreachable) answers the heartbeat with 503.
    let nowhere = c.keep.path().join("nowhere.properties");
    std::fs::write(
        &nowhere,
        text.replace(
            &format!("engine.admin.port={}", c.config_port),
            &format!("engine.admin.port={}", free_port()),
        ),
    )?;
    let lonely = c.engine(&nowhere, "127.0.0.5").spawn()?;
    let heartbeat = format!(
        "http://127.0.0.1:{}/pa/heartbeat.ping",
        lonely.management_port
    );
    let seen = wait::until(
        "the never-synced engine's heartbeat",
        Duration::from_secs(10),
        || async { status_of(&heartbeat).await },
    )
    .await?;
    assert_eq!(seen, 503);

    // Re-issuing the bootstrap replaces the key: the old one stops working.
    let _ = path;
    let _new = c.bootstrap_text(id).await?;
    assert_eq!(
        c.poll_with(&token::mint(&b)?).await?,
        401,
        "old key after re-issue"
    );
    assert_eq!(c.api.delete(&format!("/engines/{id}")).await?.0, 204);
    Ok(())
}

#[tokio::test]
async fn a_virtual_hosts_new_key_pair_is_served_by_every_engine_without_restart(
) -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let engine_port = free_port();
    let config_port = free_port();
    let toml = config::simple(engine_port, true, "/app", &[&backend.target()])
        + &config::vhost(2, "shop.example.test", engine_port);
    let console = console_node(toml, config_port).start().await?;
    let c = Cluster {
        api: AdminClient::new(console.admin_port, "Administrator", PASSWORD),
        console,
        config_port,
        engine_port,
        _backend: backend,
        keep: tempfile::tempdir()?,
    };
    let ips: [[u8; 4]; 2] = [[127, 0, 0, 6], [127, 0, 0, 7]];
    let mut engines = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let (_, path, _) = c.register(&format!("tls-{i}")).await?;
        let addr = std::net::Ipv4Addr::from(*ip).to_string();
        engines.push(c.engine(&path, &addr).start().await?);
    }
    let (status, pair) = c
        .api
        .post(
            "/keyPairs/generate",
            &json!({"alias": "shop", "commonName": "shop.example.test",
                    "subjectAlternativeNames": ["shop.example.test"],
                    "keyAlgorithm": "EC", "validDays": 30}),
        )
        .await?;
    assert_eq!(status, 200, "{pair}");
    let wanted = pair["sha256Fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for ip in ips {
        let before = served_certificate_at(ip, "shop.example.test", engine_port).await?;
        assert_ne!(fingerprint(&before), wanted);
    }
    let vhost = json!({"id": 2, "host": "shop.example.test", "port": engine_port,
                       "keyPairId": pair["id"]});
    let (status, body) = c.api.put("/virtualhosts/2", &vhost).await?;
    assert_eq!(status, 200, "{body}");
    for ip in ips {
        wait::until(
            "the engine serving the new key pair",
            Duration::from_secs(5),
            || async {
                let der = served_certificate_at(ip, "shop.example.test", engine_port)
                    .await
                    .ok()?;
                (fingerprint(&der) == wanted).then_some(())
            },
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_snapshot_the_engine_refuses_leaves_it_serving_and_shows_in_status() -> anyhow::Result<()>
{
    let c = console().await?;
    let proxy = gatehouse_tests::tamper::TamperProxy::start(c.config_port).await?;
    let (id, path, text) = c.register("skewed").await?;
    let b = Bootstrap::parse(text.as_bytes(), "bootstrap")?;
    let via_proxy = text
        .replace(
            &format!("engine.admin.port={}", c.config_port),
            &format!("engine.admin.port={}", proxy.port),
        )
        .replace(&b.fingerprints.join(","), &proxy.fingerprint);
    std::fs::write(&path, via_proxy)?;
    let _engine = c.engine(&path, "127.0.0.8").start().await?;
    serving(&c.url("127.0.0.8", "/app/x")).await?;

    proxy.tamper(true);
    let app = json!({"name": "later", "contextRoot": "/later", "virtualHostIds": [1], "siteId": 1});
    let (status, _) = c.api.post("/applications", &app).await?;
    assert_eq!(status, 200);
    let refused = wait::until(
        "the refusal in /engines/status",
        Duration::from_secs(5),
        || async {
            let (_, s) = c.api.get(&format!("/engines/{id}")).await.ok()?;
            s["refused"].as_str().map(String::from)
        },
    )
    .await?;
    assert!(refused.contains("settingFromTheFuture"), "{refused}");
    let (_, engine) = c.api.get(&format!("/engines/{id}")).await?;
    assert!(
        engine["appliedRevision"].as_u64() < engine["currentRevision"].as_u64(),
        "{engine}"
    );
    assert_eq!(
        status_of(&c.url("127.0.0.8", "/app/x")).await,
        Some(200),
        "the previous snapshot serves on"
    );
    assert_eq!(
        status_of(&c.url("127.0.0.8", "/later/x")).await,
        Some(403),
        "an unknown resource: the refused application is not there"
    );

    // The next usable snapshot is applied and clears the refusal.
    proxy.tamper(false);
    let app = json!({"name": "fixed", "contextRoot": "/fixed", "virtualHostIds": [1], "siteId": 1});
    assert_eq!(c.api.post("/applications", &app).await?.0, 200);
    wait::until("the refusal cleared", Duration::from_secs(5), || async {
        let (_, s) = c.api.get(&format!("/engines/{id}")).await.ok()?;
        (s.get("refused").is_none() && s["appliedRevision"] == s["currentRevision"]).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_engine_registers_itself_with_a_registration_token() -> anyhow::Result<()> {
    let c = console().await?;
    let (status, issued) = c
        .api
        .post("/engines/registration/token", &json!({}))
        .await?;
    assert_eq!(status, 200, "{issued}");
    let token = issued["token"].as_str().unwrap_or_default().to_string();
    let path = c.keep.path().join("auto.properties");
    let engine = c
        .engine(&path, "127.0.0.9")
        .prop("engine.registration.token", &token)
        .prop("engine.name", "auto-1")
        .start()
        .await?;
    serving(&c.url("127.0.0.9", "/app/x")).await?;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path)?.permissions().mode() & 0o777,
        0o600
    );
    let (_, engines) = c.api.get("/engines").await?;
    assert!(engines.to_string().contains("auto-1"), "{engines}");

    // The name is taken: a second engine with it does not start, and says why.
    let mut twin = c
        .engine(&c.keep.path().join("twin.properties"), "127.0.0.10")
        .prop("engine.registration.token", &token)
        .prop("engine.name", "auto-1")
        .spawn()?;
    let code = twin.wait_exit(Duration::from_secs(20)).await?;
    assert_eq!(code, Some(1));
    assert!(twin.stderr().contains("exists"), "{}", twin.stderr());
    // A forged token is refused.
    let mut forged = c
        .engine(&c.keep.path().join("forged.properties"), "127.0.0.11")
        .prop("engine.registration.token", format!("{token}x"))
        .prop("engine.name", "forged")
        .spawn()?;
    assert_eq!(forged.wait_exit(Duration::from_secs(20)).await?, Some(1));
    drop(engine);
    Ok(())
}
