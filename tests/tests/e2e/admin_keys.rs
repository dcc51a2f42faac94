//! Admin API key pairs and HTTPS listeners over real HTTPS: generate, import, CSR, delete, and
//! the certificates the engine (by SNI and by default) and the admin listener serve, changed
//! live and kept across a restart. Also `/auth/basic`.

use gatehouse_tests::client::{fingerprint, served_certificate};
use gatehouse_tests::pki::TestCa;
use gatehouse_tests::{config, free_port};
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin_api::node;

fn id_of(v: &Value) -> u64 {
    v["id"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn key_pairs_show_the_certificate_the_admin_listener_serves() -> anyhow::Result<()> {
    let (node, api) = node(None).await?;
    let (status, list) = api.get("/keyPairs").await?;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let aliases: Vec<&str> = items.iter().filter_map(|k| k["alias"].as_str()).collect();
    for alias in ["ADMIN", "ENGINE", "CONFIG QUERY"] {
        assert!(aliases.contains(&alias), "{list}");
    }
    assert!(
        !list.to_string().contains("PRIVATE KEY"),
        "never the private key"
    );
    let admin = items
        .iter()
        .find(|k| k["alias"] == "ADMIN")
        .cloned()
        .unwrap_or_default();
    assert_eq!(admin["status"], "Valid");
    assert_eq!(admin["keyAlgorithm"], "EC");
    let served = served_certificate("localhost", node.admin_port).await?;
    assert_eq!(admin["sha256Fingerprint"], fingerprint(&served));

    let pem = api
        .request(
            Method::GET,
            &format!("/keyPairs/{}/certificate", id_of(&admin)),
        )
        .send()
        .await?;
    assert_eq!(pem.status(), 200);
    assert!(pem.text().await?.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(api.get("/keyPairs/999").await?.0, 404);
    Ok(())
}

#[tokio::test]
async fn key_pairs_are_served_by_sni_and_by_listeners_live_and_after_a_restart(
) -> anyhow::Result<()> {
    let port = free_port();
    let toml = config::simple(port, true, "/", &["127.0.0.1:9"])
        + &config::vhost(2, "app.example.test", port);
    let (mut node, api) = node(Some(toml)).await?;

    // Generate: a key pair with the requested names, and a CSR for it.
    let (status, generated) = api
        .post(
            "/keyPairs/generate",
            &json!({"alias": "app", "commonName": "app.example.test",
                    "subjectAlternativeNames": ["app.example.test", "10.1.2.3"],
                    "keyAlgorithm": "EC", "validDays": 30}),
        )
        .await?;
    assert_eq!(status, 200, "{generated}");
    assert_eq!(
        generated["subjectAlternativeNames"],
        json!(["app.example.test", "10.1.2.3"])
    );
    let app_key = id_of(&generated);
    let csr = api
        .request(Method::GET, &format!("/keyPairs/{app_key}/csr"))
        .send()
        .await?;
    assert_eq!(csr.status(), 200);
    assert!(csr
        .text()
        .await?
        .starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    let (status, dup) = api
        .post(
            "/keyPairs/generate",
            &json!({"alias": "APP", "commonName": "x", "keyAlgorithm": "EC", "validDays": 1}),
        )
        .await?;
    assert_eq!(status, 422, "alias taken: {dup}");
    assert!(dup["form"]["alias"].is_array(), "{dup}");
    let (status, bad) = api
        .post(
            "/keyPairs/generate",
            &json!({"alias": "b", "commonName": "", "keyAlgorithm": "RSA", "keySize": 1024,
                    "validDays": 0}),
        )
        .await?;
    assert_eq!(status, 422);
    for field in ["commonName", "keySize", "validDays"] {
        assert!(bad["form"][field].is_array(), "{field}: {bad}");
    }

    // A virtual host names the key pair: its SNI name gets it at once, others do not.
    let engine_default = served_certificate("other.example.test", port).await?;
    assert_ne!(fingerprint(&engine_default), generated["sha256Fingerprint"]);
    let vhost = json!({"id": 2, "host": "app.example.test", "port": port, "keyPairId": app_key});
    let (status, body) = api.put("/virtualhosts/2", &vhost).await?;
    assert_eq!(status, 200, "{body}");
    let by_sni = served_certificate("app.example.test", port).await?;
    assert_eq!(fingerprint(&by_sni), generated["sha256Fingerprint"]);
    assert_eq!(
        served_certificate("other.example.test", port).await?,
        engine_default
    );
    let (status, missing) = api
        .put(
            "/virtualhosts/2",
            &json!({"id": 2, "host": "app.example.test", "port": port, "keyPairId": 999}),
        )
        .await?;
    assert_eq!(status, 422);
    assert!(missing["form"]["keyPairId"].is_array(), "{missing}");
    let (status, in_use) = api.delete(&format!("/keyPairs/{app_key}")).await?;
    assert_eq!(status, 422, "used by a virtual host: {in_use}");

    // Import PEM; a key that is not the certificate's is refused.
    let ca = TestCa::new("import CA")?;
    let leaf = ca.leaf(&["imported.example.test"])?;
    let other = ca.leaf(&["other.example.test"])?;
    let (status, imported) = api
        .post(
            "/keyPairs/import",
            &json!({"alias": "imported", "fileData": format!("{}{}{}", leaf.cert_pem, ca.cert_pem, leaf.key_pem)}),
        )
        .await?;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["issuerDn"], "CN=import CA");
    let imported_key = id_of(&imported);
    let (status, mismatch) = api
        .post(
            "/keyPairs/import",
            &json!({"alias": "mismatch", "fileData": format!("{}{}", leaf.cert_pem, other.key_pem)}),
        )
        .await?;
    assert_eq!(status, 422);
    assert!(mismatch["form"]["fileData"].is_array(), "{mismatch}");

    // Listeners: ENGINE serves the imported pair, ADMIN the generated one, to new handshakes.
    let (status, listeners) = api.get("/httpsListeners").await?;
    assert_eq!(status, 200);
    let names: Vec<&str> = listeners["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["ADMIN", "ENGINE", "CONFIG QUERY"]);
    let (status, body) = api
        .put("/httpsListeners/2", &json!({"keyPairId": imported_key}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let leaf_der = pem::parse(&leaf.cert_pem)?.into_contents();
    assert_eq!(
        served_certificate("other.example.test", port).await?,
        leaf_der
    );
    let (status, body) = api
        .put("/httpsListeners/1", &json!({"keyPairId": app_key}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let admin_served = served_certificate("localhost", node.admin_port).await?;
    assert_eq!(fingerprint(&admin_served), generated["sha256Fingerprint"]);
    assert_eq!(
        api.put("/httpsListeners/1", &json!({"keyPairId": 999}))
            .await?
            .0,
        422
    );
    assert_eq!(
        api.delete(&format!("/keyPairs/{imported_key}")).await?.0,
        422
    );

    // An unused pair (RSA this time) can be deleted.
    let (status, rsa) = api
        .post(
            "/keyPairs/generate",
            &json!({"alias": "rsa", "commonName": "rsa.example.test", "keyAlgorithm": "RSA",
                    "validDays": 1}),
        )
        .await?;
    assert_eq!(status, 200, "{rsa}");
    assert_eq!(rsa["keyAlgorithm"], "RSA");
    assert_eq!(
        api.delete(&format!("/keyPairs/{}", id_of(&rsa))).await?.0,
        204
    );
    assert_eq!(api.get(&format!("/keyPairs/{}", id_of(&rsa))).await?.0, 404);

    // Key pairs and listener assignments live in the store: kept across a kill -9 and restart
    // (the virtual host comes from the startup TOML again, which has no keyPairId).
    node.kill_hard().await?;
    node.restart().await?;
    assert_eq!(
        served_certificate("localhost", node.admin_port).await?,
        admin_served
    );
    assert_eq!(
        served_certificate("other.example.test", port).await?,
        leaf_der
    );
    Ok(())
}

#[tokio::test]
async fn basic_authentication_stays_on_unless_bearer_tokens_are_enabled() -> anyhow::Result<()> {
    let (_node, api) = node(None).await?;
    let (status, basic) = api.get("/auth/basic").await?;
    assert_eq!((status.as_u16(), &basic), (200, &json!({"enabled": true})));
    let (status, refused) = api.put("/auth/basic", &json!({"enabled": false})).await?;
    assert_eq!(status, 422);
    assert!(refused.to_string().contains("adminOAuth"), "{refused}");
    assert_eq!(
        api.get("/sites").await?.0,
        200,
        "still logged in with Basic"
    );
    Ok(())
}
