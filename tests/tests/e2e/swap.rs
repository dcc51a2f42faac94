//! Configuration swap under load: zero failed requests, new routes visible at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};

fn toml_with(port: u16, target: &str, extra_root: Option<&str>) -> String {
    let mut parts = vec![
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[target], ""),
        config::app(1, "/steady", 1, 1, ""),
    ];
    if let Some(root) = extra_root {
        parts.push(config::app(2, root, 1, 1, ""));
    }
    parts.join("\n")
}

#[tokio::test]
async fn swapping_configuration_under_load_fails_no_request() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let target = backend.target();
    let node = Node::builder()
        .toml(toml_with(port, &target, None))
        .start()
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                match c
                    .get(format!("http://127.0.0.1:{port}/steady/x"))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let c = reqwest::Client::new();
    for round in 1..=6 {
        let root = format!("/new{round}");
        node.reload(&toml_with(port, &target, Some(&root)))?;
        node.wait_log(&format!("revision={}", round + 1), Duration::from_secs(10))
            .await?;
        let r = c
            .get(format!("http://127.0.0.1:{port}{root}/x"))
            .send()
            .await?;
        assert_eq!(
            r.status(),
            200,
            "round {round}: new route visible as soon as applied"
        );
        if round > 1 {
            let old = c
                .get(format!("http://127.0.0.1:{port}/new{}/x", round - 1))
                .send()
                .await?;
            assert_eq!(old.status(), 403, "round {round}: removed route gone");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await?;
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during swaps"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "load actually ran: {}",
        ok.load(Ordering::Relaxed)
    );
    node.reload("[[sites]]\nid = 1\n")?;
    node.wait_log("reload refused", Duration::from_secs(10))
        .await?;
    let r = c
        .get(format!("http://127.0.0.1:{port}/steady/x"))
        .send()
        .await?;
    assert_eq!(
        r.status(),
        200,
        "an invalid reload leaves the old configuration serving"
    );
    Ok(())
}

#[tokio::test]
async fn a_listener_whose_port_is_busy_is_bound_once_the_port_frees() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let target = backend.target();
    let node = Node::builder()
        .toml(toml_with(port, &target, None))
        .start()
        .await?;
    let blocker = std::net::TcpListener::bind("127.0.0.1:0")?;
    let busy = blocker.local_addr()?.port();
    let both = format!(
        "{}\n{}\n{}",
        toml_with(port, &target, None).replace("virtualHostIds = [1]", "virtualHostIds = [1, 2]"),
        gatehouse_tests::config::listener(2, busy, false),
        gatehouse_tests::config::vhost(2, "*", busy),
    );
    node.reload(&both)?;
    node.wait_log("engine listener not started", Duration::from_secs(10))
        .await?;
    let c = reqwest::Client::new();
    let steady = c
        .get(format!("http://127.0.0.1:{port}/steady/x"))
        .send()
        .await?;
    assert_eq!(steady.status(), 200, "the other listener keeps serving");
    drop(blocker);
    let url = format!("http://127.0.0.1:{busy}/steady/x");
    gatehouse_tests::wait::until(
        "the freed port to be served",
        Duration::from_secs(20),
        || {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let r = c.get(url).send().await.ok()?;
                (r.status() == 200).then_some(())
            }
        },
    )
    .await?;
    Ok(())
}
