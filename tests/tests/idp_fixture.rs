//! The OpenID provider fixture itself (tests/fixtures/oidc-provider via `gatehouse_tests::idp`):
//! discovery, JWT access tokens per resource indicator, opaque tokens through introspection and
//! revocation.

use gatehouse_tests::idp::{
    decode_jwt_unverified, ClientKind, Idp, IdpOptions, KID_ES256, KID_RS256, RESOURCE_URI,
    RESOURCE_URI_ES, RESOURCE_URI_OPAQUE,
};

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
}
