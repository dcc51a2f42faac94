//! OAuth resource server with a local JWKS server: valid tokens per algorithm, the negative
//! corpus, key rotation (unknown `kid` accepted once the key is published), JWKS outage after
//! warm-up, the verified-token cache, anonymous and unprotected resources, RFC 6750 answers.

use std::time::Duration;

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::jwks::JwksServer;
use gatehouse_tests::node::Node;
use gatehouse_tests::tokens::{self, claims, SigningKey};
use gatehouse_tests::{config, free_port, wait};
use serde_json::json;

const ISS: &str = "https://issuer.gatehouse.test";
const AUD: &str = "api://orders";

/// An API application at `/api` with validator 2 reading `jwks_url`: `/api/*` protected,
/// `/api/public/*` anonymous, `/api/open/*` unprotected.
fn api_toml(port: u16, backend: &str, jwks_url: &str) -> String {
    let resources = "\
[[resources]]\nid = 11\napplicationId = 1\nname = \"protected\"\n\
pathPatterns = [{ type = \"WILDCARD\", pattern = \"/*\" }]\n\
[[resources]]\nid = 12\napplicationId = 1\nname = \"public\"\nanonymous = true\n\
pathPatterns = [{ type = \"WILDCARD\", pattern = \"/public/*\" }]\n\
[[resources]]\nid = 13\napplicationId = 1\nname = \"open\"\nunprotected = true\n\
pathPatterns = [{ type = \"WILDCARD\", pattern = \"/open/*\" }]\n";
    [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[backend], ""),
        "[[applications]]\nid = 1\nname = \"orders\"\ncontextRoot = \"/api\"\n\
         virtualHostIds = [1]\nsiteId = 1\napplicationType = \"API\"\n\
         accessValidatorId = 2\nrealm = \"orders\"\n"
            .to_string(),
        resources.to_string(),
        format!(
            "[[accessTokenValidators]]\nid = 2\nname = \"local\"\n\
             [accessTokenValidators.configuration]\njwksUrl = \"{jwks_url}\"\n\
             issuer = \"{ISS}\"\naudience = \"{AUD}\"\n"
        ),
    ]
    .join("\n")
}

struct Api {
    node: Node,
    port: u16,
    client: reqwest::Client,
}

impl Api {
    async fn start(backend: &Backend, jwks: &JwksServer) -> anyhow::Result<Self> {
        let port = free_port();
        let node = Node::builder()
            .toml(api_toml(port, &backend.target(), &jwks.url()))
            .start()
            .await?;
        Ok(Self {
            node,
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("accept", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Ok(req.send().await?)
    }

    /// Status and `WWW-Authenticate` of a request to the protected resource.
    async fn outcome(&self, token: Option<&str>) -> anyhow::Result<(u16, String)> {
        let r = self.get("/api/orders/1", token).await?;
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok((r.status().as_u16(), challenge))
    }
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_pass_and_the_negative_corpus_is_refused(
) -> anyhow::Result<()> {
    let rsa = SigningKey::rsa("rsa-1")?;
    let es = SigningKey::es256("es-1")?;
    let ed = SigningKey::ed25519("ed-1")?;
    let jwks = JwksServer::start(tokens::jwks(&[&rsa, &es, &ed])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let api = Api::start(&backend, &jwks).await?;

    for key in [&rsa, &es, &ed] {
        let token = key.sign(&claims(ISS, AUD, &format!("user-{}", key.kid), 300))?;
        let (status, _) = api.outcome(Some(&token)).await?;
        assert_eq!(status, 200, "{:?} token accepted", key.alg);
    }

    let good = claims(ISS, AUD, "alice", 300);
    let valid = rsa.sign(&good)?;
    let mut expired = good.clone();
    expired["exp"] = json!(tokens::now() - 120);
    let mut not_yet = good.clone();
    not_yet["nbf"] = json!(tokens::now() + 600);
    let mut no_exp = good.clone();
    no_exp.as_object_mut().map(|c| c.remove("exp"));
    let mut elevated = good.clone();
    elevated["sub"] = json!("admin");
    let stranger = SigningKey::es256("es-1")?; // same kid, different key
    let corpus: Vec<(&str, String)> = vec![
        ("malformed", "not-a-jwt".into()),
        ("three garbage parts", "a.b.c".into()),
        ("expired beyond leeway", rsa.sign(&expired)?),
        ("not yet valid", rsa.sign(&not_yet)?),
        ("no exp", rsa.sign(&no_exp)?),
        (
            "wrong iss",
            rsa.sign(&claims("https://evil.test", AUD, "alice", 300))?,
        ),
        (
            "wrong aud",
            rsa.sign(&claims(ISS, "api://other", "alice", 300))?,
        ),
        ("alg none", tokens::unsigned(&good)),
        (
            "HS256 with the RSA public key",
            tokens::hs256_with_public_key(&rsa, &good)?,
        ),
        ("tampered payload", tokens::with_payload(&valid, &elevated)),
        ("tampered signature", tokens::with_bad_signature(&valid)),
        (
            "signed by another key under a known kid",
            stranger.sign(&good)?,
        ),
    ];
    for (what, token) in &corpus {
        let (status, challenge) = api.outcome(Some(token)).await?;
        assert_eq!(status, 401, "{what}");
        assert!(
            challenge.starts_with("Bearer realm=\"orders\"")
                && challenge.contains("error=\"invalid_token\"")
                && challenge.contains("error_description="),
            "{what}: {challenge}"
        );
    }
    let (status, challenge) = api.outcome(None).await?;
    assert_eq!(status, 401, "no token");
    assert_eq!(
        challenge, "Bearer realm=\"orders\"",
        "no error without a token"
    );
    let r = api.get("/api/orders/1", Some("not-a-jwt")).await?;
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["status"], 401, "a JSON body: {body}");
    assert_eq!(
        backend
            .seen()
            .iter()
            .filter(|s| s.path == "/api/orders/1")
            .count(),
        3,
        "only the three valid tokens reached the site"
    );
    assert!(
        !api.node.stderr().contains(&valid),
        "tokens are never logged"
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_kid_is_accepted_once_the_key_is_published() -> anyhow::Result<()> {
    let old = SigningKey::rsa("old")?;
    let new = SigningKey::es256("new")?;
    let jwks = JwksServer::start(tokens::jwks(&[&old])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let api = Api::start(&backend, &jwks).await?;
    let (status, _) = api
        .outcome(Some(&old.sign(&claims(ISS, AUD, "a", 300))?))
        .await?;
    assert_eq!(status, 200);
    let rotated = new.sign(&claims(ISS, AUD, "b", 300))?;
    let (status, _) = api.outcome(Some(&rotated)).await?;
    assert_eq!(status, 401, "the key is not published yet");
    let fetches = jwks.fetches();
    for _ in 0..20 {
        api.outcome(Some(&rotated)).await?;
    }
    assert!(
        jwks.fetches() <= fetches + 1,
        "unknown kids do not hammer the JWKS: {} fetches",
        jwks.fetches() - fetches
    );
    jwks.set(tokens::jwks(&[&old, &new]));
    wait::until(
        "the rotated key to be accepted",
        Duration::from_secs(30),
        || {
            let api = &api;
            let rotated = rotated.clone();
            async move { (api.outcome(Some(&rotated)).await.ok()?.0 == 200).then_some(()) }
        },
    )
    .await?;
    let (status, _) = api
        .outcome(Some(&old.sign(&claims(ISS, AUD, "c", 300))?))
        .await?;
    assert_eq!(status, 200, "the old key still verifies");
    Ok(())
}

#[tokio::test]
async fn jwks_outage_after_warm_up_keeps_the_last_good_keys_and_fails_closed_before(
) -> anyhow::Result<()> {
    let key = SigningKey::rsa("k")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    jwks.set_down(true);
    let backend = Backend::start("b", Behavior::Echo).await?;
    let api = Api::start(&backend, &jwks).await?;
    let (status, challenge) = api
        .outcome(Some(&key.sign(&claims(ISS, AUD, "a", 300))?))
        .await?;
    assert_eq!(status, 503, "no key set yet: fail closed");
    assert!(challenge.is_empty(), "not the client's fault: {challenge}");
    jwks.set_down(false);
    wait::until("the key set to be fetched", Duration::from_secs(30), || {
        let api = &api;
        let key = &key;
        async move {
            let t = key.sign(&claims(ISS, AUD, "warm", 300)).ok()?;
            (api.outcome(Some(&t)).await.ok()?.0 == 200).then_some(())
        }
    })
    .await?;
    jwks.set_down(true);
    let fresh = key.sign(&claims(ISS, AUD, "never-seen", 300))?;
    let (status, _) = api.outcome(Some(&fresh)).await?;
    assert_eq!(
        status, 200,
        "a new token verifies with the last good key set"
    );
    Ok(())
}

#[tokio::test]
async fn verified_tokens_are_cached_and_anonymous_and_unprotected_resources_behave(
) -> anyhow::Result<()> {
    let key = SigningKey::es256("k")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let api = Api::start(&backend, &jwks).await?;
    let token = key.sign(&claims(ISS, AUD, "cached-user", 300))?;
    for _ in 0..10 {
        assert_eq!(api.outcome(Some(&token)).await?.0, 200);
    }
    let metrics = reqwest::get(api.node.management_url("/metrics"))
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(
        value("gatehouse_token_cache_misses_total"),
        1.0,
        "{metrics}"
    );
    assert_eq!(value("gatehouse_token_cache_hits_total"), 9.0, "{metrics}");
    assert_eq!(value("gatehouse_jwks_fetches_total"), 1.0, "{metrics}");

    assert_eq!(
        api.get("/api/public/x", None).await?.status(),
        200,
        "anonymous"
    );
    assert_eq!(
        api.get("/api/public/x", Some("garbage")).await?.status(),
        401,
        "a token sent to an anonymous resource must be valid"
    );
    assert_eq!(api.get("/api/public/x", Some(&token)).await?.status(), 200);
    assert_eq!(
        api.get("/api/open/x", Some("garbage")).await?.status(),
        200,
        "unprotected resources do not look at tokens"
    );
    let id_line = {
        let r = api.get("/api/orders/9", Some(&token)).await?;
        r.headers()["x-request-id"].to_str()?.to_string()
    };
    api.node.wait_log(&id_line, Duration::from_secs(5)).await?;
    let log = api.node.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(&id_line))
        .unwrap_or_default();
    assert!(
        line.contains("cached-user") && line.contains("bearer"),
        "subject and mechanism in the access log: {line}"
    );
    Ok(())
}

#[tokio::test]
async fn oauth_scope_attribute_and_client_rules_run_on_every_request() -> anyhow::Result<()> {
    let key = SigningKey::es256("k")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let rules = "\
[[rules]]\nid = 1\nname = \"read scope\"\ntype = \"OAuthScope\"\nconfiguration = { scope = \"read\" }\n\
[[rules]]\nid = 2\nname = \"admin scope\"\ntype = \"OAuthScope\"\nconfiguration = { scope = \"admin\" }\n\
[[rules]]\nid = 3\nname = \"partner client\"\ntype = \"OAuthClient\"\nconfiguration = { clientIds = [\"partner\"] }\n\
[[rules]]\nid = 4\nname = \"gold tier\"\ntype = \"OAuthAttribute\"\n\
configuration = { attributes = [{ name = \"account.tier\", value = \"gold\" }] }\n\
[[rules]]\nid = 5\nname = \"not suspended\"\ntype = \"OAuthAttribute\"\n\
configuration = { attributes = [{ name = \"status\", value = \"suspended\" }], negate = true }\n\
[[resources]]\nid = 14\napplicationId = 1\nname = \"admin\"\npolicy = { API = [{ type = \"Rule\", id = 2 }] }\n\
pathPatterns = [{ type = \"WILDCARD\", pattern = \"/admin/*\" }]\n\
[[resources]]\nid = 15\napplicationId = 1\nname = \"partners\"\n\
policy = { API = [{ type = \"Rule\", id = 3 }, { type = \"Rule\", id = 4 }] }\n\
pathPatterns = [{ type = \"WILDCARD\", pattern = \"/partners/*\" }]\n";
    let toml = api_toml(port, &backend.target(), &jwks.url()).replace(
        "realm = \"orders\"\n",
        "realm = \"orders\"\npolicy = { API = [{ type = \"Rule\", id = 1 }, { type = \"Rule\", id = 5 }] }\n",
    ) + "\n"
        + rules;
    let node = Node::builder().toml(toml).start().await?;
    let c = reqwest::Client::new();
    let call = |path: &str, claims: serde_json::Value| {
        let token = key.sign(&claims);
        let url = format!("http://127.0.0.1:{port}{path}");
        let c = c.clone();
        async move {
            let r = c.get(url).bearer_auth(token?).send().await?;
            let challenge = r
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            anyhow::Ok((r.status().as_u16(), challenge))
        }
    };
    let with = |scope: &str, extra: serde_json::Value| {
        let mut c = claims(ISS, AUD, "u", 300);
        c["scope"] = json!(scope);
        if let (Some(obj), Some(more)) = (c.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        c
    };
    assert_eq!(call("/api/orders", with("read", json!({}))).await?.0, 200);
    let (status, challenge) = call("/api/orders", with("write", json!({}))).await?;
    assert_eq!(status, 403, "application rule: read scope");
    assert_eq!(
        challenge,
        "Bearer realm=\"orders\", error=\"insufficient_scope\", scope=\"read\""
    );
    assert_eq!(
        call("/api/orders", with("read", json!({"status": "suspended"})))
            .await?
            .0,
        403,
        "negated attribute rule"
    );
    let (status, challenge) = call("/api/admin/x", with("read", json!({}))).await?;
    assert_eq!((status, challenge.contains("scope=\"admin\"")), (403, true));
    assert_eq!(
        call("/api/admin/x", with("read admin", json!({}))).await?.0,
        200
    );
    let partner = json!({"client_id": "partner", "account": {"tier": "gold"}});
    assert_eq!(call("/api/partners/x", with("read", partner)).await?.0, 200);
    let silver = json!({"client_id": "partner", "account": {"tier": "silver"}});
    assert_eq!(call("/api/partners/x", with("read", silver)).await?.0, 403);
    let stranger = json!({"client_id": "someone", "account": {"tier": "gold"}});
    assert_eq!(
        call("/api/partners/x", with("read", stranger)).await?.0,
        403
    );
    // The same (cached) token is checked against the rules again on another resource.
    let token = key.sign(&with("read", json!({})))?;
    for path in ["/api/orders", "/api/admin/x", "/api/orders"] {
        let r = c
            .get(format!("http://127.0.0.1:{port}{path}"))
            .bearer_auth(&token)
            .send()
            .await?;
        let want = if path.contains("admin") { 403 } else { 200 };
        assert_eq!(r.status().as_u16(), want, "{path}");
    }
    drop(node);
    Ok(())
}

#[tokio::test]
async fn dynamic_applications_use_the_token_when_sent_and_default_auth_type_otherwise(
) -> anyhow::Result<()> {
    let key = SigningKey::es256("k")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = api_toml(port, &backend.target(), &jwks.url()).replace(
        "applicationType = \"API\"",
        "applicationType = \"Dynamic\"\ndefaultAuthType = \"API\"",
    ) + "\n"
        + &config::app(
            2,
            "/web",
            1,
            1,
            "applicationType = \"Dynamic\"\naccessValidatorId = 2\n",
        )
        .replace("unprotected = true\n", "");
    let _node = Node::builder().toml(toml).start().await?;
    let c = reqwest::Client::new();
    let get = |path: &str, token: Option<String>| {
        let mut req = c.get(format!("http://127.0.0.1:{port}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { anyhow::Ok(req.send().await?.status().as_u16()) }
    };
    let token = key.sign(&claims(ISS, AUD, "d", 300))?;
    assert_eq!(get("/api/x", None).await?, 401, "defaultAuthType API");
    assert_eq!(get("/api/x", Some(token.clone())).await?, 200);
    assert_eq!(
        get("/web/x", Some("garbage".into())).await?,
        401,
        "a sent token is checked"
    );
    assert_eq!(get("/web/x", Some(token)).await?, 200);
    assert_eq!(
        get("/web/x", None).await?,
        200,
        "defaultAuthType Web without a web session: the web path"
    );
    Ok(())
}

#[tokio::test]
async fn exclusion_list_headers_and_bearer_jwt_mappings_reach_the_site() -> anyhow::Result<()> {
    let key = SigningKey::rsa("k")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let mappings = "\
[[identityMappings]]\nid = 1\nname = \"all claims\"\ntype = \"Header\"\n\
configuration = { exclusionList = true, exclusionListAttributes = [\"iat\", \"exp\", \"iss\", \"aud\"], \
exclusionListSubject = \"X-Subject\", headerNamePrefix = \"X-Claim-\" }\n\
[[identityMappings]]\nid = 2\nname = \"bearer jwt\"\ntype = \"JWT\"\n\
configuration = { mapAsBearerToken = true, audience = \"site\" }\n";
    let toml = api_toml(port, &backend.target(), &jwks.url()).replace(
        "realm = \"orders\"\n",
        "realm = \"orders\"\nidentityMappingIds = { API = 1 }\n",
    ) + "\n"
        + mappings
        + &config::app(
            2,
            "/bearer",
            1,
            1,
            "applicationType = \"API\"\naccessValidatorId = 2\nidentityMappingIds = { API = 2 }\n",
        )
        .replace("unprotected = true\n", "");
    let _node = Node::builder().toml(toml).start().await?;
    let mut c = claims(ISS, AUD, "carol", 300);
    c["roles"] = json!(["reader", "auditor"]);
    let token = key.sign(&c)?;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://127.0.0.1:{port}/api/claims"))
        .bearer_auth(&token)
        .header("X_Claim_Roles", "admin")
        .header("x-claim-extra", "forged")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let seen = backend.last_seen("/api/claims")?;
    let get = |name: &str| seen.header_values(name);
    assert_eq!(get("x-subject"), vec!["carol".to_string()]);
    assert_eq!(get("x-claim-roles"), vec!["reader,auditor".to_string()]);
    assert_eq!(get("x-claim-scope"), vec!["read write".to_string()]);
    assert!(
        get("x-claim-exp").is_empty() && get("x-claim-iss").is_empty(),
        "excluded"
    );
    assert!(
        get("x-claim-extra").is_empty() && get("x_claim_roles").is_empty(),
        "forged"
    );

    let r = client
        .get(format!("http://127.0.0.1:{port}/bearer/x"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let auth = backend
        .last_seen("/bearer/x")?
        .header_values("authorization")
        .join(",");
    let minted = auth.strip_prefix("Bearer ").unwrap_or_default();
    assert!(
        !minted.is_empty() && minted != token,
        "the client's token was replaced"
    );
    let header = jsonwebtoken::decode_header(minted)?;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    Ok(())
}
