//! Path safety and routing, end to end: the traversal corpus proves a request never reaches a
//! path other than the one its route matched.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{client, config, free_port};

/// What a raw request must lead to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused with this status; no backend sees it.
    Refused(u16),
    /// Reaches the `public` backend with exactly this path.
    Public(&'static str),
    /// Reaches the `admin` backend with exactly this path.
    Admin(&'static str),
    /// Either refused with 400, or reaches `public` with this path (parser-dependent, both safe).
    PublicOr400(&'static str),
    /// Either refused with 400, or reaches `admin` with this path.
    AdminOr400(&'static str),
}

const CORPUS: &[(&str, Expect)] = &[
    ("/public/../admin/secret", Expect::Admin("/admin/secret")),
    (
        "/public/%2e%2e/admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public/%2E%2E/admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    ("/public/.%2e/admin/secret", Expect::Admin("/admin/secret")),
    ("/public/%2e./admin/secret", Expect::Admin("/admin/secret")),
    (
        "/public%2f..%2fadmin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public%2F..%2Fadmin%2Fsecret",
        Expect::Admin("/admin/secret"),
    ),
    ("/public/..%2fadmin/secret", Expect::Admin("/admin/secret")),
    ("/public/..%5cadmin/secret", Expect::Admin("/admin/secret")),
    (
        "/public/..%5Cadmin%5csecret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public/..\\admin/secret",
        Expect::AdminOr400("/admin/secret"),
    ),
    (
        "/public/%252e%252e/admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public/%25252e%25252e/admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public/%2525252e%2525252e/admin/secret",
        Expect::Refused(400),
    ),
    ("/public/..;/admin/secret", Expect::Admin("/admin/secret")),
    (
        "/public;x=1/../admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/public/%3b/../admin/secret",
        Expect::Admin("/admin/secret"),
    ),
    (
        "/admin;jsessionid=abc/secret",
        Expect::Admin("/admin/secret"),
    ),
    ("/ADMIN/secret", Expect::Admin("/ADMIN/secret")),
    ("//admin//secret", Expect::Admin("/admin/secret")),
    ("/./admin/./secret", Expect::Admin("/admin/secret")),
    ("/public/./../admin/secret", Expect::Admin("/admin/secret")),
    ("/public/%23/../../admin", Expect::Admin("/admin")),
    ("/admin/../public/x", Expect::Public("/public/x")),
    ("/../admin/secret", Expect::Refused(400)),
    ("/public/../../admin", Expect::Refused(400)),
    ("/%2e%2e/admin", Expect::Refused(400)),
    ("/public/%2e%2e/%2e%2e/admin", Expect::Refused(400)),
    ("/public/%00/x", Expect::Refused(400)),
    ("/public/%2500", Expect::Refused(400)),
    ("/public/..%00/admin", Expect::Refused(400)),
    ("/public/%0d%0aX-Injected:%20yes", Expect::Refused(400)),
    ("/public/x%ff", Expect::Refused(400)),
    ("/public/%c0%ae%c0%ae/admin", Expect::Refused(400)),
    ("/public/%u002e%u002e/admin", Expect::Refused(400)),
    ("/public/a#/../../admin", Expect::PublicOr400("/public/a")),
    ("/publicadmin/x", Expect::Refused(403)),
    ("/public", Expect::Public("/public")),
    ("/public/", Expect::Public("/public/")),
    ("/public/%2e", Expect::Public("/public/")),
    ("/public/a%20b", Expect::Public("/public/a%20b")),
    ("/public/a%2520b", Expect::Public("/public/a%20b")),
];

#[tokio::test]
async fn traversal_corpus_never_reaches_another_path_than_the_route_matched() -> anyhow::Result<()>
{
    assert!(CORPUS.len() >= 30);
    let public = Backend::start("public", Behavior::Echo).await?;
    let admin = Backend::start("admin", Behavior::Echo).await?;
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&public.target()], ""),
        config::site(2, &[&admin.target()], ""),
        config::app(1, "/public", 1, 1, ""),
        config::app(2, "/admin", 1, 2, ""),
    ]
    .join("\n");
    let _node = Node::builder().toml(toml).start().await?;
    let addr = ([127, 0, 0, 1], port).into();
    for (raw, expect) in CORPUS {
        let (p0, a0) = (public.seen().len(), admin.seen().len());
        let req =
            format!("GET {raw} HTTP/1.1\r\nHost: app.test:{port}\r\nConnection: close\r\n\r\n");
        let resp = client::raw(addr, req.as_bytes()).await?;
        let status = client::status_of(&resp);
        let (p1, a1) = (public.seen().len(), admin.seen().len());
        let reached = |b: &Backend, before: usize, after: usize| {
            (after > before).then(|| b.seen()[before].path.clone())
        };
        let got_public = reached(&public, p0, p1);
        let got_admin = reached(&admin, a0, a1);
        let ok = match *expect {
            Expect::Refused(code) => status == code && got_public.is_none() && got_admin.is_none(),
            Expect::Public(p) => {
                status == 200 && got_public.as_deref() == Some(p) && got_admin.is_none()
            }
            Expect::Admin(p) => {
                status == 200 && got_admin.as_deref() == Some(p) && got_public.is_none()
            }
            Expect::PublicOr400(p) => {
                got_admin.is_none()
                    && ((status == 400 && got_public.is_none())
                        || (status == 200 && got_public.as_deref() == Some(p)))
            }
            Expect::AdminOr400(p) => {
                got_public.is_none()
                    && ((status == 400 && got_admin.is_none())
                        || (status == 200 && got_admin.as_deref() == Some(p)))
            }
        };
        assert!(ok, "{raw}: expected {expect:?}, got status {status}, public {got_public:?}, admin {got_admin:?}\n{resp}");
    }
    Ok(())
}

fn named(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<{}>", body.chars().take(40).collect::<String>()))
}

#[tokio::test]
async fn routing_by_virtual_host_context_root_case_and_resource() -> anyhow::Result<()> {
    let names = ["any", "wild", "exact", "api", "apiv2", "case", "res", "rx"];
    let mut backends = Vec::new();
    for n in names {
        backends.push(Backend::start(n, Behavior::Echo).await?);
    }
    let port = free_port();
    let mut toml = vec![
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::vhost(2, "*.example.test", port),
        config::vhost(3, "www.example.test", port),
    ];
    for (i, b) in backends.iter().enumerate() {
        toml.push(config::site(i as u64 + 1, &[&b.target()], ""));
    }
    toml.extend([
        config::app(1, "/", 1, 1, ""),
        config::app(2, "/", 2, 2, ""),
        config::app(3, "/", 3, 3, ""),
        config::app(4, "/api", 3, 4, ""),
        config::app(5, "/api/v2", 3, 5, ""),
        config::app(6, "/Case", 1, 6, "caseSensitivePath = true\n"),
        RESOURCE_APP.to_string(),
        REGEX_APP.to_string(),
    ]);
    let _node = Node::builder().toml(toml.join("\n")).start().await?;
    let c = client::https(&["www.example.test", "a.example.test", "other.test"]);
    let hit = |host: &'static str, method: &'static str, path: &'static str| {
        let c = c.clone();
        async move {
            let url = format!("http://{host}:{port}{path}");
            let r = c
                .request(method.parse().unwrap_or_default(), url)
                .send()
                .await?;
            let status = r.status().as_u16();
            let body = r.text().await?;
            anyhow::Ok(if status == 200 {
                named(&body)
            } else {
                status.to_string()
            })
        }
    };
    assert_eq!(hit("other.test", "GET", "/x").await?, "any");
    assert_eq!(hit("a.example.test", "GET", "/x").await?, "wild");
    assert_eq!(hit("www.example.test", "GET", "/x").await?, "exact");
    assert_eq!(hit("www.example.test", "GET", "/api").await?, "api");
    assert_eq!(hit("www.example.test", "GET", "/api/v1/x").await?, "api");
    assert_eq!(hit("www.example.test", "GET", "/api/v2/x").await?, "apiv2");
    assert_eq!(
        hit("www.example.test", "GET", "/api/v2x").await?,
        "api",
        "segment boundary"
    );
    assert_eq!(
        hit("www.example.test", "GET", "/apix").await?,
        "exact",
        "segment boundary"
    );
    assert_eq!(hit("other.test", "GET", "/Case/x").await?, "case");
    assert_eq!(
        hit("other.test", "GET", "/case/x").await?,
        "any",
        "case-sensitive root"
    );
    assert_eq!(hit("other.test", "GET", "/res/items/1").await?, "res");
    assert_eq!(
        hit("other.test", "DELETE", "/res/items/1").await?,
        "403",
        "method not allowed by resource"
    );
    assert_eq!(
        hit("other.test", "DELETE", "/res/admin/x").await?,
        "res",
        "explicit resource"
    );
    assert_eq!(
        hit("other.test", "GET", "/res/other").await?,
        "403",
        "no resource matches"
    );
    assert_eq!(hit("other.test", "GET", "/rx/items/42").await?, "rx");
    assert_eq!(
        hit("other.test", "GET", "/rx/items/abc").await?,
        "403",
        "regex must match the whole path"
    );
    Ok(())
}

const RESOURCE_APP: &str = r#"
[[applications]]
id = 7
name = "resources"
contextRoot = "/res"
virtualHostIds = [1]
siteId = 7

[[resources]]
id = 701
applicationId = 7
name = "items (read)"
methods = ["GET", "HEAD"]
pathPatterns = [{ type = "WILDCARD", pattern = "/items/*" }]
unprotected = true

[[resources]]
id = 702
applicationId = 7
name = "admin"
methods = ["*"]
pathPatterns = [{ type = "WILDCARD", pattern = "/admin/*" }]
unprotected = true
"#;

const REGEX_APP: &str = r#"
[[applications]]
id = 8
name = "regex"
contextRoot = "/rx"
virtualHostIds = [1]
siteId = 8
manualOrderingEnabled = true
resourceOrder = [801]

[[resources]]
id = 801
applicationId = 8
name = "numeric items"
pathPatterns = [{ type = "REGEX", pattern = "/items/[0-9]+" }]
unprotected = true
"#;
