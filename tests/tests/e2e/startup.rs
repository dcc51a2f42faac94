//! Start-up: embedded default, generated keys, exit codes and messages, signals.

use std::time::Duration;

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::{binary, Node};
use gatehouse_tests::{client, config, free_port};

#[tokio::test]
async fn embedded_default_serves_default_engine_listener_and_creates_store_and_keys(
) -> anyhow::Result<()> {
    let node = Node::builder().start().await?;
    let data = node.dir.path().join("data");
    assert!(data.join("gatehouse.db").exists(), "SQLite store created");
    let c = client::https(&["localhost"]);
    let r = c
        .get("https://localhost:3000/pa/heartbeat.ping")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await?, "OK");
    let admin = c
        .get(format!(
            "https://127.0.0.1:{}/pa/heartbeat.ping",
            node.admin_port
        ))
        .send()
        .await?;
    assert_eq!(admin.status(), 200, "heartbeat on the admin port too");
    let unknown = c.get("https://localhost:3000/anything").send().await?;
    assert_eq!(unknown.status(), 403, "no applications: unknown resource");
    let store = rusqlite_tables(&data.join("gatehouse.db"));
    assert!(
        store.contains("ENGINE") && store.contains("ADMIN") && store.contains("CONFIG QUERY"),
        "{store}"
    );
    Ok(())
}

/// Key pair names stored, read with the sqlite3 shell if present, else from the raw file.
fn rusqlite_tables(db: &std::path::Path) -> String {
    let bytes = std::fs::read(db).unwrap_or_default();
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    String::from_utf8_lossy(&[bytes, wal].concat()).into_owned()
}

async fn run_cli(args: &[&str]) -> anyhow::Result<(Option<i32>, String, String)> {
    let out = tokio::process::Command::new(binary())
        .args(args)
        .output()
        .await?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn help_and_version_exit_zero() -> anyhow::Result<()> {
    let (code, out, _) = run_cli(&["--help"]).await?;
    assert_eq!(code, Some(0));
    assert!(out.contains("--properties"), "{out}");
    let (code, out, _) = run_cli(&["--version"]).await?;
    assert_eq!(code, Some(0));
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let (code, _, err) = run_cli(&["--no-such-flag"]).await?;
    assert_eq!(code, Some(2), "bad command line: {err}");
    Ok(())
}

#[tokio::test]
async fn bad_run_properties_value_exits_2_naming_file_line_and_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("run.properties");
    std::fs::write(
        &path,
        "# comment\npa.data.dir=data\nadmin.port=not-a-port\n",
    )?;
    let (code, _, err) = run_cli(&["--properties", path.to_str().unwrap_or_default()]).await?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("run.properties:3: admin.port:"), "{err}");
    assert!(err.contains("not-a-port"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, _, err) = run_cli(&["--properties", "/nonexistent/run.properties"]).await?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/nonexistent/run.properties"), "{err}");
    Ok(())
}

#[tokio::test]
async fn unknown_key_is_a_warning_naming_the_closest_key() -> anyhow::Result<()> {
    let node = Node::builder()
        .prop("engine.http.enabled", "false")
        .prop("pa.statistic.window.seconds", "5")
        .start()
        .await?;
    node.wait_log(
        "did you mean 'pa.statistics.window.seconds'",
        Duration::from_secs(5),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_toml_exits_1_listing_every_problem_with_lines() -> anyhow::Result<()> {
    let port = free_port();
    let toml = format!(
        "{}\n{}\n[[applications]]\nid = 1\nname = \"a\"\ncontextRoot = \"/app/\"\nvirtualHostIds = [9]\nsiteId = 7\n",
        config::listener(1, port, false),
        config::vhost(1, "*", port)
    );
    let mut node = Node::builder().toml(toml).spawn()?;
    let code = node.wait_exit(Duration::from_secs(20)).await?;
    let err = node.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("gatehouse.toml:15: applications[0].contextRoot: must not end with '/'"),
        "{err}"
    );
    assert!(
        err.contains(
            "gatehouse.toml:16: applications[0].virtualHostIds[0]: no virtual host with id 9"
        ),
        "{err}"
    );
    assert!(
        err.contains("gatehouse.toml:17: applications[0].siteId: no site with id 7"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    Ok(())
}

#[tokio::test]
async fn toml_syntax_and_type_errors_name_the_line() -> anyhow::Result<()> {
    let toml = "[[engineListeners]]\nid = 1\nname = \"x\"\nport = \"three thousand\"\n";
    let mut node = Node::builder().toml(toml).spawn()?;
    let code = node.wait_exit(Duration::from_secs(20)).await?;
    let err = node.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("gatehouse.toml:4:"), "{err}");
    let toml = "[[sites]]\nid = 1\nname = \"s\"\ntargets = [\"a:1\"]\nsecur = true\n";
    let mut node = Node::builder().toml(toml).spawn()?;
    node.wait_exit(Duration::from_secs(20)).await?;
    assert!(
        node.stderr().contains("gatehouse.toml:5:"),
        "{}",
        node.stderr()
    );
    assert!(node.stderr().contains("secur"), "{}", node.stderr());
    Ok(())
}

#[tokio::test]
async fn sigterm_lets_the_slow_request_in_flight_finish_then_exits_0() -> anyhow::Result<()> {
    let backend = Backend::start("slow", Behavior::Delay(Duration::from_millis(1500))).await?;
    let port = free_port();
    let target = backend.target();
    let mut node = Node::builder()
        .toml(config::simple(port, false, "/", &[&target]))
        .start()
        .await?;
    let url = format!("http://127.0.0.1:{port}/slow");
    let request = tokio::spawn(async move { reqwest::get(url).await });
    gatehouse_tests::wait::until(
        "backend saw the request",
        Duration::from_secs(10),
        || async { (!backend.seen().is_empty()).then_some(()) },
    )
    .await?;
    node.signal(libc::SIGTERM);
    let resp = request.await??;
    assert_eq!(resp.status(), 200, "in-flight request completed");
    assert_eq!(node.wait_exit(Duration::from_secs(20)).await?, Some(0));
    let refused = reqwest::get(format!("http://127.0.0.1:{port}/again")).await;
    assert!(refused.is_err(), "listener closed after shutdown");
    Ok(())
}
