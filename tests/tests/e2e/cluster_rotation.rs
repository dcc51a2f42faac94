//! Config-query certificate rotation across a console and three engines as real processes: the
//! new certificate is served at once, engines learn it through the config channel (or, for an
//! engine that was down, from the rotation port that still serves the old one), rewrite their
//! bootstrap files and confirm; the window then closes, the rotation port with it, and no
//! engine lost contact on the way.

use std::time::Duration;

use gatehouse_tests::client::{fingerprint, served_certificate_at};
use gatehouse_tests::node::Node;
use gatehouse_tests::{free_port, wait};
use serde_json::json;

use crate::cluster::{console_with, serving, Cluster, IPS};

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// The engine's `gatehouse_cluster_poll_failures_total`.
async fn poll_failures(engine: &Node) -> anyhow::Result<f64> {
    let text = reqwest::get(engine.management_url("/metrics"))
        .await?
        .text()
        .await?;
    text.lines()
        .find(|l| l.starts_with("gatehouse_cluster_poll_failures_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no poll failure counter in {text}"))
}

/// The fingerprints a bootstrap file names.
fn pinned(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("engine.admin.certificate.sha256="))
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

async fn generate_pair(c: &Cluster, alias: &str) -> anyhow::Result<(u64, String)> {
    let (status, pair) = c
        .api
        .post(
            "/keyPairs/generate",
            &json!({"alias": alias, "commonName": "console.example.test", "keyAlgorithm": "EC",
                    "validDays": 30}),
        )
        .await?;
    anyhow::ensure!(status == 200, "{pair}");
    Ok((
        pair["id"].as_u64().unwrap_or(0),
        pair["sha256Fingerprint"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

/// `GET /engines/certificateRotation`.
async fn rotation(c: &Cluster) -> anyhow::Result<serde_json::Value> {
    let (status, body) = c.api.get("/engines/certificateRotation").await?;
    anyhow::ensure!(status == 200, "{status} {body}");
    Ok(body)
}

/// `PUT /httpsListeners/3`: key pair `id` for `CONFIG QUERY`.
async fn assign_config_query(
    c: &Cluster,
    id: u64,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    c.api
        .put("/httpsListeners/3", &json!({ "keyPairId": id }))
        .await
}

/// Waits until `port` serves the certificate with the fingerprint `fingerprint_hex`.
async fn until_serving(port: u16, fingerprint_hex: &str, what: &str) -> anyhow::Result<()> {
    wait::until(what, Duration::from_secs(5), || async {
        (served(port).await.ok()? == fingerprint_hex).then_some(())
    })
    .await
}

/// Fingerprint of the certificate served on a loopback port.
async fn served(port: u16) -> anyhow::Result<String> {
    Ok(fingerprint(
        &served_certificate_at(LOOPBACK, "127.0.0.1", port).await?,
    ))
}

/// Waits until nothing listens on a loopback port.
async fn closed(port: u16) -> anyhow::Result<()> {
    wait::until(
        "the rotation port closing",
        Duration::from_secs(10),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
}

#[tokio::test]
async fn config_query_certificate_rotation_completes_with_no_engine_losing_contact(
) -> anyhow::Result<()> {
    let rotation_port = free_port();
    let c = console_with(|b| {
        b.prop("clusterconfig.temp.rotation.port", rotation_port)
            .prop("cert.rotation.transition.window.ttl.seconds", 120)
    })
    .await?;
    let mut engines = Vec::new();
    let mut files = Vec::new();
    for (i, ip) in IPS.iter().enumerate() {
        let (_, path, text) = c.register(&format!("rot-{i}")).await?;
        assert!(
            text.contains(&format!("engine.admin.rotation.port={rotation_port}")),
            "{text}"
        );
        engines.push(c.engine(&path, ip).start().await?);
        files.push(path);
    }
    for ip in IPS {
        serving(&c.url(ip, "/app/x")).await?;
    }
    let old = served(c.config_port).await?;
    assert_eq!(pinned(&files[2]), std::slice::from_ref(&old));

    // Engine 2 is down while the rotation starts: it will only learn of it from the rotation port.
    engines[2].kill_hard().await?;
    let failures_before = [
        poll_failures(&engines[0]).await?,
        poll_failures(&engines[1]).await?,
    ];

    let (new_id, new) = generate_pair(&c, "config-query-2").await?;
    let (status, body) = assign_config_query(&c, new_id).await?;
    assert_eq!(status, 200, "{body}");

    // New handshakes on the config-query port get the new certificate at once; the rotation
    // port serves the old one.
    wait::until(
        "the config-query port serving the new certificate",
        Duration::from_secs(5),
        || async {
            let der = served_certificate_at(LOOPBACK, "127.0.0.1", c.config_port)
                .await
                .ok()?;
            (fingerprint(&der) == new).then_some(())
        },
    )
    .await?;
    let on_rotation_port = served(rotation_port).await?;
    assert_eq!(on_rotation_port, old);

    // One window at a time.
    let (other_id, _) = generate_pair(&c, "config-query-3").await?;
    let (status, body) = assign_config_query(&c, other_id).await?;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("rotation"), "{body}");
    let window = rotation(&c).await?;
    assert_eq!(window["open"], true, "{window}");
    assert_eq!(window["newKeyPairId"], new_id, "{window}");
    assert!(
        window["pendingEngines"]
            .as_array()
            .is_some_and(|p| p.iter().any(|n| n == "rot-2")),
        "{window}"
    );

    // The running engines learn the new fingerprint through the config channel and rewrite
    // their bootstrap files.
    for file in &files[..2] {
        wait::until(
            "a running engine trusting both certificates",
            Duration::from_secs(10),
            || async {
                let pins = pinned(file);
                (pins.contains(&new) && pins.contains(&old)).then_some(())
            },
        )
        .await?;
    }

    // The engine that was down comes back trusting only the old certificate: the config-query
    // port refuses its pin, the rotation port tells it the new one.
    engines[2].restart().await?;
    wait::until(
        "the restarted engine trusting the new certificate",
        Duration::from_secs(15),
        || async { pinned(&files[2]).contains(&new).then_some(()) },
    )
    .await?;
    c.console
        .wait_log(
            "engine asked for the config-query certificate",
            Duration::from_secs(5),
        )
        .await?;

    // Every engine confirmed: the window closes, and the rotation port with it.
    wait::until(
        "the rotation window closing",
        Duration::from_secs(15),
        || async { (rotation(&c).await.ok()?["open"] == false).then_some(()) },
    )
    .await?;
    closed(rotation_port).await?;
    for file in &files {
        wait::until(
            "bootstrap files naming only the new certificate",
            Duration::from_secs(10),
            || async { (pinned(file) == std::slice::from_ref(&new)).then_some(()) },
        )
        .await?;
    }

    // No engine lost contact: a change still reaches all three, and the two that stayed up never
    // failed a poll.
    c.add_open_application("after rotation", "/after").await?;
    c.wait_all_serving("/after/x").await?;
    assert_eq!(poll_failures(&engines[0]).await?, failures_before[0]);
    assert_eq!(poll_failures(&engines[1]).await?, failures_before[1]);
    Ok(())
}

#[tokio::test]
async fn a_rotation_window_survives_a_console_restart_and_ends_on_time() -> anyhow::Result<()> {
    let rotation_port = free_port();
    let mut c = console_with(|b| {
        b.prop("clusterconfig.temp.rotation.port", rotation_port)
            .prop("cert.rotation.transition.window.ttl.seconds", 4)
    })
    .await?;
    // Registered with a bootstrap, never started: it cannot confirm.
    c.register("offline").await?;
    let old = served(c.config_port).await?;
    let (new_id, _) = generate_pair(&c, "config-query-2").await?;
    let (status, body) = assign_config_query(&c, new_id).await?;
    assert_eq!(status, 200, "{body}");
    let window = rotation(&c).await?;
    assert_eq!(window["open"], true, "{window}");
    assert_eq!(window["pendingEngines"], json!(["offline"]), "{window}");
    until_serving(
        rotation_port,
        &old,
        "the rotation port serving the old certificate",
    )
    .await?;

    // The window is kept in the store: a console killed and restarted resumes it.
    c.console.kill_hard().await?;
    c.console.restart().await?;
    let window = rotation(&c).await?;
    assert_eq!(window["open"], true, "{window}");
    until_serving(
        rotation_port,
        &old,
        "the restarted console serving the old certificate on the rotation port",
    )
    .await?;
    wait::until(
        "the window ending after its 4 s",
        Duration::from_secs(10),
        || async { (rotation(&c).await.ok()?["open"] == false).then_some(()) },
    )
    .await?;
    c.console
        .wait_log(
            "window ended before these engines confirmed",
            Duration::from_secs(5),
        )
        .await?;
    closed(rotation_port).await?;
    // The next key pair may be assigned now.
    let (other_id, _) = generate_pair(&c, "config-query-3").await?;
    let (status, body) = assign_config_query(&c, other_id).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}
