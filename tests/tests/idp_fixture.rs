//! The OpenID provider fixture itself (tests/fixtures/oidc-provider via `gatehouse_tests::idp`):
//! discovery, JWT access tokens per resource indicator, opaque tokens through introspection and
//! revocation; browser login driven over HTTP (code + PKCE with each client authentication
//! method, PAR, userinfo, RP-initiated logout), without the gateway.

use gatehouse_tests::idp::login::{client_assertion_claims, random_token};
use gatehouse_tests::idp::{
    decode_jwt_unverified, query_params, AuthorizationRequest, ClientAuth, ClientKind, Idp,
    IdpOptions, DEFAULT_POST_LOGOUT_REDIRECT_URI, DEFAULT_REDIRECT_URI, KID_ES256, KID_RS256,
    RESOURCE_URI, RESOURCE_URI_ES, RESOURCE_URI_OPAQUE, WEB_ID, WEB_JWT_ID, WEB_POST_ID,
    WEB_POST_SECRET, WEB_SECRET,
};
use gatehouse_tests::jwks::JwksServer;
use gatehouse_tests::tokens::{jwks, SigningKey};

#[tokio::test]
async fn discovery_and_jwt_access_tokens_per_resource() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    assert!(idp.issuer().starts_with("https://localhost:"));
    assert!(idp.ca_pem().contains("BEGIN CERTIFICATE"));

    // Discovery, fetched afresh over TLS trusting only the fixture's CA.
    let url = format!("{}/.well-known/openid-configuration", idp.issuer());
    let discovery: serde_json::Value = idp
        .http()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], idp.issuer());
    for endpoint in [
        "jwks_uri",
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let value = discovery[endpoint].as_str().unwrap_or_default();
        assert!(value.starts_with(idp.issuer()), "{endpoint}: {value}");
    }

    let jwks = idp.jwks().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&KID_RS256) && kids.contains(&KID_ES256),
        "{jwks}"
    );
    assert!(
        !jwks.to_string().contains("\"d\""),
        "private key material in jwks"
    );

    for (client, resource, alg, kid) in [
        (
            ClientKind::ClientCredentialsBasic,
            RESOURCE_URI,
            "RS256",
            KID_RS256,
        ),
        (
            ClientKind::ClientCredentialsPost,
            RESOURCE_URI_ES,
            "ES256",
            KID_ES256,
        ),
    ] {
        let token = idp
            .client_credentials_token(&client, Some(resource), "read write")
            .await
            .unwrap();
        assert_eq!(token.split('.').count(), 3, "{token}");
        let (header, claims) = decode_jwt_unverified(&token).unwrap();
        assert_eq!(header["alg"], alg, "{header}");
        assert_eq!(header["kid"], kid, "{header}");
        assert_eq!(header["typ"], "at+jwt", "{header}");
        assert_eq!(claims["aud"], resource, "{claims}");
        assert_eq!(claims["iss"], idp.issuer(), "{claims}");
        assert_eq!(claims["client_id"], client.id(), "{claims}");
        assert_eq!(claims["scope"], "read write", "{claims}");
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 600, "{claims}");

        // oidc-provider does not introspect its structured tokens.
        let err = idp.introspect(&token).await.unwrap_err();
        assert!(err.to_string().contains("unsupported_token_type"), "{err}");
    }

    // A resource the provider does not know is refused.
    let err = idp
        .client_credentials_token(
            &ClientKind::ClientCredentialsBasic,
            Some("https://unknown.gatehouse.test"),
            "read",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_target"), "{err}");
}

#[tokio::test]
async fn opaque_tokens_introspect_until_revoked() {
    let idp = Idp::start(IdpOptions {
        access_token_ttl: 120,
        ..IdpOptions::default()
    })
    .await
    .unwrap();

    for (client, resource_server) in [
        (
            ClientKind::ClientCredentialsBasic,
            ClientKind::ResourceServerBasic,
        ),
        (
            ClientKind::ClientCredentialsPost,
            ClientKind::ResourceServerPost,
        ),
    ] {
        let response = idp
            .client_credentials_response(&client, None, "read")
            .await
            .unwrap();
        assert_eq!(response["expires_in"], 120, "{response}");
        let token = response["access_token"].as_str().unwrap();
        assert_eq!(
            token.split('.').count(),
            1,
            "opaque token expected: {token}"
        );

        let active = idp.introspect_as(&resource_server, token).await.unwrap();
        assert_eq!(active["active"], true, "{active}");
        assert_eq!(active["client_id"], client.id(), "{active}");
        assert_eq!(active["scope"], "read", "{active}");
        assert_eq!(active["iss"], idp.issuer(), "{active}");

        idp.revoke_as(&resource_server, token).await.unwrap();
        let revoked = idp.introspect_as(&resource_server, token).await.unwrap();
        assert_eq!(revoked, serde_json::json!({ "active": false }));
    }

    // An opaque token for a resource carries its audience; the owner may revoke it too.
    let token = idp
        .client_credentials_token(
            &ClientKind::ClientCredentialsBasic,
            Some(RESOURCE_URI_OPAQUE),
            "read write",
        )
        .await
        .unwrap();
    let active = idp.introspect(&token).await.unwrap();
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["aud"], RESOURCE_URI_OPAQUE, "{active}");
    idp.revoke_as(&ClientKind::ClientCredentialsBasic, &token)
        .await
        .unwrap();
    assert_eq!(idp.introspect(&token).await.unwrap()["active"], false);

    // A wrong secret is refused at the introspection endpoint.
    let status = idp
        .http()
        .post(idp.introspection_endpoint().unwrap())
        .basic_auth("gatehouse-rs", Some("wrong"))
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn plain_http_without_certificate() {
    let idp = Idp::start(IdpOptions {
        tls: false,
        host: "127.0.0.1".to_string(),
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));
    assert_eq!(idp.discovery()["issuer"], idp.issuer());
    assert!(idp.ca_pem().is_empty());
    let token = idp
        .client_credentials_token(&ClientKind::Web, Some(RESOURCE_URI), "read")
        .await
        .unwrap();
    let (_, claims) = decode_jwt_unverified(&token).unwrap();
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["scope"], "read");

    // Browser login works over plain HTTP on an IP-literal issuer too (cookies included: the
    // second login needs no form, so the login typed then plays no part).
    let browser = idp.browser_client().unwrap();
    let auth = ClientAuth::from(ClientKind::Web);
    for typed in ["judy", "ignored"] {
        let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, "openid");
        let (_, claims) = login_and_exchange(&idp, &browser, &auth, &request, typed)
            .await
            .unwrap();
        assert_eq!(claims["sub"], "judy", "{claims}");
        assert_eq!(claims["iss"], idp.issuer(), "{claims}");
    }
}

// --- Browser login: authorization code + PKCE, PAR, userinfo, RP-initiated logout -------------

/// What a login redirected to: `code`, after checking that it went to `request.redirect_uri`
/// with the request's `state` and the provider's `iss` (RFC 9207).
fn code_from_callback(
    idp: &Idp,
    request: &AuthorizationRequest,
    location: &str,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        location.starts_with(&format!("{}?", request.redirect_uri)),
        "not the redirect URI: {location}"
    );
    let params = query_params(location)?;
    anyhow::ensure!(
        params.get("state") == Some(&request.state),
        "state: {location}"
    );
    anyhow::ensure!(
        params.get("iss").map(String::as_str) == Some(idp.issuer()),
        "iss: {location}"
    );
    params
        .get("code")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no code: {location}"))
}

/// Logs `login` in with `request` in `browser` and exchanges the code as `auth`: the token
/// response and the verified ID token's claims.
async fn login_and_exchange(
    idp: &Idp,
    browser: &reqwest::Client,
    auth: &ClientAuth,
    request: &AuthorizationRequest,
    login: &str,
) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let url = idp.authorize_url(request)?;
    let location = idp.login(browser, &url, login).await?;
    let code = code_from_callback(idp, request, &location)?;
    let tokens = idp
        .exchange_code(
            auth,
            &code,
            &request.redirect_uri,
            request.code_verifier.as_deref(),
        )
        .await?;
    anyhow::ensure!(tokens["token_type"] == "Bearer", "{tokens}");
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id_token: {tokens}"))?;
    let claims = idp
        .verify_id_token(id_token, auth.client_id(), Some(&request.nonce))
        .await?;
    Ok((tokens, claims))
}

const ALL_SCOPES: &str = "openid profile email groups";
/// The claims the `profile`, `email` and `groups` scopes bring (besides `sub`).
const PROFILE_CLAIMS: [&str; 6] = [
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "groups",
];

#[tokio::test]
async fn code_flow_with_pkce_and_nonce_client_secret_basic() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    let browser = idp.browser_client().unwrap();
    let auth = ClientAuth::from(ClientKind::Web);
    let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);

    let (tokens, claims) = login_and_exchange(&idp, &browser, &auth, &request, "admin-alice")
        .await
        .unwrap();
    let (header, _) = decode_jwt_unverified(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["kid"], KID_RS256, "{header}");
    assert_eq!(claims["iss"], idp.issuer(), "{claims}");
    assert_eq!(claims["aud"], WEB_ID, "{claims}");
    assert_eq!(claims["sub"], "admin-alice", "{claims}");
    assert_eq!(claims["nonce"], request.nonce.as_str(), "{claims}");
    // conformIdTokenClaims (the default): an access token for userinfo was issued, so the ID
    // token carries no scope claims (and the code flow adds no at_hash); userinfo has them.
    let mut names: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["aud", "exp", "iat", "iss", "nonce", "sub"],
        "{claims}"
    );
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], ALL_SCOPES, "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap();
    let userinfo = idp.userinfo(access_token).await.unwrap();
    assert_eq!(
        userinfo,
        serde_json::json!({
            "sub": "admin-alice",
            "name": "User admin-alice",
            "given_name": "User",
            "family_name": "admin-alice",
            "email": "admin-alice@example.test",
            "email_verified": true,
            "groups": ["users", "admins"],
        })
    );

    // A code is good for one exchange.
    let location = idp
        .login(&browser, &idp.authorize_url(&request).unwrap(), "ignored")
        .await
        .unwrap();
    let code = code_from_callback(&idp, &request, &location).unwrap();
    let verifier = request.code_verifier.as_deref();
    idp.exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap();
    let err = idp
        .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");

    // Second login in the same browser: the provider session and the grant answer at once,
    // the login form is not shown (so the login typed, "bob", plays no part).
    let second = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let (_, claims) = login_and_exchange(&idp, &browser, &auth, &second, "bob")
        .await
        .unwrap();
    assert_eq!(claims["sub"], "admin-alice", "{claims}");
    assert_eq!(claims["nonce"], second.nonce.as_str(), "{claims}");

    // A fresh browser logs in afresh; a login without the `admin` prefix is only in `users`.
    let other = idp.browser_client().unwrap();
    let third = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let (tokens, claims) = login_and_exchange(&idp, &other, &auth, &third, "bob")
        .await
        .unwrap();
    assert_eq!(claims["sub"], "bob", "{claims}");
    let userinfo = idp
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        userinfo["groups"],
        serde_json::json!(["users"]),
        "{userinfo}"
    );
}

#[tokio::test]
async fn pkce_is_optional_for_confidential_clients_but_binding_once_sent() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    let browser = idp.browser_client().unwrap();
    let auth = ClientAuth::from(ClientKind::Web);

    // With a challenge, the code needs the right verifier: none or another one is refused.
    let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, "openid");
    let location = idp
        .login(&browser, &idp.authorize_url(&request).unwrap(), "carol")
        .await
        .unwrap();
    let code = code_from_callback(&idp, &request, &location).unwrap();
    for verifier in [None, Some(random_token())] {
        let err = idp
            .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, verifier.as_deref())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid_grant"), "{err}");
    }

    // Without a challenge, a confidential client still gets a code (oidc-provider requires
    // PKCE only of public clients), and a verifier at the exchange is then refused.
    let mut request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, "openid");
    request.code_verifier = None;
    let url = idp.authorize_url(&request).unwrap();
    let code = code_from_callback(
        &idp,
        &request,
        &idp.login(&browser, &url, "carol").await.unwrap(),
    )
    .unwrap();
    let err = idp
        .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, Some(&random_token()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let code = code_from_callback(
        &idp,
        &request,
        &idp.login(&browser, &url, "carol").await.unwrap(),
    )
    .unwrap();
    let tokens = idp
        .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, None)
        .await
        .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");

    // Only S256: `plain` is refused at the authorization endpoint (back to the client).
    let mut plain = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, "openid");
    plain.code_verifier = None;
    let plain = plain
        .with("code_challenge", &random_token())
        .with("code_challenge_method", "plain");
    let plain_url = idp.authorize_url(&plain).unwrap();
    let err = idp.login(&browser, &plain_url, "carol").await.unwrap_err();
    assert!(err.to_string().contains("error=invalid_request"), "{err}");
}

#[tokio::test]
async fn code_flow_client_secret_post_and_claims_per_scope() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    let auth = ClientAuth::from(ClientKind::WebPost);

    // `email` alone: userinfo has sub and the email claims only.
    let browser = idp.browser_client().unwrap();
    let request = AuthorizationRequest::new(WEB_POST_ID, DEFAULT_REDIRECT_URI, "openid email");
    let (tokens, claims) = login_and_exchange(&idp, &browser, &auth, &request, "dave")
        .await
        .unwrap();
    assert_eq!(claims["aud"], WEB_POST_ID, "{claims}");
    assert_eq!(claims["sub"], "dave", "{claims}");
    assert!(claims.get("email").is_none(), "{claims}");
    let userinfo = idp
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        userinfo,
        serde_json::json!({"sub": "dave", "email": "dave@example.test", "email_verified": true})
    );

    // More scopes in the same browser: no login form, but consent for the new scopes.
    let scope = format!("{ALL_SCOPES} offline_access");
    let request = AuthorizationRequest::new(WEB_POST_ID, DEFAULT_REDIRECT_URI, &scope)
        .with("prompt", "consent");
    let (tokens, claims) = login_and_exchange(&idp, &browser, &auth, &request, "ignored")
        .await
        .unwrap();
    assert_eq!(claims["sub"], "dave", "{claims}");
    // offline_access (with prompt=consent) brings a refresh token.
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let userinfo = idp
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(userinfo["name"], "User dave", "{userinfo}");
    assert_eq!(
        userinfo["groups"],
        serde_json::json!(["users"]),
        "{userinfo}"
    );

    // With a resource indicator the access token is a JWT for that resource, userinfo refuses
    // it, and the ID token carries the scope claims instead.
    let request = AuthorizationRequest::new(WEB_POST_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES)
        .with("resource", RESOURCE_URI);
    let (tokens, claims) = login_and_exchange(&idp, &browser, &auth, &request, "ignored")
        .await
        .unwrap();
    for claim in PROFILE_CLAIMS {
        assert!(claims.get(claim).is_some(), "{claim} missing: {claims}");
    }
    assert_eq!(claims["email"], "dave@example.test", "{claims}");
    let access_token = tokens["access_token"].as_str().unwrap();
    let (_, at) = decode_jwt_unverified(access_token).unwrap();
    assert_eq!(at["aud"], RESOURCE_URI, "{at}");
    let err = idp.userinfo(access_token).await.unwrap_err();
    assert!(err.to_string().contains("invalid_token"), "{err}");

    // Each secret client must use the method it is registered with: the post client may not
    // use HTTP Basic, nor the basic client the form body (the fixture's policy; oidc-provider
    // alone takes either). A right method with a wrong code gets past authentication.
    let token_endpoint = idp.token_endpoint().unwrap();
    let form = [("grant_type", "authorization_code"), ("code", "x")];
    let attempts = [
        (
            idp.http()
                .post(&token_endpoint)
                .basic_auth(WEB_POST_ID, Some(WEB_POST_SECRET))
                .form(&form),
            401,
        ),
        (
            idp.http().post(&token_endpoint).form(&[
                form[0],
                form[1],
                ("client_id", WEB_ID),
                ("client_secret", WEB_SECRET),
            ]),
            401,
        ),
        (
            idp.http().post(&token_endpoint).form(&[
                form[0],
                form[1],
                ("client_id", WEB_POST_ID),
                ("client_secret", WEB_POST_SECRET),
            ]),
            400,
        ),
    ];
    for (request, expected) in attempts {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        let error = if expected == 401 {
            "invalid_client"
        } else {
            "invalid_grant"
        };
        assert!(body.contains(error), "{body}");
    }
}

#[tokio::test]
async fn pushed_authorization_request_then_login() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    let browser = idp.browser_client().unwrap();
    // Offered, not required (discovery leaves the flag out when it is false).
    assert_ne!(
        idp.discovery()["require_pushed_authorization_requests"],
        true
    );
    let auth = ClientAuth::from(ClientKind::Web);
    let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let pushed = idp
        .push_authorization_request(&auth, &request)
        .await
        .unwrap();
    let request_uri = pushed["request_uri"].as_str().unwrap();
    assert!(
        request_uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{pushed}"
    );
    assert!(pushed["expires_in"].as_u64().unwrap() > 0, "{pushed}");

    let url = idp.par_authorize_url(WEB_ID, request_uri).unwrap();
    assert!(
        !url.contains("code_challenge") && !url.contains("state="),
        "{url}"
    );
    let location = idp.login(&browser, &url, "erin").await.unwrap();
    let code = code_from_callback(&idp, &request, &location).unwrap();
    let tokens = idp
        .exchange_code(
            &auth,
            &code,
            DEFAULT_REDIRECT_URI,
            request.code_verifier.as_deref(),
        )
        .await
        .unwrap();
    let claims = idp
        .verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            WEB_ID,
            Some(&request.nonce),
        )
        .await
        .unwrap();
    assert_eq!(claims["sub"], "erin", "{claims}");

    // A request_uri is good once.
    let err = idp.login(&browser, &url, "erin").await.unwrap_err();
    assert!(err.to_string().contains("invalid_request_uri"), "{err}");

    // Pushing needs client authentication.
    let status = idp
        .http()
        .post(idp.par_endpoint().unwrap())
        .basic_auth(WEB_ID, Some("wrong"))
        .form(&request.params())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn rp_initiated_logout_returns_to_the_client_with_state() {
    let logged_out = "http://localhost/pa/oidc/logged-out";
    let idp = Idp::start(IdpOptions {
        post_logout_redirect_uris: vec![
            logged_out.to_string(),
            DEFAULT_POST_LOGOUT_REDIRECT_URI.to_string(),
        ],
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    assert!(idp
        .end_session_endpoint()
        .unwrap()
        .ends_with("/session/end"));
    let browser = idp.browser_client().unwrap();
    let auth = ClientAuth::from(ClientKind::Web);
    let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let (tokens, _) = login_and_exchange(&idp, &browser, &auth, &request, "frank")
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    idp.userinfo(access_token).await.unwrap();

    // An unregistered post_logout_redirect_uri is refused before any form.
    let bad = idp
        .end_session_url(
            Some(id_token),
            Some("http://localhost/elsewhere"),
            Some("s"),
        )
        .unwrap();
    let err = idp.confirm_logout(&browser, &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("post_logout_redirect_uri not registered"),
        "{err}"
    );

    let state = random_token();
    let url = idp
        .end_session_url(Some(id_token), Some(logged_out), Some(&state))
        .unwrap();
    let location = idp.confirm_logout(&browser, &url).await.unwrap();
    assert_eq!(location, format!("{logged_out}?state={state}"));

    // The grant is revoked with the session: its access token is dead, and the next login in
    // this browser shows the login form again (so the typed login counts).
    let err = idp.userinfo(access_token).await.unwrap_err();
    assert!(err.to_string().contains("invalid_token"), "{err}");
    let request = AuthorizationRequest::new(WEB_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let (tokens, claims) = login_and_exchange(&idp, &browser, &auth, &request, "grace")
        .await
        .unwrap();
    assert_eq!(claims["sub"], "grace", "{claims}");

    // Without post_logout_redirect_uri the provider ends on its own success page.
    let url = idp
        .end_session_url(tokens["id_token"].as_str(), None, None)
        .unwrap();
    let location = idp.confirm_logout(&browser, &url).await.unwrap();
    assert_eq!(location, format!("{}/session/end/success", idp.issuer()));

    // Without a session (just logged out) the provider skips the question and self-submits.
    let url = idp
        .end_session_url(
            tokens["id_token"].as_str(),
            Some(DEFAULT_POST_LOGOUT_REDIRECT_URI),
            Some("again"),
        )
        .unwrap();
    let location = idp.confirm_logout(&browser, &url).await.unwrap();
    assert_eq!(
        location,
        format!("{DEFAULT_POST_LOGOUT_REDIRECT_URI}?state=again")
    );
}

#[tokio::test]
async fn private_key_jwt_client_authenticates_with_an_es256_assertion() {
    let key = SigningKey::es256("gatehouse-web-jwt-key").unwrap();
    let jwks_server = JwksServer::start(jwks(&[&key])).await.unwrap();
    let idp = Idp::start(IdpOptions {
        web_jwks_uri: Some(jwks_server.url()),
        ..IdpOptions::default()
    })
    .await
    .unwrap();
    let browser = idp.browser_client().unwrap();
    let token_endpoint = idp.token_endpoint().unwrap();
    let request = AuthorizationRequest::new(WEB_JWT_ID, DEFAULT_REDIRECT_URI, ALL_SCOPES);
    let url = idp.authorize_url(&request).unwrap();
    let code = code_from_callback(
        &idp,
        &request,
        &idp.login(&browser, &url, "heidi").await.unwrap(),
    )
    .unwrap();

    // Signed by a key the client did not publish: refused.
    let stranger = SigningKey::es256("gatehouse-web-jwt-key").unwrap();
    let forged = ClientAuth::PrivateKeyJwt {
        client_id: WEB_JWT_ID.to_string(),
        assertion: stranger
            .sign(&client_assertion_claims(WEB_JWT_ID, &token_endpoint))
            .unwrap(),
    };
    let verifier = request.code_verifier.as_deref();
    let err = idp
        .exchange_code(&forged, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(
        jwks_server.fetches() >= 1,
        "the provider never fetched the client's JWKS"
    );

    let auth = ClientAuth::PrivateKeyJwt {
        client_id: WEB_JWT_ID.to_string(),
        assertion: key
            .sign(&client_assertion_claims(WEB_JWT_ID, &token_endpoint))
            .unwrap(),
    };
    let tokens = idp
        .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap();
    let claims = idp
        .verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            WEB_JWT_ID,
            Some(&request.nonce),
        )
        .await
        .unwrap();
    assert_eq!(claims["sub"], "heidi", "{claims}");

    // The same assertion again (same jti) is a replay; the issuer as audience is fine.
    let location = idp.login(&browser, &url, "ignored").await.unwrap();
    let code = code_from_callback(&idp, &request, &location).unwrap();
    let err = idp
        .exchange_code(&auth, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_client"), "{err}");
    let fresh = ClientAuth::PrivateKeyJwt {
        client_id: WEB_JWT_ID.to_string(),
        assertion: key
            .sign(&client_assertion_claims(WEB_JWT_ID, idp.issuer()))
            .unwrap(),
    };
    idp.exchange_code(&fresh, &code, DEFAULT_REDIRECT_URI, verifier)
        .await
        .unwrap();
}

#[tokio::test]
async fn private_key_jwt_client_is_absent_without_its_jwks_uri() {
    let idp = Idp::start(IdpOptions::default()).await.unwrap();
    let browser = idp.browser_client().unwrap();
    let request = AuthorizationRequest::new(WEB_JWT_ID, DEFAULT_REDIRECT_URI, "openid");
    let err = idp
        .login(&browser, &idp.authorize_url(&request).unwrap(), "ivan")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("400") && message.contains("invalid_client"),
        "{message}"
    );
}
