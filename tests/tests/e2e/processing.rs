//! Processing rules and traffic rules end to end: URL rewrites seen by the backend, response
//! header and cookie rewrites seen by the client, the processing order (resource before
//! application), CORS preflights and actual requests, and rate limiting under concurrent load.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};

fn rule(id: u64, kind: &str, configuration: &str) -> String {
    format!(
        "[[rules]]\nid = {id}\nname = \"rule {id}\"\ntype = \"{kind}\"\nconfiguration = {{ {configuration} }}\n"
    )
}

fn items(ids: &[u64]) -> String {
    ids.iter()
        .map(|id| format!("{{ type = \"Rule\", id = {id} }}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An application of `kind` at `root` with application rules `app_rules` and one `/*`
/// resource with `resource_rules` (policy list `Web` or `API` per `kind`).
fn app(
    id: u64,
    root: &str,
    kind: &str,
    app_rules: &[u64],
    resource_rules: &[u64],
    extra: &str,
) -> String {
    let list = if kind == "Web" { "Web" } else { "API" };
    format!(
        "[[applications]]\nid = {id}\nname = \"app {id}\"\ncontextRoot = \"{root}\"\n\
         virtualHostIds = [1]\nsiteId = 1\napplicationType = \"{kind}\"\n{extra}\n\
         policy = {{ {list} = [{}] }}\n\
         [[resources]]\nid = {rid}\napplicationId = {id}\nname = \"all\"\n\
         pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/*\" }}]\n\
         policy = {{ {list} = [{}] }}\n",
        items(app_rules),
        items(resource_rules),
        rid = id * 100
    )
}

async fn start(backend: &Backend, body: &str) -> anyhow::Result<(Node, u16)> {
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&backend.target()], ""),
        body.to_string(),
    ]
    .join("\n");
    Ok((Node::builder().toml(toml).start().await?, port))
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()?)
}

#[tokio::test]
async fn rewrites_reach_the_backend_and_the_client_resource_rules_first() -> anyhow::Result<()> {
    let backend = Backend::start(
        "b",
        Behavior::Headers(vec![
            (
                "location",
                "http://backend.internal:8080/shop/cart?x=1".into(),
            ),
            (
                "content-location",
                "http://backend.internal:8080/shop/item".into(),
            ),
            (
                "set-cookie",
                "sid=1; Domain=backend.internal; Path=/internal/shop/x; HttpOnly".into(),
            ),
            ("set-cookie", "other=2; Path=/elsewhere".into()),
        ]),
    )
    .await?;
    let body = [
        rule(
            1,
            "RewriteUrl",
            "mapFrom = \"^/shop/old/(.*)$\", mapTo = \"/shop/v1/$1\"",
        ),
        rule(
            2,
            "RewriteUrl",
            "mapFrom = \"^/shop/v1/\", mapTo = \"/shop/v2/\"",
        ),
        rule(
            3,
            "RewriteResponseHeader",
            "mapFrom = \"^http://backend.internal:8080/\", mapTo = \"https://www.example.test/\"",
        ),
        rule(
            4,
            "RewriteCookieDomain",
            "serverSideDomain = \"backend.internal\", publicDomain = \"example.test\"",
        ),
        rule(
            5,
            "RewriteCookiePath",
            "serverSidePath = \"/internal/shop\", publicPath = \"/shop\"",
        ),
        rule(
            6,
            "RewriteUrl",
            "mapFrom = \"^/shop/escape\", mapTo = \"/shop/../../../etc\"",
        ),
        // Application rule 2 runs after resource rule 1: /shop/old/x → /shop/v1/x → /shop/v2/x.
        app(1, "/shop", "Web", &[2, 3, 4, 5], &[1, 6], ""),
    ]
    .join("\n");
    let (_node, port) = start(&backend, &body).await?;
    let c = client()?;
    let r = c
        .get(format!("http://127.0.0.1:{port}/shop/old/x?keep=1"))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let seen = backend.last_seen("/shop/v2/x")?;
    assert_eq!(seen.query.as_deref(), Some("keep=1"), "the query is kept");
    assert_eq!(
        r.headers()["location"],
        "https://www.example.test/shop/cart?x=1"
    );
    assert_eq!(
        r.headers()["content-location"],
        "https://www.example.test/shop/item"
    );
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        cookies,
        vec![
            "sid=1; Domain=example.test; Path=/shop/x; HttpOnly",
            "other=2; Path=/elsewhere"
        ]
    );
    let unchanged = c
        .get(format!("http://127.0.0.1:{port}/shop/new"))
        .send()
        .await?;
    assert_eq!(unchanged.status().as_u16(), 200);
    assert!(backend.last_seen("/shop/new").is_ok());
    let escape = c
        .get(format!("http://127.0.0.1:{port}/shop/escape"))
        .send()
        .await?;
    assert_eq!(
        escape.status().as_u16(),
        400,
        "a rewrite cannot climb above the root"
    );
    Ok(())
}

#[tokio::test]
async fn cors_preflights_are_answered_and_responses_decorated() -> anyhow::Result<()> {
    let backend = Backend::start(
        "b",
        Behavior::Headers(vec![("access-control-allow-origin", "*".into())]),
    )
    .await?;
    let body = [
        rule(
            1,
            "Cors",
            "allowedOrigins = [\"https://app.example.test\", \"https://*.tenants.test\"], \
             allowedMethods = [\"GET\", \"PUT\"], allowCredentials = true, \
             exposedResponseHeaders = [\"X-Total\"], corsPreflightMaxAge = 120",
        ),
        // A protected API: preflights must be answered without a token.
        app(1, "/api", "API", &[1], &[], "accessValidatorId = 2"),
        "[[accessTokenValidators]]\nid = 2\nname = \"v\"\n\
         [accessTokenValidators.configuration]\njwksUrl = \"http://127.0.0.1:9/jwks\"\n\
         issuer = \"https://issuer.test\"\naudience = \"api\"\n"
            .to_string(),
        app(2, "/web", "Web", &[1], &[], ""),
    ]
    .join("\n");
    let (_node, port) = start(&backend, &body).await?;
    let c = client()?;
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");

    let pre = c
        .request(reqwest::Method::OPTIONS, url("/api/orders"))
        .header("origin", "https://app.example.test")
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await?;
    assert_eq!(pre.status().as_u16(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT");
    assert_eq!(h["access-control-max-age"], "120");
    assert!(
        backend.seen().is_empty(),
        "the gateway answered the preflight itself"
    );

    for (origin, method) in [
        ("https://evil.test", "GET"),
        ("https://app.example.test", "DELETE"),
    ] {
        let refused = c
            .request(reqwest::Method::OPTIONS, url("/api/orders"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .send()
            .await?;
        assert_eq!(refused.status().as_u16(), 403, "{origin} {method}");
        assert!(!refused
            .headers()
            .contains_key("access-control-allow-origin"));
    }

    let actual = c
        .get(url("/web/page"))
        .header("origin", "https://a1.tenants.test")
        .send()
        .await?;
    assert_eq!(actual.status().as_u16(), 200);
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "https://a1.tenants.test",
        "the backend's '*' is replaced by the allowed origin"
    );
    assert_eq!(actual.headers()["access-control-expose-headers"], "X-Total");
    assert!(actual.headers()["vary"].to_str()?.contains("Origin"));

    // A refusal made by the gateway (no token) is readable by the allowed origin's script.
    let refused = c
        .get(url("/api/orders"))
        .header("origin", "https://app.example.test")
        .send()
        .await?;
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );

    let foreign = c
        .get(url("/web/page"))
        .header("origin", "https://evil.test")
        .send()
        .await?;
    assert_eq!(
        foreign.status().as_u16(),
        403,
        "a cross-origin request from elsewhere"
    );
    let same = c
        .post(url("/web/page"))
        .header("origin", format!("http://127.0.0.1:{port}"))
        .send()
        .await?;
    assert_eq!(same.status().as_u16(), 200, "same-origin requests pass");
    assert_eq!(
        same.headers()["access-control-allow-origin"],
        "*",
        "left as the backend sent it"
    );
    Ok(())
}

#[tokio::test]
async fn rate_limits_allow_exactly_the_bucket_under_concurrent_load() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let body = [
        rule(
            1,
            "RateLimiting",
            "maxBurstRequests = 9, requestIntervalMs = 60000, policyGranularity = \"IP\"",
        ),
        rule(
            2,
            "RateLimiting",
            "maxBurstRequests = 4, requestIntervalMs = 60000, policyGranularity = \"Application\"",
        ),
        app(1, "/ip", "Web", &[1], &[], ""),
        app(2, "/app", "Web", &[], &[2], ""),
    ]
    .join("\n");
    let (_node, port) = start(&backend, &body).await?;
    let c = client()?;
    for (root, allowed) in [("/ip", 10), ("/app", 5)] {
        let requests = (0..60).map(|i| {
            let c = c.clone();
            let url = format!("http://127.0.0.1:{port}{root}/r{i}");
            async move {
                let r = c.get(url).header("accept", "text/html").send().await?;
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let json = r.headers()["content-type"] == "application/json";
                anyhow::Ok((r.status().as_u16(), retry, json))
            }
        });
        let results = futures_util::future::try_join_all(requests).await?;
        let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
        assert_eq!(ok, allowed, "{root}: burst + 1 within one interval");
        for (status, retry, json) in results.iter().filter(|(s, _, _)| *s != 200) {
            assert_eq!(*status, 429, "{root}");
            assert!(
                retry.is_some_and(|s| (1..=60).contains(&s)),
                "{root}: Retry-After {retry:?}"
            );
            assert!(json, "{root}: the rate-limit answer is JSON");
        }
    }
    Ok(())
}
