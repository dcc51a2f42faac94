//! Against a real OpenID provider (oidc-provider, run by node): JWT access tokens validated with
//! keys found by discovery over verified TLS, opaque tokens introspected with both client
//! authentication methods, revocation, fail-closed when the provider is gone, Header and JWT
//! identity mappings, and forged identity headers dropped on every route.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::idp::{self, ClientKind, Idp, IdpOptions};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// Apps: `/rs` (RS256 JWTs, Header mapping), `/es` (ES256 JWTs, JWT mapping), `/opaque`
/// (introspection, Header mapping), `/open` (unprotected web app, no mapping).
fn provider_toml(
    port: u16,
    backend: &str,
    idp: &Idp,
    auth_method: &str,
    client: &ClientKind,
) -> String {
    let pem = idp.ca_pem().replace('\n', "\\n");
    let issuer = idp.issuer();
    let app = |id: u64, root: &str, validator: u64, mapping: u64| {
        format!(
            "[[applications]]\nid = {id}\nname = \"app{id}\"\ncontextRoot = \"{root}\"\n\
             virtualHostIds = [1]\nsiteId = 1\napplicationType = \"API\"\n\
             accessValidatorId = {validator}\nidentityMappingIds = {{ API = {mapping} }}\n"
        )
    };
    [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[backend], ""),
        format!("[[certificates]]\nid = 1\nalias = \"idp ca\"\nfileData = \"{pem}\"\n"),
        "[[trustedCertificateGroups]]\nid = 10\nname = \"idp\"\ncertIds = [1]\n".into(),
        format!("[oidcProvider]\nissuer = \"{issuer}\"\ntrustedCertificateGroupId = 10\n"),
        format!(
            "[oauthAuthServer]\ntrustedCertificateGroupId = 10\ncacheTokens = false\nsubjectAttributeName = \"client_id\"\n\
             clientCredentials = {{ clientId = \"{}\", clientSecret = \"{}\", authMethod = \"{auth_method}\" }}\n",
            client.id(),
            client.secret()
        ),
        format!(
            "[[accessTokenValidators]]\nid = 2\nname = \"rs\"\n\
             configuration = {{ audience = \"{}\" }}\n\
             [[accessTokenValidators]]\nid = 3\nname = \"es\"\n\
             configuration = {{ audience = \"{}\", allowedAlgorithms = [\"ES256\"] }}\n",
            idp::RESOURCE_URI,
            idp::RESOURCE_URI_ES
        ),
        "[[identityMappings]]\nid = 1\nname = \"headers\"\ntype = \"Header\"\n\
         configuration = { attributeHeaderMappings = [\
         { subject = true, headerName = \"X-User\" }, \
         { attributeName = \"client_id\", headerName = \"X-Client\" }, \
         { attributeName = \"scope\", headerName = \"X-Scopes\" }] }\n\
         [[identityMappings]]\nid = 2\nname = \"jwt\"\ntype = \"JWT\"\n\
         configuration = { headerName = \"X-Identity-JWT\", audience = \"orders-backend\", \
         tokenLifetimeSeconds = 120, attributeMappings = [\
         { userAttributeName = \"client_id\", jwtClaimName = \"client\" }, \
         { userAttributeName = \"scope\", jwtClaimName = \"authz.scope\" }] }\n"
            .into(),
        app(1, "/rs", 2, 1),
        app(2, "/es", 3, 2),
        app(3, "/opaque", 1, 1),
        config::app(4, "/open", 1, 1, ""),
    ]
    .join("\n")
}

const FORGED: &[(&str, &str)] = &[
    ("X-User", "forged"),
    ("x_user", "forged"),
    ("X.Client", "forged"),
    ("x-scopes", "forged"),
    ("X-Identity-JWT", "forged"),
    ("x_identity_jwt", "forged"),
];

async fn call(port: u16, path: &str, token: Option<&str>) -> anyhow::Result<u16> {
    let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in FORGED {
        req = req.header(*k, *v);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Ok(req.send().await?.status().as_u16())
}

#[tokio::test]
async fn real_provider_jwts_are_validated_and_mapped_and_forged_identity_headers_dropped(
) -> anyhow::Result<()> {
    let idp = Idp::start(IdpOptions {
        host: "127.0.0.1".into(),
        ..IdpOptions::default()
    })
    .await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = provider_toml(
        port,
        &backend.target(),
        &idp,
        "client_secret_basic",
        &ClientKind::ResourceServerBasic,
    );
    let _node = Node::builder().toml(toml).start().await?;
    let cc = ClientKind::ClientCredentialsBasic;

    let rs = idp
        .client_credentials_token(&cc, Some(idp::RESOURCE_URI), idp::SCOPES)
        .await?;
    assert_eq!(call(port, "/rs/orders", Some(&rs)).await?, 200);
    let seen = backend.last_seen("/rs/orders")?;
    assert_eq!(seen.header_values("x-user"), vec![cc.id().to_string()]);
    assert_eq!(seen.header_values("x-client"), vec![cc.id().to_string()]);
    assert_eq!(
        seen.header_values("x-scopes"),
        vec![idp::SCOPES.to_string()]
    );
    assert!(seen.header_values("x_user").is_empty() && seen.header_values("x.client").is_empty());
    assert!(
        seen.header_values("x-identity-jwt").is_empty(),
        "forged JWT header dropped"
    );

    assert_eq!(
        call(port, "/es/orders", Some(&rs)).await?,
        401,
        "RS256 token, ES256 resource"
    );
    let es = idp
        .client_credentials_token(&cc, Some(idp::RESOURCE_URI_ES), idp::SCOPES)
        .await?;
    assert_eq!(call(port, "/es/orders", Some(&es)).await?, 200);
    let first = backend
        .last_seen("/es/orders")?
        .header_values("x-identity-jwt");
    assert_eq!(call(port, "/es/orders", Some(&es)).await?, 200);
    let second = backend
        .last_seen("/es/orders")?
        .header_values("x-identity-jwt");
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first, second, "minted once per token, not per request");
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(format!("http://127.0.0.1:{port}/pa/authtoken/JWKS"))
            .await?
            .json()
            .await?;
    let jwt = &first[0];
    let kid = jsonwebtoken::decode_header(jwt)?.kid.unwrap_or_default();
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| anyhow::anyhow!("kid {kid} not in /pa/authtoken/JWKS"))?;
    let mut rules = Validation::new(Algorithm::ES256);
    rules.set_audience(&["orders-backend"]);
    rules.set_issuer(&["PingAccessAuthToken"]);
    let claims =
        jsonwebtoken::decode::<serde_json::Value>(jwt, &DecodingKey::from_jwk(jwk)?, &rules)?
            .claims;
    assert_eq!(claims["sub"], cc.id());
    assert_eq!(claims["client"], cc.id());
    assert_eq!(claims["authz"]["scope"], idp::SCOPES);

    assert_eq!(call(port, "/open/page", None).await?, 200);
    let open = backend.last_seen("/open/page")?;
    for (name, _) in FORGED {
        assert!(
            open.header_values(&name.to_ascii_lowercase()).is_empty(),
            "{name} reached an unprotected app"
        );
    }
    Ok(())
}

#[tokio::test]
async fn opaque_tokens_are_introspected_with_both_client_auth_methods_and_fail_closed(
) -> anyhow::Result<()> {
    let idp = Idp::start(IdpOptions {
        host: "127.0.0.1".into(),
        ..IdpOptions::default()
    })
    .await?;
    let backend = Backend::start("b", Behavior::Echo).await?;
    let cc = ClientKind::ClientCredentialsBasic;
    for (method, client) in [
        ("client_secret_basic", ClientKind::ResourceServerBasic),
        ("client_secret_post", ClientKind::ResourceServerPost),
    ] {
        let port = free_port();
        let toml = provider_toml(port, &backend.target(), &idp, method, &client);
        let _node = Node::builder().toml(toml).start().await?;
        let opaque = idp.client_credentials_token(&cc, None, idp::SCOPES).await?;
        assert_eq!(
            call(port, "/opaque/a", Some(&opaque)).await?,
            200,
            "{method}"
        );
        assert_eq!(
            backend.last_seen("/opaque/a")?.header_values("x-user"),
            vec![cc.id().to_string()]
        );
        idp.revoke(&opaque).await?;
        assert_eq!(
            call(port, "/opaque/a", Some(&opaque)).await?,
            401,
            "{method}: revoked (cacheTokens = false)"
        );
        assert_eq!(call(port, "/opaque/a", Some("made-up-token")).await?, 401);
    }
    let port = free_port();
    let toml = provider_toml(
        port,
        &backend.target(),
        &idp,
        "client_secret_basic",
        &ClientKind::ResourceServerBasic,
    );
    let node = Node::builder().toml(toml).start().await?;
    let opaque = idp.client_credentials_token(&cc, None, idp::SCOPES).await?;
    drop(idp);
    assert_eq!(
        call(port, "/opaque/a", Some(&opaque)).await?,
        503,
        "introspection unreachable: fail closed"
    );
    node.wait_log(
        "token introspection failed",
        std::time::Duration::from_secs(5),
    )
    .await?;
    Ok(())
}
