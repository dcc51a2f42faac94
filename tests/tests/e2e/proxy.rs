//! Proxying: forwarding headers, hop-by-hop, HTTP/2, pools, backend TLS, Host, failover,
//! 502/504, WebSockets.

use std::time::Duration;

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::pki::TestCa;
use gatehouse_tests::{client, config, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn node_for(toml: String) -> anyhow::Result<Node> {
    Node::builder().toml(toml).start().await
}

#[tokio::test]
async fn client_forwarding_headers_are_replaced_in_every_spelling() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let _node = node_for(config::simple(port, false, "/", &[&backend.target()])).await?;
    let raw = format!(
        "GET /x HTTP/1.1\r\nHost: app.test:{port}\r\nX-Forwarded-For: 6.6.6.6\r\nx_forwarded_host: evil\r\n\
         X.Forwarded.Proto: https\r\nForwarded: for=6.6.6.6\r\nX-Request-Id: forged\r\n\
         Connection: close, X-Forwarded-For, X-Custom\r\nX-Custom: gone\r\nX-Kept: yes\r\n\r\n"
    );
    let resp = client::raw(([127, 0, 0, 1], port).into(), raw.as_bytes()).await?;
    assert_eq!(client::status_of(&resp), 200, "{resp}");
    let seen = &backend.seen()[0];
    let h = |n: &str| {
        seen.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        h("x-forwarded-host").as_deref(),
        Some(&*format!("app.test:{port}"))
    );
    assert_eq!(
        h("forwarded").as_deref(),
        Some(&*format!(
            "for=127.0.0.1;proto=http;host=\"app.test:{port}\""
        ))
    );
    assert_ne!(h("x-request-id").as_deref(), Some("forged"));
    for forged in [
        "x_forwarded_host",
        "x.forwarded.proto",
        "x-custom",
        "connection",
    ] {
        assert!(h(forged).is_none(), "{forged} reached the backend");
    }
    assert_eq!(h("x-kept").as_deref(), Some("yes"));
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
    Ok(())
}

#[tokio::test]
async fn trusted_proxies_forwarded_headers_are_believed() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::vhost(2, "public.example", 443),
        config::site(1, &[&backend.target()], ""),
        config::app(1, "/", 1, 1, "").replace("virtualHostIds = [1]", "virtualHostIds = [1, 2]"),
    ]
    .join("\n")
        + "[httpIpSource]\nheaderNameList = [\"X-Forwarded-For\"]\ntrustedProxies = [\"127.0.0.0/8\"]\n\
           [httpHostSource]\nheaderNameList = [\"X-Forwarded-Host\"]\n\
           [httpProtocolSource]\nheaderName = \"X-Forwarded-Proto\"\n";
    let _node = node_for(toml).await?;
    let resp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/x"))
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Forwarded-Host", "public.example")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let seen = &backend.seen()[0];
    let h = |n: &str| {
        seen.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(h("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(h("x-forwarded-host"), "public.example");
    assert_eq!(h("x-forwarded-proto"), "https");
    assert!(
        h("forwarded").starts_with("for=203.0.113.9;proto=https"),
        "{}",
        h("forwarded")
    );
    Ok(())
}

#[tokio::test]
async fn http2_and_http1_clients_over_tls_with_keep_alive_pool_to_the_site() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let _node = node_for(config::simple(port, true, "/", &[&backend.target()])).await?;
    let c = client::https(&[]);
    for _ in 0..20 {
        let r = c.get(format!("https://127.0.0.1:{port}/h2")).send().await?;
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
    }
    let h1 = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .build()?;
    for _ in 0..20 {
        let r = h1
            .get(format!("https://127.0.0.1:{port}/h1"))
            .send()
            .await?;
        assert_eq!(r.version(), reqwest::Version::HTTP_11);
        assert_eq!(r.status(), 200);
    }
    assert!(
        backend.connections() <= 2,
        "pooled: {} connections for 40 requests",
        backend.connections()
    );
    Ok(())
}

#[tokio::test]
async fn https_sites_are_verified_against_their_trusted_group() -> anyhow::Result<()> {
    let ca = TestCa::new("test ca")?;
    let good = ca.leaf(&["localhost", "127.0.0.1"])?;
    let wrong_name = ca.leaf(&["other.internal"])?;
    let b_ok = Backend::start_tls("ok", Behavior::Echo, &good.cert_pem, &good.key_pem).await?;
    let b_name = Backend::start_tls(
        "name",
        Behavior::Echo,
        &wrong_name.cert_pem,
        &wrong_name.key_pem,
    )
    .await?;
    let port = free_port();
    let pem = ca.cert_pem.replace('\n', "\\n");
    let trust = "secure = true\ntrustedCertificateGroupId = 10\n";
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        format!("[[certificates]]\nid = 1\nalias = \"ca\"\nfileData = \"{pem}\"\n"),
        "[[trustedCertificateGroups]]\nid = 10\nname = \"test\"\ncertIds = [1]\n".into(),
        config::site(1, &[&b_ok.target()], trust),
        config::site(2, &[&b_ok.target()], "secure = true\n"),
        config::site(3, &[&b_name.target()], trust),
        config::site(
            4,
            &[&b_name.target()],
            &format!("{trust}skipHostnameVerification = true\n"),
        ),
        config::site(
            5,
            &[&b_name.target()],
            &format!("{trust}expectedHostname = \"other.internal\"\n"),
        ),
        config::app(1, "/trusted", 1, 1, ""),
        config::app(2, "/system-roots", 1, 2, ""),
        config::app(3, "/wrong-name", 1, 3, ""),
        config::app(4, "/skip-name", 1, 4, ""),
        config::app(5, "/expected-name", 1, 5, ""),
    ]
    .join("\n");
    let _node = node_for(toml).await?;
    let get = |p: &str| reqwest::get(format!("http://127.0.0.1:{port}{p}/x"));
    let r = get("/trusted").await?;
    assert_eq!(r.status(), 200, "{}", _node.stderr());
    assert_eq!(
        get("/system-roots").await?.status(),
        502,
        "private CA not in system roots"
    );
    assert_eq!(
        get("/wrong-name").await?.status(),
        502,
        "certificate name mismatch"
    );
    assert_eq!(get("/skip-name").await?.status(), 200);
    assert_eq!(get("/expected-name").await?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn host_header_is_the_clients_unless_use_target_host_header() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&backend.target()], ""),
        config::site(2, &[&backend.target()], "useTargetHostHeader = true\n"),
        config::app(1, "/client", 1, 1, ""),
        config::app(2, "/target", 1, 2, ""),
    ]
    .join("\n");
    let _node = node_for(toml).await?;
    let c = client::https(&["app.test"]);
    c.get(format!("http://app.test:{port}/client/x"))
        .send()
        .await?;
    c.get(format!("http://app.test:{port}/target/x"))
        .send()
        .await?;
    let seen = backend.seen();
    assert_eq!(seen[0].headers["host"], format!("app.test:{port}").as_str());
    assert_eq!(seen[1].headers["host"], backend.target().as_str());
    Ok(())
}

#[tokio::test]
async fn failover_502_and_504_follow_the_availability_settings() -> anyhow::Result<()> {
    let live = Backend::start("live", Behavior::Echo).await?;
    let slow = Backend::start("slow", Behavior::Delay(Duration::from_secs(5))).await?;
    let failing = Backend::start("failing", Behavior::Status(503)).await?;
    let dead = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let avail = "[sites.availability]\nconnectTimeout = 1000\nmaxRetries = 0\nretryDelay = 10\nfailedRetryTimeout = 30\n";
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&dead, &live.target()], avail),
        config::site(2, &[&dead], avail),
        config::site(
            3,
            &[&slow.target()],
            "[sites.availability]\nreadTimeout = 300\n",
        ),
        config::site(
            4,
            &[&failing.target(), &live.target()],
            "[sites.availability]\nfailureHttpStatusCodes = [503]\n",
        ),
        config::app(1, "/failover", 1, 1, ""),
        config::app(2, "/dead", 1, 2, ""),
        config::app(3, "/slow", 1, 3, ""),
        config::app(4, "/status-failover", 1, 4, ""),
    ]
    .join("\n");
    let node = node_for(toml).await?;
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}/x");
    let r = reqwest::get(url("/failover")).await?;
    assert_eq!(r.status(), 200, "second target answers");
    assert_eq!(live.seen().len(), 1);
    let r = reqwest::get(url("/dead")).await?;
    assert_eq!(r.status(), 502);
    let body = r.text().await?;
    assert!(
        !body.contains("127.0.0.1"),
        "no internal address leaked: {body}"
    );
    let started = std::time::Instant::now();
    let r = reqwest::get(url("/slow")).await?;
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "read timeout applied"
    );
    let r = reqwest::get(url("/status-failover")).await?;
    assert_eq!(
        r.status(),
        200,
        "503 from the first target counts as failure"
    );
    assert_eq!(failing.seen().len(), 1);
    let post = reqwest::Client::new()
        .post(url("/dead"))
        .body("payload")
        .send()
        .await?;
    assert_eq!(post.status(), 502);
    assert!(node.stderr().contains("connect failed"), "failure logged");
    Ok(())
}

#[tokio::test]
async fn websocket_upgrade_tunnels_bytes_both_ways() -> anyhow::Result<()> {
    let backend = Backend::start("ws", Behavior::Echo).await?;
    let port = free_port();
    let _node = node_for(config::simple(port, false, "/", &[&backend.target()])).await?;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let req = format!(
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut head)).await??;
    let head = String::from_utf8_lossy(&head[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(b"ping over the tunnel").await?;
    let mut echoed = vec![0u8; 20];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut echoed)).await??;
    assert_eq!(&echoed, b"ping over the tunnel");
    let seen = &backend.seen()[0];
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert!(seen.headers.contains_key("sec-websocket-key"));
    Ok(())
}

#[tokio::test]
async fn require_https_refuses_plain_http_and_plain_sites_ignore_trust_groups() -> anyhow::Result<()>
{
    let backend = Backend::start("b", Behavior::Echo).await?;
    let plain = free_port();
    let tls = free_port();
    // Site 1 is plain HTTP with a trust group that holds no certificate: its TLS settings are
    // never used, so the site must still work.
    let toml = [
        config::listener(1, plain, false),
        config::listener(2, tls, true),
        config::vhost(1, "*", plain),
        config::vhost(2, "*", tls),
        "[[trustedCertificateGroups]]\nid = 10\nname = \"empty\"\ncertIds = []\n".into(),
        config::site(1, &[&backend.target()], "trustedCertificateGroupId = 10\n"),
        config::app(1, "/secure", 1, 1, "requireHTTPS = true\n")
            .replace("virtualHostIds = [1]", "virtualHostIds = [1, 2]"),
        config::app(2, "/open", 1, 1, ""),
    ]
    .join("\n");
    let _node = node_for(toml).await?;
    let c = client::https(&[]);
    let refused = c
        .get(format!("http://127.0.0.1:{plain}/secure/x"))
        .header("accept", "application/json")
        .send()
        .await?;
    assert_eq!(refused.status(), 403);
    let over_tls = c
        .get(format!("https://127.0.0.1:{tls}/secure/x"))
        .send()
        .await?;
    assert_eq!(over_tls.status(), 200);
    let open = c
        .get(format!("http://127.0.0.1:{plain}/open/x"))
        .send()
        .await?;
    assert_eq!(open.status(), 200);
    assert_eq!(
        backend
            .seen()
            .iter()
            .filter(|s| s.path.contains("/x"))
            .count(),
        2,
        "the refused request never reached the site"
    );
    Ok(())
}
