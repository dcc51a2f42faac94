//! Operations: access log (text and JSON), Prometheus metrics, readiness.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port, wait};
use std::time::Duration;

#[tokio::test]
async fn one_access_log_line_per_request_without_secrets() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    for format in ["text", "json"] {
        let port = free_port();
        let node = Node::builder()
            .toml(config::simple(port, false, "/", &[&backend.target()]))
            .prop("pa.log.format", format)
            .start()
            .await?;
        let c = reqwest::Client::new();
        let r = c
            .get(format!(
                "http://127.0.0.1:{port}/logged/path?access_token=SECRET-QUERY"
            ))
            .header("Authorization", "Bearer SECRET-TOKEN")
            .header("Cookie", "PA=SECRET-COOKIE")
            .send()
            .await?;
        let id = r.headers()["x-request-id"].to_str()?.to_string();
        node.wait_log(&id, Duration::from_secs(5)).await?;
        let log = node.stderr();
        let line = log.lines().find(|l| l.contains(&id)).unwrap_or_default();
        assert!(
            line.contains("/logged/path") && line.contains("200"),
            "{line}"
        );
        assert!(line.contains("app 1"), "application named: {line}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(line)?;
            assert_eq!(v["status"], 200);
            assert_eq!(v["method"], "GET");
            assert_eq!(v["request_id"], id.as_str());
        }
        for secret in ["SECRET-QUERY", "SECRET-TOKEN", "SECRET-COOKIE"] {
            assert!(!log.contains(secret), "{secret} logged ({format})");
        }
    }
    Ok(())
}

#[tokio::test]
async fn metrics_and_readiness_on_the_management_port() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let node = Node::builder()
        .toml(config::simple(port, false, "/", &[&backend.target()]))
        .start()
        .await?;
    for _ in 0..3 {
        reqwest::get(format!("http://127.0.0.1:{port}/x")).await?;
    }
    reqwest::get(format!("http://127.0.0.1:{port}/pa/nothing")).await?;
    let ready = reqwest::get(node.management_url("/readyz")).await?;
    assert_eq!(ready.status(), 200);
    let text = wait::until("request counted", Duration::from_secs(5), || async {
        let t = reqwest::get(node.management_url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        t.contains("gatehouse_requests_total{application=\"app 1\",status=\"2xx\"} 3")
            .then_some(t)
    })
    .await?;
    assert!(
        text.contains("gatehouse_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("gatehouse_config_revision"), "{text}");
    assert!(text.contains("gatehouse_open_connections"), "{text}");
    assert!(
        text.contains("gatehouse_requests_total{application=\"-\",status=\"4xx\"} 1"),
        "{text}"
    );
    let engine_metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await?;
    assert_eq!(
        engine_metrics.status(),
        200,
        "/metrics on the engine is just an application path"
    );
    assert!(!engine_metrics
        .text()
        .await?
        .contains("gatehouse_requests_total"));
    Ok(())
}
