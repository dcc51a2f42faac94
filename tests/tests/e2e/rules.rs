//! Access-control rules end to end: each rule type passing, failing and negated, rule sets
//! (all, any, nested), rejection handlers and the built-in answers, global unprotected resources
//! and host redirects. Every application here is a `Web` or `API` application whose only
//! resource is protected, so its policy decides.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::client::{raw_head, status_of};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};

/// `[[rules]]` with an inline configuration table.
fn rule(id: u64, kind: &str, configuration: &str) -> String {
    format!(
        "[[rules]]\nid = {id}\nname = \"rule {id}\"\ntype = \"{kind}\"\nconfiguration = {{ {configuration} }}\n"
    )
}

/// A web application at `root` whose protected `/*` resource is guarded by `policy` (TOML
/// array items such as `{ type = "Rule", id = 1 }`) on the application.
fn guarded(id: u64, root: &str, policy: &str) -> String {
    format!(
        "[[applications]]\nid = {id}\nname = \"app {id}\"\ncontextRoot = \"{root}\"\n\
         virtualHostIds = [1]\nsiteId = 1\napplicationType = \"Web\"\n\
         policy = {{ Web = [{policy}] }}\n\
         [[resources]]\nid = {rid}\napplicationId = {id}\nname = \"all\"\n\
         pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/*\" }}]\n",
        rid = id * 100
    )
}

fn uses(ids: &[u64]) -> String {
    ids.iter()
        .map(|id| format!("{{ type = \"Rule\", id = {id} }}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn base(port: u16, backend: &Backend) -> String {
    [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&backend.target()], ""),
    ]
    .join("\n")
}

/// UTC `HH:MM` of now shifted by `hours`.
fn clock(hours: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let minutes = (secs / 60 + hours * 60).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

struct Rig {
    port: u16,
    client: reqwest::Client,
    _node: Node,
}

impl Rig {
    async fn start(toml: String) -> anyhow::Result<Self> {
        let port = free_port();
        let toml = toml.replace("{port}", &port.to_string());
        let node = Node::builder().toml(toml).start().await?;
        Ok(Self {
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            _node: node,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn status(&self, req: reqwest::RequestBuilder) -> anyhow::Result<u16> {
        match req.send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) => anyhow::bail!("{e:?}\nnode log:\n{}", self._node.stdout()),
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<u16> {
        self.status(self.client.get(self.url(path))).await
    }
}

#[tokio::test]
async fn network_time_method_header_and_parameter_rules_pass_fail_and_negate() -> anyhow::Result<()>
{
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    let rules = [
        rule(
            1,
            "NetworkRange",
            "cidrNotation = [\"10.0.0.0/8\", \"127.0.0.0/8\"]",
        ),
        rule(2, "NetworkRange", "cidrNotation = \"10.0.0.0/8\""),
        rule(
            3,
            "NetworkRange",
            "cidrNotation = \"127.0.0.1\", negate = true",
        ),
        rule(
            4,
            "TimeRange",
            &format!("startTime = \"{}\", endTime = \"{}\"", clock(-2), clock(2)),
        ),
        rule(
            5,
            "TimeRange",
            &format!("startTime = \"{}\", endTime = \"{}\"", clock(2), clock(4)),
        ),
        rule(
            6,
            "TimeRange",
            &format!(
                "startTime = \"{}\", endTime = \"{}\", negate = true",
                clock(-2),
                clock(2)
            ),
        ),
        // Kiritimati is UTC+14: the UTC window around now is closed there.
        rule(
            7,
            "TimeRange",
            &format!(
                "startTime = \"{}\", endTime = \"{}\", timeZone = \"Pacific/Kiritimati\"",
                clock(-2),
                clock(2)
            ),
        ),
        rule(8, "HttpMethod", "methods = [\"GET\", \"HEAD\"]"),
        rule(9, "HttpMethod", "methods = [\"GET\"], negate = true"),
        rule(
            10,
            "HttpRequestHeader",
            "headers = [{ name = \"X-Team\", value = \"blue*\" }]",
        ),
        rule(
            11,
            "HttpRequestHeader",
            "headers = [{ name = \"X-Team\", value = \"blue*\" }], caseSensitive = true",
        ),
        rule(
            12,
            "HttpRequestHeader",
            "headers = [{ name = \"X-Team\", value = \"blue*\" }], negate = true",
        ),
        rule(
            13,
            "HttpRequestParameter",
            "parameters = [{ name = \"tier\", value = \"gold\" }]",
        ),
        rule(
            14,
            "HttpRequestParameter",
            "parameters = [{ name = \"tier\", value = \"gold\" }], negate = true",
        ),
    ];
    toml.push_str(&rules.join("\n"));
    for (i, root) in [
        "/net-in",
        "/net-out",
        "/net-neg",
        "/time-in",
        "/time-out",
        "/time-neg",
        "/time-tz",
        "/method",
        "/method-neg",
        "/header",
        "/header-case",
        "/header-neg",
        "/param",
        "/param-neg",
    ]
    .iter()
    .enumerate()
    {
        let id = i as u64 + 1;
        toml.push_str(&guarded(id, root, &uses(&[id])));
    }
    let rig = Rig::start(toml).await?;
    let c = &rig.client;

    assert_eq!(
        rig.get("/net-in/x").await?,
        200,
        "127.0.0.1 is in 127.0.0.0/8"
    );
    assert_eq!(rig.get("/net-out/x").await?, 403);
    assert_eq!(
        rig.get("/net-neg/x").await?,
        403,
        "negated range containing the client"
    );

    assert_eq!(rig.get("/time-in/x").await?, 200);
    assert_eq!(rig.get("/time-out/x").await?, 403);
    assert_eq!(rig.get("/time-neg/x").await?, 403);
    assert_eq!(
        rig.get("/time-tz/x").await?,
        403,
        "the window is read in the rule's time zone"
    );

    assert_eq!(rig.get("/method/x").await?, 200);
    assert_eq!(rig.status(c.post(rig.url("/method/x"))).await?, 403);
    assert_eq!(rig.get("/method-neg/x").await?, 403);
    assert_eq!(rig.status(c.delete(rig.url("/method-neg/x"))).await?, 200);

    let team = |path: &str, value: &str| c.get(rig.url(path)).header("x-team", value.to_string());
    assert_eq!(
        rig.status(team("/header/x", "BlueBirds")).await?,
        200,
        "values fold case by default"
    );
    assert_eq!(rig.get("/header/x").await?, 403, "header missing");
    assert_eq!(rig.status(team("/header/x", "red")).await?, 403);
    assert_eq!(rig.status(team("/header-case/x", "BlueBirds")).await?, 403);
    assert_eq!(rig.status(team("/header-case/x", "bluebirds")).await?, 200);
    assert_eq!(rig.status(team("/header-neg/x", "blue")).await?, 403);
    assert_eq!(rig.get("/header-neg/x").await?, 200);

    assert_eq!(rig.get("/param/x?tier=gold").await?, 200);
    assert_eq!(
        rig.get("/param/x?tier=g%6Fld").await?,
        200,
        "values are compared decoded"
    );
    assert_eq!(rig.get("/param/x?tier=silver").await?, 403);
    let form = |body: &str| {
        c.post(rig.url("/param/x"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
    };
    assert_eq!(
        rig.status(form("a=1&tier=gold")).await?,
        200,
        "form parameters count"
    );
    let seen = backend.last_seen("/param/x")?;
    assert_eq!(
        seen.body_len,
        "a=1&tier=gold".len(),
        "the read form is still forwarded"
    );
    assert_eq!(rig.status(form("tier=silver")).await?, 403);
    let big = format!("tier=gold&pad={}", "x".repeat(300_000));
    assert_eq!(
        rig.status(form(&big)).await?,
        413,
        "over pa.default.maxRequestBodySize"
    );
    assert_eq!(rig.get("/param-neg/x?tier=gold").await?, 403);
    assert_eq!(rig.get("/param-neg/x").await?, 200);
    Ok(())
}

#[tokio::test]
async fn rule_sets_combine_all_any_and_nest() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    toml.push_str(&rule(1, "HttpMethod", "methods = [\"GET\"]"));
    toml.push_str(&rule(
        2,
        "HttpRequestHeader",
        "headers = [{ name = \"X-Key\", value = \"k1\" }]",
    ));
    toml.push_str(&rule(3, "NetworkRange", "cidrNotation = \"10.0.0.0/8\""));
    toml.push_str(
        "[[ruleSets]]\nid = 20\nname = \"GET or key\"\nsuccessCriteria = \"SuccessIfAnyOneSucceeds\"\n\
         elementType = \"Rule\"\npolicy = [1, 2]\n\
         [[ruleSets]]\nid = 21\nname = \"GET and key\"\nsuccessCriteria = \"SuccessIfAllSucceed\"\n\
         elementType = \"Rule\"\npolicy = [1, 2]\n\
         [[ruleSets]]\nid = 22\nname = \"internal\"\nelementType = \"Rule\"\npolicy = [3]\n\
         [[ruleSets]]\nid = 23\nname = \"(GET and key) or internal\"\n\
         successCriteria = \"SuccessIfAnyOneSucceeds\"\nelementType = \"RuleSet\"\npolicy = [22, 21]\n",
    );
    let set = |id: u64| format!("{{ type = \"RuleSet\", id = {id} }}");
    toml.push_str(&guarded(1, "/any", &set(20)));
    toml.push_str(&guarded(2, "/all", &set(21)));
    toml.push_str(&guarded(3, "/nested", &set(23)));
    let rig = Rig::start(toml).await?;
    let c = &rig.client;
    let keyed = |m: reqwest::Method, path: &str| c.request(m, rig.url(path)).header("x-key", "k1");

    assert_eq!(rig.get("/any/x").await?, 200);
    assert_eq!(
        rig.status(keyed(reqwest::Method::POST, "/any/x")).await?,
        200
    );
    assert_eq!(rig.status(c.post(rig.url("/any/x"))).await?, 403);

    assert_eq!(rig.get("/all/x").await?, 403);
    assert_eq!(
        rig.status(keyed(reqwest::Method::GET, "/all/x")).await?,
        200
    );
    assert_eq!(
        rig.status(keyed(reqwest::Method::POST, "/all/x")).await?,
        403
    );

    assert_eq!(
        rig.status(keyed(reqwest::Method::GET, "/nested/x")).await?,
        200
    );
    assert_eq!(
        rig.get("/nested/x").await?,
        403,
        "neither internal nor GET+key"
    );
    Ok(())
}

#[tokio::test]
async fn rejection_handlers_and_built_in_answers() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    toml.push_str(
        "[[rejectionHandlers]]\nid = 1\nname = \"json teapot\"\ntype = \"ErrorTemplate\"\n\
         configuration = { responseCode = 418, contentType = \"JSON\", message = \"No tea\" }\n\
         [[rejectionHandlers]]\nid = 2\nname = \"custom page\"\ntype = \"ErrorTemplate\"\n\
         configuration = { responseCode = 451, template = \"<p>${status}: ${message} (${info}) ${requestId}</p>\", message = \"<b>Blocked</b>\" }\n\
         [[rejectionHandlers]]\nid = 3\nname = \"to help\"\ntype = \"Redirect\"\n\
         configuration = { url = \"https://help.example.test/denied\", responseCode = 303 }\n",
    );
    toml.push_str(&rule(1, "Rejection", "rejectionHandlerId = 1"));
    toml.push_str(&rule(
        2,
        "HttpMethod",
        "methods = [\"POST\"], rejectionHandlerId = 2",
    ));
    toml.push_str(&rule(3, "Rejection", "rejectionHandlerId = 3"));
    toml.push_str(&rule(4, "HttpMethod", "methods = [\"POST\"]"));
    toml.push_str(&rule(
        5,
        "Redirect",
        "url = \"/moved/here\", responseCode = 307",
    ));
    toml.push_str(&guarded(1, "/teapot", &uses(&[1])));
    toml.push_str(&guarded(2, "/custom", &uses(&[2])));
    toml.push_str(&guarded(3, "/redirected", &uses(&[3])));
    toml.push_str(&guarded(4, "/web", &uses(&[4])));
    toml.push_str(&guarded(5, "/moved", &uses(&[5])));
    toml.push_str(
        "[[applications]]\nid = 6\nname = \"api\"\ncontextRoot = \"/api\"\nvirtualHostIds = [1]\n\
         siteId = 1\napplicationType = \"API\"\naccessValidatorId = 2\n\
         policy = { API = [{ type = \"Rule\", id = 4 }] }\n\
         [[resources]]\nid = 600\napplicationId = 6\nname = \"anonymous\"\nanonymous = true\n\
         pathPatterns = [{ type = \"WILDCARD\", pattern = \"/*\" }]\n\
         [[accessTokenValidators]]\nid = 2\nname = \"v\"\n\
         [accessTokenValidators.configuration]\njwksUrl = \"http://127.0.0.1:9/jwks\"\n\
         issuer = \"https://issuer.test\"\naudience = \"api\"\n",
    );
    let rig = Rig::start(toml).await?;
    let c = &rig.client;

    let r = c.get(rig.url("/teapot/x")).send().await?;
    assert_eq!(r.status().as_u16(), 418);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["message"], "No tea");
    assert!(
        body["requestId"].as_str().is_some_and(|id| id.len() == 16),
        "{body}"
    );
    assert_eq!(body["info"], "access is denied");

    let r = c.get(rig.url("/custom/x")).send().await?;
    assert_eq!(r.status().as_u16(), 451);
    let id = r.headers()["x-request-id"].to_str()?.to_string();
    let text = r.text().await?;
    assert_eq!(
        text,
        format!("<p>451: &lt;b&gt;Blocked&lt;/b&gt; (the method is not allowed) {id}</p>"),
        "placeholders filled, values escaped"
    );

    let r = c.get(rig.url("/redirected/x")).send().await?;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "https://help.example.test/denied");

    let r = c.get(rig.url("/moved/x")).send().await?;
    assert_eq!(r.status().as_u16(), 307);
    assert_eq!(r.headers()["location"], "/moved/here");

    let r = c
        .get(rig.url("/web/x"))
        .header("accept", "application/json")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.headers()["content-type"]
            .to_str()?
            .starts_with("text/html"),
        "the default web handler answers HTML"
    );
    let r = c.get(rig.url("/api/x")).send().await?;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "the default API handler"
    );
    assert_eq!(rig.status(c.post(rig.url("/api/x"))).await?, 200);
    assert!(
        backend.seen().iter().all(|s| s.method == "POST"),
        "denied requests never reach the site"
    );
    Ok(())
}

#[tokio::test]
async fn websocket_handshakes_need_an_allowed_origin_and_subprotocol() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    toml.push_str(&rule(
        1,
        "WebSocketHandshake",
        "allowedOrigins = [\"https://app.example.test\"], allowedSubprotocols = [\"chat\"]",
    ));
    toml.push_str(&rule(2, "WebSocketHandshake", ""));
    toml.push_str(&guarded(1, "/ws", &uses(&[1])));
    toml.push_str(&guarded(2, "/same", &uses(&[2])));
    let rig = Rig::start(toml).await?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], rig.port));
    let handshake = |path: &str, origin: &str, protocol: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}{protocol}\r\n",
            rig.port
        )
    };
    let status =
        |req: String| async move { anyhow::Ok(status_of(&raw_head(addr, req.as_bytes()).await?)) };

    let good = "Origin: https://app.example.test\r\n";
    assert_eq!(
        status(handshake("/ws/x", good, "Sec-WebSocket-Protocol: chat\r\n")).await?,
        101
    );
    assert_eq!(
        status(handshake("/ws/x", "Origin: https://evil.test\r\n", "")).await?,
        403
    );
    assert_eq!(
        status(handshake(
            "/ws/x",
            good,
            "Sec-WebSocket-Protocol: chat, shell\r\n"
        ))
        .await?,
        403
    );
    assert_eq!(rig.get("/ws/plain").await?, 200, "other requests pass");

    let own = format!("Origin: http://127.0.0.1:{}\r\n", rig.port);
    assert_eq!(
        status(handshake("/same/x", &own, "")).await?,
        101,
        "same origin"
    );
    assert_eq!(
        status(handshake("/same/x", good, "")).await?,
        403,
        "no list: same origin only"
    );
    Ok(())
}

#[tokio::test]
async fn global_unprotected_resources_and_host_redirects() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    toml.push_str(&rule(1, "NetworkRange", "cidrNotation = \"10.0.0.0/8\""));
    toml.push_str(&guarded(1, "/app", &uses(&[1])));
    toml.push_str(
        "[[globalUnprotectedResources]]\nid = \"assets\"\nname = \"assets\"\nwildcardPath = \"/app/static/*\"\n\
         [[globalUnprotectedResources]]\nid = \"off\"\nname = \"off\"\nwildcardPath = \"/app/off/*\"\nenabled = false\n\
         [[redirects]]\nid = \"old\"\nsource = { host = \"old.example.test\", port = {port} }\n\
         target = { host = \"new.example.test\", port = 443 }\n",
    );
    let rig = Rig::start(toml).await?;
    assert_eq!(rig.get("/app/x").await?, 403);
    assert_eq!(
        rig.get("/app/static/site.css").await?,
        200,
        "global unprotected"
    );
    assert_eq!(
        rig.get("/app/off/x").await?,
        403,
        "disabled entries are ignored"
    );
    let r = rig
        .client
        .get(rig.url("/app/x?a=1"))
        .header("host", format!("old.example.test:{}", rig.port))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 301);
    assert_eq!(
        r.headers()["location"],
        "https://new.example.test/app/x?a=1"
    );
    Ok(())
}

#[tokio::test]
async fn bad_rules_are_refused_listing_every_problem() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(free_port(), &backend);
    toml.push_str(&rule(1, "NetworkRange", "cidrNotation = [\"10.0.0.0/33\"]"));
    toml.push_str(&rule(
        2,
        "TimeRange",
        "startTime = \"09:00\", endTime = \"17:00\", timeZone = \"Mars/Olympus\"",
    ));
    toml.push_str(&rule(
        3,
        "Cors",
        "allowedOrigins = [\"*\"], allowCredentials = true",
    ));
    toml.push_str(&rule(
        4,
        "HttpMethod",
        "methods = [\"GET\"], rejectionHandlerId = 99",
    ));
    toml.push_str(&rule(5, "OAuthScope", "scope = \"read\""));
    toml.push_str(
        "[[ruleSets]]\nid = 20\nname = \"loop a\"\nelementType = \"RuleSet\"\npolicy = [21]\n\
         [[ruleSets]]\nid = 21\nname = \"loop b\"\nelementType = \"RuleSet\"\npolicy = [20]\n",
    );
    toml.push_str(&guarded(1, "/app", &uses(&[5])));
    let mut node = Node::builder().toml(toml).spawn()?;
    let code = node.wait_exit(std::time::Duration::from_secs(20)).await?;
    let err = node.stderr();
    assert_eq!(code, Some(1), "{err}");
    for expected in [
        "rules[0].configuration.cidrNotation[0]: '10.0.0.0/33' is not an IP address or CIDR",
        "rules[2].configuration.allowCredentials: cannot be combined with the '*' origin",
        "rules[3].configuration.rejectionHandlerId: no rejection handler with id 99",
        "ruleSets[0].policy: rule set 20 contains itself",
        "applications[0].policy.Web: rule 'rule 5' checks a bearer token",
    ] {
        assert!(err.contains(expected), "missing '{expected}' in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    Ok(())
}

#[tokio::test]
async fn an_unknown_time_zone_is_refused_by_the_compile_step() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(free_port(), &backend);
    toml.push_str(&rule(
        1,
        "TimeRange",
        "startTime = \"09:00\", endTime = \"17:00\", timeZone = \"Mars/Olympus\"",
    ));
    toml.push_str(&guarded(1, "/app", &uses(&[1])));
    let mut node = Node::builder().toml(toml).spawn()?;
    let code = node.wait_exit(std::time::Duration::from_secs(20)).await?;
    let err = node.stderr();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("rules[0].configuration.timeZone: 'Mars/Olympus' is not an IANA time zone"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn network_ranges_read_the_client_ip_only_from_trusted_forwarded_headers(
) -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let mut toml = base(0, &backend).replace("port = 0", "port = {port}");
    toml.push_str(&rule(1, "NetworkRange", "cidrNotation = \"10.0.0.0/8\""));
    toml.push_str(&guarded(1, "/app", &uses(&[1])));
    let trusted = format!(
        "{toml}[httpIpSource]\nheaderNameList = [\"X-Forwarded-For\"]\ntrustedProxies = [\"127.0.0.1\"]\n"
    );
    let untrusted = format!(
        "{toml}[httpIpSource]\nheaderNameList = [\"X-Forwarded-For\"]\ntrustedProxies = [\"192.0.2.1\"]\n"
    );
    let forwarded = |rig: &Rig| {
        rig.client
            .get(rig.url("/app/x"))
            .header("x-forwarded-for", "10.1.2.3")
    };
    let rig = Rig::start(trusted).await?;
    assert_eq!(
        rig.status(forwarded(&rig)).await?,
        200,
        "believed from a trusted proxy"
    );
    assert_eq!(rig.get("/app/x").await?, 403);
    let rig = Rig::start(untrusted).await?;
    assert_eq!(
        rig.status(forwarded(&rig)).await?,
        403,
        "an untrusted peer cannot choose its address"
    );
    Ok(())
}
