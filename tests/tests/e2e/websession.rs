//! Web sessions against a real OpenID provider (oidc-provider, run by node), driven by an HTTP
//! client with a cookie jar through the provider's own login and consent forms: the code flow
//! with PKCE, identity to the backend, replayed, forged and foreign `state`, tampered and
//! foreign-audience cookies, open-redirect attempts, several tabs, SPA `401`, PAR,
//! `client_secret_post`, signed cookies, chunking, logout with and without SLO.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::idp::{self, login::query_params, Idp, IdpOptions};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};
use reqwest::header::{ACCEPT, LOCATION, SET_COOKIE};
use reqwest::{Client, Response};

/// How the test gateway's web session is set up.
pub(crate) struct Setup {
    client_id: &'static str,
    secret: &'static str,
    auth_method: &'static str,
    extra: &'static str,
    use_slo: bool,
    /// More TOML (rules, applications).
    more: String,
    /// `pa.default.session.cookie.size.threshold`.
    threshold: Option<u32>,
    /// Replaces the `clientCredentials` table of web session 1.
    credentials: Option<&'static str>,
    /// The provider fetches the `private_key_jwt` client's keys from the gateway.
    jwks_from_gateway: bool,
}

impl Setup {
    /// The default setup with more TOML (rules, applications).
    pub(crate) fn with_more(more: String) -> Self {
        Self {
            more,
            ..Self::default()
        }
    }
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            client_id: idp::WEB_ID,
            secret: idp::WEB_SECRET,
            auth_method: "client_secret_basic",
            extra: "",
            use_slo: false,
            more: String::new(),
            threshold: None,
            credentials: None,
            jwks_from_gateway: false,
        }
    }
}

pub(crate) struct World {
    pub(crate) idp: Idp,
    pub(crate) backend: Backend,
    pub(crate) node: Node,
    port: u16,
}

impl World {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    pub(crate) fn browser(&self) -> anyhow::Result<Client> {
        self.idp.browser_client_with(&[], true)
    }
}

fn toml(port: u16, backend: &str, idp: &Idp, s: &Setup) -> String {
    let pem = idp.ca_pem().replace('\n', "\\n");
    let issuer = idp.issuer();
    [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[backend], "sendPaCookie = false\n"),
        config::site(2, &[backend], ""),
        format!("[[certificates]]\nid = 1\nalias = \"idp ca\"\nfileData = \"{pem}\"\n"),
        "[[trustedCertificateGroups]]\nid = 10\nname = \"idp\"\ncertIds = [1]\n".into(),
        format!(
            "[oidcProvider]\nissuer = \"{issuer}\"\ntrustedCertificateGroupId = 10\nuseSlo = {}\n",
            s.use_slo
        ),
        format!(
            "[[webSessions]]\nid = 1\nname = \"web\"\naudience = \"web\"\n\
             scopes = [\"profile\", \"email\", \"groups\"]\n{}\n{}\n\
             clientCredentials = {}\n\
             [[webSessions]]\nid = 2\nname = \"other\"\naudience = \"other\"\nsecureCookie = false\n\
             clientCredentials = {{ clientId = \"{}\", clientSecret = \"{}\" }}\n",
            s.extra,
            if s.extra.contains("secureCookie") {
                ""
            } else {
                "secureCookie = false"
            },
            s.credentials.map(String::from).unwrap_or_else(|| format!(
                "{{ clientId = \"{}\", clientSecret = \"{}\", authMethod = \"{}\" }}",
                s.client_id, s.secret, s.auth_method
            )),
            idp::WEB_ID,
            idp::WEB_SECRET
        ),
        "[[identityMappings]]\nid = 1\nname = \"headers\"\ntype = \"Header\"\n\
         configuration = { attributeHeaderMappings = [\
         { subject = true, headerName = \"X-User\" }, \
         { attributeName = \"email\", headerName = \"X-Email\" }, \
         { attributeName = \"groups\", headerName = \"X-Groups\" }] }\n"
            .into(),
        config::app(
            1,
            "/web",
            1,
            1,
            "webSessionId = 1\nidentityMappingIds = { Web = 1 }\n",
        )
        .replace("unprotected = true", "unprotected = false"),
        config::app(2, "/other", 1, 2, "webSessionId = 2\n")
            .replace("unprotected = true", "unprotected = false"),
        config::app(3, "/open", 1, 1, "webSessionId = 1\n"),
        s.more.clone(),
    ]
    .join("\n")
}

pub(crate) async fn world(s: Setup) -> anyhow::Result<World> {
    let port = free_port();
    let idp = Idp::start(IdpOptions {
        redirect_uris: vec![format!("http://localhost:{port}/pa/oidc/cb")],
        post_logout_redirect_uris: vec![format!("http://localhost:{port}/bye")],
        web_jwks_uri: s
            .jwks_from_gateway
            .then(|| format!("http://localhost:{port}/pa/oidc/JWKS")),
        ..IdpOptions::default()
    })
    .await?;
    let backend = Backend::start("web", Behavior::Echo).await?;
    let mut node = Node::builder().toml(toml(port, &backend.target(), &idp, &s));
    if let Some(t) = s.threshold {
        node = node.prop("pa.default.session.cookie.size.threshold", t);
    }
    let node = node.start().await?;
    Ok(World {
        idp,
        backend,
        node,
        port,
    })
}

fn location(resp: &Response) -> String {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

/// Requests `path`, logs in at the provider as `user`, and follows the callback; returns the
/// callback's answer (a `302` back to `path` when all went well).
pub(crate) async fn log_in(
    w: &World,
    browser: &Client,
    path: &str,
    user: &str,
) -> anyhow::Result<Response> {
    let start = browser.get(w.url(path)).send().await?;
    anyhow::ensure!(start.status() == 302, "login start: {}", start.status());
    let callback = w.idp.login(browser, &location(&start), user).await?;
    Ok(browser.get(callback).send().await?)
}

#[tokio::test]
async fn code_flow_logs_in_maps_identity_and_logs_out() -> anyhow::Result<()> {
    let w = world(Setup::default()).await?;
    let browser = w.browser()?;

    // The redirect to the provider.
    let start = browser.get(w.url("/web/page?x=1")).send().await?;
    assert_eq!(start.status(), 302);
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&w.idp.authorization_endpoint()?),
        "{authorize}"
    );
    let q = query_params(&authorize)?;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], idp::WEB_ID);
    assert_eq!(q["redirect_uri"], w.url("/pa/oidc/cb"));
    assert_eq!(q["scope"], "openid profile email groups");
    assert_eq!(q["code_challenge_method"], "S256");
    for p in ["state", "nonce", "code_challenge"] {
        assert!(q.get(p).is_some_and(|v| v.len() >= 22), "{p}: {authorize}");
    }
    assert!(set_cookies(&start).iter().any(|c| c.starts_with("PA_N.")));

    // The provider's login, then the callback: back to the original URL with the cookie.
    let callback = w.idp.login(&browser, &authorize, "alice").await?;
    let done = browser.get(&callback).send().await?;
    assert_eq!(done.status(), 302);
    assert_eq!(location(&done), w.url("/web/page?x=1"));
    let cookies = set_cookies(&done);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("PA.web="))
        .cloned()
        .unwrap_or_default();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert_eq!(
        session
            .split(['=', ';'])
            .nth(1)
            .map(|v| v.split('.').count()),
        Some(5),
        "an encrypted (JWE) cookie"
    );

    // The backend sees the user, not the session cookie.
    let page = browser.get(w.url("/web/page?x=1")).send().await?;
    assert_eq!(page.status(), 200);
    let seen = w.backend.last_seen("/web/page")?;
    assert_eq!(seen.header_values("x-user"), ["alice"]);
    assert_eq!(seen.header_values("x-email"), ["alice@example.test"]);
    assert_eq!(seen.header_values("x-groups"), ["users"]);
    assert!(
        !seen.header_values("cookie").join(";").contains("PA."),
        "{:?}",
        seen.header_values("cookie")
    );

    // A replayed callback is refused, and sets no cookie.
    let replay = browser.get(&callback).send().await?;
    assert_eq!(replay.status(), 400);
    assert!(set_cookies(&replay)
        .iter()
        .all(|c| !c.starts_with("PA.web=")));

    // Logout clears the cookie; the next request starts a login again.
    let out = browser.get(w.url("/pa/oidc/logout")).send().await?;
    assert_eq!(out.status(), 200);
    assert!(set_cookies(&out)
        .iter()
        .any(|c| c.starts_with("PA.web=;") && c.contains("Max-Age=0")));
    assert_eq!(browser.get(w.url("/web/page")).send().await?.status(), 302);
    let png = browser.get(w.url("/pa/oidc/logout.png")).send().await?;
    assert_eq!(png.headers()["content-type"], "image/png");
    Ok(())
}

#[tokio::test]
async fn forged_foreign_and_tampered_inputs_are_refused() -> anyhow::Result<()> {
    let w = world(Setup::default()).await?;
    let browser = w.browser()?;
    let done = log_in(&w, &browser, "/web/a", "bob").await?;
    assert_eq!(done.status(), 302);
    let cookie = set_cookies(&done)
        .into_iter()
        .find(|c| c.starts_with("PA.web="))
        .and_then(|c| {
            c.split(';')
                .next()
                .map(|kv| kv["PA.web=".len()..].to_string())
        })
        .unwrap_or_default();
    let fresh = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let with_cookie = |name: &str, value: &str| {
        fresh
            .get(w.url("/web/a"))
            .header("cookie", format!("{name}={value}"))
            .send()
    };
    assert_eq!(
        with_cookie("PA.web", &cookie).await?.status(),
        200,
        "the real cookie"
    );
    let mut tampered = cookie.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    assert_eq!(with_cookie("PA.web", &tampered).await?.status(), 302);
    let other = fresh
        .get(w.url("/other/a"))
        .header("cookie", format!("PA.other={cookie}"))
        .send()
        .await?;
    assert_eq!(other.status(), 302, "a cookie of another audience");

    // A state from another browser (no binding cookie), and made-up states.
    let start = fresh.get(w.url("/web/b")).send().await?;
    let stolen_state = query_params(&location(&start))?["state"].clone();
    let cb = |state: &str| {
        let url = format!(
            "{}?code=x&state={}",
            w.url("/pa/oidc/cb"),
            urlencoding(state)
        );
        browser.get(url).send()
    };
    for state in [stolen_state.as_str(), "forged", ""] {
        let resp = cb(state).await?;
        assert_eq!(resp.status(), 400, "state {state:.20}");
        assert!(set_cookies(&resp).iter().all(|c| !c.starts_with("PA.web=")));
    }

    // Open-redirect attempts: refused as malformed (400), or the browser returns to this host.
    let mut logged_in = 0;
    for path in [
        "/web//evil.example/x",
        "/web/\\evil.example",
        "/web/%09/evil",
        "/web/@evil.example",
        "/web/x?next=https://evil.example/",
    ] {
        let b = w.browser()?;
        let start = b.get(w.url(path)).send().await?;
        if start.status() == 400 {
            continue;
        }
        assert_eq!(start.status(), 302, "{path}");
        let callback = w.idp.login(&b, &location(&start), "bob").await?;
        let back = location(&b.get(callback).send().await?);
        assert!(back.starts_with(&w.url("/web/")), "{path} -> {back}");
        logged_in += 1;
    }
    assert!(logged_in >= 3, "most of these are logins, not refusals");
    let logout = browser
        .get(w.url("/pa/oidc/logout?TargetResource=https://evil.example/"))
        .send()
        .await?;
    assert_eq!(logout.status(), 200, "a foreign target is ignored");
    let logout = browser
        .get(w.url(&format!(
            "/pa/oidc/logout?TargetResource={}",
            urlencoding(&w.url("/bye"))
        )))
        .send()
        .await?;
    assert_eq!(location(&logout), w.url("/bye"));
    Ok(())
}

fn urlencoding(s: &str) -> String {
    reqwest::Url::parse_with_params("x:", &[("v", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q["v=".len()..].to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn several_tabs_log_in_at_once_and_spas_get_401() -> anyhow::Result<()> {
    let w = world(Setup::default()).await?;
    let browser = w.browser()?;
    let mut authorize = Vec::new();
    for tab in 0..3 {
        let start = browser.get(w.url(&format!("/web/tab{tab}"))).send().await?;
        assert_eq!(start.status(), 302);
        authorize.push(location(&start));
    }
    // Completed in reverse order, each returns to its own page.
    for tab in (0..3).rev() {
        let callback = w.idp.login(&browser, &authorize[tab], "carol").await?;
        let done = browser.get(callback).send().await?;
        assert_eq!(done.status(), 302, "tab {tab}");
        assert_eq!(location(&done), w.url(&format!("/web/tab{tab}")));
    }

    let spa = Client::new()
        .get(w.url("/web/api/data"))
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    assert_eq!(spa.status(), 401);
    let body: serde_json::Value = spa.json().await?;
    assert_eq!(body["error"], "login_required");
    assert!(body["loginUrl"]
        .as_str()
        .is_some_and(|u| u.starts_with(&w.idp.authorization_endpoint().unwrap_or_default())));
    let xhr = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(w.url("/web/api/data"))
        .header("X-Requested-With", "XMLHttpRequest")
        .send()
        .await?;
    assert_eq!(xhr.status(), 401);
    let open = Client::new().get(w.url("/open/page")).send().await?;
    assert_eq!(open.status(), 200, "unprotected resources need no session");
    Ok(())
}

#[tokio::test]
async fn par_post_authentication_signed_cookies_and_single_logout() -> anyhow::Result<()> {
    let w = world(Setup {
        client_id: idp::WEB_POST_ID,
        secret: idp::WEB_POST_SECRET,
        auth_method: "client_secret_post",
        extra: "enablePushAuthorization = true\ncookieType = \"Signed\"\n",
        use_slo: true,
        ..Setup::default()
    })
    .await?;
    let browser = w.browser()?;
    let start = browser.get(w.url("/web/par")).send().await?;
    assert_eq!(start.status(), 302);
    let q = query_params(&location(&start))?;
    assert!(
        q.contains_key("request_uri") && !q.contains_key("state"),
        "{q:?}"
    );
    let callback = w.idp.login(&browser, &location(&start), "dave").await?;
    let done = browser.get(callback).send().await?;
    assert_eq!(done.status(), 302);
    let session = set_cookies(&done)
        .into_iter()
        .find(|c| c.starts_with("PA.web="))
        .unwrap_or_default();
    assert_eq!(
        session
            .split(['=', ';'])
            .nth(1)
            .map(|v| v.split('.').count()),
        Some(3),
        "a signed (JWS) cookie: {session:.60}"
    );
    assert_eq!(browser.get(w.url("/web/par")).send().await?.status(), 200);

    // Single logout: to the provider with id_token_hint, and back to the target.
    let target = urlencoding(&w.url("/bye"));
    let out = browser
        .get(w.url(&format!("/pa/oidc/logout?TargetResource={target}")))
        .send()
        .await?;
    assert_eq!(out.status(), 302);
    let end = location(&out);
    assert!(end.starts_with(&w.idp.end_session_endpoint()?), "{end}");
    let q = query_params(&end)?;
    assert!(q.contains_key("id_token_hint"));
    assert_eq!(q["post_logout_redirect_uri"], w.url("/bye"));
    let back = w.idp.confirm_logout(&browser, &end).await?;
    assert!(back.starts_with(&w.url("/bye")), "{back}");
    assert_eq!(browser.get(w.url("/web/par")).send().await?.status(), 302);
    Ok(())
}

pub(crate) fn protected_app(id: u64, root: &str, extra: &str) -> String {
    config::app(id, root, 1, 1, &format!("webSessionId = 1\n{extra}"))
        .replace("unprotected = true", "unprotected = false")
}

#[tokio::test]
async fn session_rules_access_token_mapping_post_preservation_and_chunks() -> anyhow::Result<()> {
    let more = [
        "[[rules]]\nid = 1\nname = \"admins\"\ntype = \"WebSessionAttribute\"\n\
         configuration = { attributes = [{ name = \"groups\", value = \"admins\" }] }\n\
         [[rules]]\nid = 2\nname = \"email scope\"\ntype = \"WebSessionScope\"\n\
         configuration = { scope = \"email\" }\n\
         [[rules]]\nid = 3\nname = \"phone scope\"\ntype = \"WebSessionScope\"\n\
         configuration = { scope = \"phone\" }\n\
         [[identityMappings]]\nid = 2\nname = \"op token\"\ntype = \"WebSessionAccessToken\"\n"
            .to_string(),
        protected_app(
            10,
            "/admin",
            "policy = { Web = [{ type = \"Rule\", id = 1 }] }\n",
        ),
        protected_app(
            11,
            "/email",
            "policy = { Web = [{ type = \"Rule\", id = 2 }] }\n",
        ),
        protected_app(
            12,
            "/phone",
            "policy = { Web = [{ type = \"Rule\", id = 3 }] }\n",
        ),
        protected_app(13, "/token", "identityMappingIds = { Web = 2 }\n"),
    ]
    .join("\n");
    let w = world(Setup {
        more,
        threshold: Some(400),
        ..Setup::default()
    })
    .await?;

    // A form POST without a session survives the login.
    let browser = w.browser()?;
    let start = browser
        .post(w.url("/web/form"))
        .form(&[("item", "tea & cake"), ("qty", "2")])
        .send()
        .await?;
    assert_eq!(start.status(), 302);
    let callback = w.idp.login(&browser, &location(&start), "user1").await?;
    let replay = browser.get(callback).send().await?;
    assert_eq!(replay.status(), 200);
    let cookies = set_cookies(&replay);
    assert!(
        cookies.iter().any(|c| c.starts_with("PA.web.1=")),
        "chunked over the 400-byte threshold: {cookies:?}"
    );
    let page = replay.text().await?;
    assert!(
        page.contains(&format!("action=\"{}\"", w.url("/web/form"))),
        "{page}"
    );
    assert!(
        page.contains("name=\"item\" value=\"tea &amp; cake\""),
        "{page}"
    );
    let posted = browser
        .post(w.url("/web/form"))
        .form(&[("item", "tea & cake"), ("qty", "2")])
        .send()
        .await?;
    assert_eq!(posted.status(), 200, "the chunked cookie is reassembled");
    let seen = w.backend.last_seen("/web/form")?;
    assert_eq!(seen.method, "POST");
    assert!(seen.body_len > 0);

    // Session rules: attributes and scopes.
    assert_eq!(browser.get(w.url("/admin/x")).send().await?.status(), 403);
    assert_eq!(browser.get(w.url("/email/x")).send().await?.status(), 200);
    assert_eq!(browser.get(w.url("/phone/x")).send().await?.status(), 403);
    let admin = w.browser()?;
    assert_eq!(
        log_in(&w, &admin, "/admin/x", "admin7").await?.status(),
        302
    );
    assert_eq!(admin.get(w.url("/admin/x")).send().await?.status(), 200);

    // The provider's access token goes to the site of the WebSessionAccessToken application.
    let tokens = w.browser()?;
    assert_eq!(log_in(&w, &tokens, "/token/x", "tess").await?.status(), 302);
    assert_eq!(tokens.get(w.url("/token/x")).send().await?.status(), 200);
    let auth = w
        .backend
        .last_seen("/token/x")?
        .header_values("authorization");
    let token = auth
        .first()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    assert_eq!(w.idp.userinfo(token).await?["sub"], "tess");
    assert_eq!(tokens.get(w.url("/web/x")).send().await?.status(), 200);
    assert!(w
        .backend
        .last_seen("/web/x")?
        .header_values("authorization")
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn private_key_jwt_signs_with_keys_published_at_the_oidc_jwks() -> anyhow::Result<()> {
    let w = world(Setup {
        credentials: Some(
            "{ clientId = \"gatehouse-web-jwt\", credentialsType = \"PRIVATE_KEY_JWT\" }",
        ),
        jwks_from_gateway: true,
        extra: "enablePushAuthorization = true\n",
        ..Setup::default()
    })
    .await?;
    let jwks: serde_json::Value = Client::new()
        .get(w.url("/pa/oidc/JWKS"))
        .send()
        .await?
        .json()
        .await?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k["kty"] == "EC" && k.get("d").is_none())
    );
    let browser = w.browser()?;
    let done = log_in(&w, &browser, "/web/jwt", "pat").await?;
    assert_eq!(
        done.status(),
        302,
        "PAR and the code exchange with client assertions"
    );
    assert_eq!(browser.get(w.url("/web/jwt")).send().await?.status(), 200);
    Ok(())
}

fn jws_payload(set_cookie: &str) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v)
        .unwrap_or_default();
    let payload = value.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[tokio::test]
async fn cached_attributes_stay_out_of_the_cookie_and_a_revoked_token_ends_the_session(
) -> anyhow::Result<()> {
    let w = world(Setup {
        extra: "cookieType = \"Signed\"\ncacheUserAttributes = true\n\
                enableRefreshUser = true\nrefreshUserInfoClaimsInterval = 1\n",
        ..Setup::default()
    })
    .await?;
    let browser = w.browser()?;
    let done = log_in(&w, &browser, "/web/x", "frank").await?;
    assert_eq!(done.status(), 302);
    let cookie = set_cookies(&done)
        .into_iter()
        .find(|c| c.starts_with("PA.web="))
        .unwrap_or_default();
    let claims = jws_payload(&cookie)?;
    assert_eq!(claims["attr"], serde_json::json!({}), "{claims}");
    assert_eq!(claims["ca"], true);
    assert_eq!(claims["sub"], "frank");
    let at = claims["at"].as_str().unwrap_or_default().to_string();
    assert!(!at.is_empty(), "the access token is kept for refreshes");

    assert_eq!(browser.get(w.url("/web/x")).send().await?.status(), 200);
    let seen = w.backend.last_seen("/web/x")?;
    assert_eq!(seen.header_values("x-email"), ["frank@example.test"]);

    // The provider revokes the access token: the next refresh ends the session.
    w.idp.revoke_as(&idp::ClientKind::Web, &at).await?;
    let b = &browser;
    let url = w.url("/web/x");
    gatehouse_tests::wait::until(
        "a login once the refresh finds the token revoked",
        std::time::Duration::from_secs(15),
        || async { (b.get(&url).send().await.ok()?.status() == 302).then_some(()) },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn form_post_login_type_takes_the_code_from_a_posted_form() -> anyhow::Result<()> {
    let w = world(Setup {
        extra: "oidcLoginType = \"POST\"\n",
        ..Setup::default()
    })
    .await?;
    let browser = w.browser()?;
    let start = browser.get(w.url("/web/posted")).send().await?;
    assert_eq!(start.status(), 302);
    assert_eq!(
        query_params(&location(&start))?["response_mode"],
        "form_post"
    );
    let (action, fields) = w
        .idp
        .login_form_post(&browser, &location(&start), "gina")
        .await?;
    assert_eq!(action, w.url("/pa/oidc/cb"));
    assert!(fields.iter().any(|(k, _)| k == "code"), "{fields:?}");
    let done = browser.post(&action).form(&fields).send().await?;
    assert_eq!(done.status(), 302);
    assert_eq!(location(&done), w.url("/web/posted"));
    assert_eq!(
        browser.get(w.url("/web/posted")).send().await?.status(),
        200
    );
    let replay = browser.post(&action).form(&fields).send().await?;
    assert_eq!(replay.status(), 400, "a posted state is single-use too");
    Ok(())
}

#[tokio::test]
async fn a_browser_that_drops_the_session_cookie_is_stopped_by_the_loop_breaker(
) -> anyhow::Result<()> {
    // A cookie domain that is not the host's: the client drops the session cookie.
    let w = world(Setup {
        extra: "cookieDomain = \"elsewhere.example\"\n",
        ..Setup::default()
    })
    .await?;
    let browser = w.browser()?;
    for round in 1..=5 {
        let done = log_in(&w, &browser, "/web/loop", "lou").await?;
        assert_eq!(done.status(), 302, "login {round} completes");
    }
    let stopped = browser.get(w.url("/web/loop")).send().await?;
    assert_eq!(
        stopped.status(),
        500,
        "the sixth login in a minute is refused"
    );
    assert!(stopped
        .text()
        .await?
        .contains("keeps returning without a session"));
    Ok(())
}
