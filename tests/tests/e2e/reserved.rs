//! Reserved path, heartbeat and gateway-made responses.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{client, config, free_port};

#[tokio::test]
async fn detailed_heartbeat_reports_statistics_and_pingaccess_keys() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let node = Node::builder()
        .toml(config::simple(port, false, "/", &[&backend.target()]))
        .prop("enable.detailed.heartbeat.response", "true")
        .prop("pa.statistics.window.seconds", 30)
        .start()
        .await?;
    for _ in 0..5 {
        reqwest::get(format!("http://127.0.0.1:{port}/x")).await?;
    }
    let r = reqwest::get(format!("http://127.0.0.1:{port}/pa/heartbeat.ping")).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: serde_json::Value = r.json().await?;
    let item = &v["items"][0];
    for key in [
        "cpu.load",
        "total.jvm.memory",
        "used.jvm.memory",
        "total.physical.system.memory",
        "number.of.cpus",
        "hostname",
        "open.client.connections",
        "number.of.applications",
        "number.of.virtual.hosts",
        "last.refresh.time",
        "response.statistics.window.seconds",
        "response.time.statistics.90.percentile",
        "response.concurrency.statistics.max",
    ] {
        assert!(
            item[key].is_string(),
            "{key} missing or not a string: {item}"
        );
    }
    assert_eq!(item["number.of.applications"], "1");
    assert_eq!(item["response.statistics.window.seconds"], "30");
    let count: u64 = item["response.statistics.count"]
        .as_str()
        .unwrap_or("0")
        .parse()?;
    assert!(count >= 5, "{item}");
    let admin = client::https(&[])
        .get(format!(
            "https://127.0.0.1:{}/pa/heartbeat.ping",
            node.admin_port
        ))
        .send()
        .await?;
    assert_eq!(admin.status(), 200);
    Ok(())
}

#[tokio::test]
async fn reserved_path_moves_and_is_deployed_under_context_roots() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&backend.target()], ""),
        config::app(1, "/", 1, 1, ""),
        config::app(2, "/shop", 1, 1, "deployReservedResources = true\n"),
        "[reservedApplication]\ncontextRoot = \"/ping\"\n".into(),
    ]
    .join("\n");
    let _node = Node::builder().toml(toml).start().await?;
    let get = |p: &str| reqwest::get(format!("http://127.0.0.1:{port}{p}"));
    let r = get("/ping/heartbeat.ping").await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await?, "OK");
    let r = get("/shop/ping/heartbeat.ping").await?;
    assert_eq!(r.text().await?, "OK", "deployed under the context root");
    let r = get("/pa/heartbeat.ping").await?;
    assert_eq!(
        r.status(),
        200,
        "old reserved path is an ordinary application path now"
    );
    assert_eq!(backend.seen().len(), 1);
    assert_eq!(backend.seen()[0].path, "/pa/heartbeat.ping");
    assert_eq!(get("/ping/nothing-here").await?.status(), 404);
    Ok(())
}

#[tokio::test]
async fn unknown_resource_is_403_html_or_json_with_request_id_and_configurable(
) -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let other = free_port();
    let toml = config::simple(port, false, "/app", &[&backend.target()])
        + &config::listener(2, other, false)
        + "[unknownResources]\nerrorStatusCode = 404\nerrorMessage = \"Nothing <here>\"\n";
    let _node = Node::builder().toml(toml).start().await?;
    let c = reqwest::Client::new();
    let html = c
        .get(format!("http://127.0.0.1:{port}/elsewhere"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await?;
    assert_eq!(html.status(), 404);
    let id = html.headers()["x-request-id"].to_str()?.to_string();
    assert!(html.headers()["content-type"]
        .to_str()?
        .starts_with("text/html"));
    let body = html.text().await?;
    assert!(body.contains(&id), "request id on the page");
    assert!(
        body.contains("Nothing &lt;here&gt;"),
        "message escaped: {body}"
    );
    let json = c
        .get(format!("http://127.0.0.1:{port}/elsewhere"))
        .header("Accept", "application/json")
        .send()
        .await?;
    assert_eq!(json.status(), 404);
    let v: serde_json::Value = json.json().await?;
    assert_eq!(v["status"], 404);
    assert!(v["requestId"].is_string());
    let no_vhost = c
        .get(format!("http://127.0.0.1:{other}/app/x"))
        .send()
        .await?;
    assert_eq!(
        no_vhost.status(),
        404,
        "listener without a virtual host: unknown resource"
    );
    assert!(backend.seen().is_empty());
    Ok(())
}
