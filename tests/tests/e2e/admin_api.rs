//! The admin API over real HTTPS: authentication (XSRF header, Basic, lockout, roles), CRUD
//! round trips, `422` payloads and reference checks, live apply under load, the audit log,
//! export/import, and crash safety (SIGKILL during writes loses no acknowledged change).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_tests::admin::AdminClient;
use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port, wait};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "admin-password-for-tests";

pub(crate) async fn node(toml: Option<String>) -> anyhow::Result<(Node, AdminClient)> {
    let mut b = Node::builder()
        .prop("admin.initial.password", PASSWORD)
        .prop("account.locking.max.consecutive.failures", 3);
    match toml {
        Some(t) => b = b.toml(t),
        // The embedded default listens on 3000; these nodes need no engine listener.
        None => b = b.prop("engine.http.enabled", "false"),
    }
    let node = b.start().await?;
    let api = AdminClient::new(node.admin_port, "Administrator", PASSWORD);
    Ok((node, api))
}

#[tokio::test]
async fn authentication_xsrf_lockout_and_roles() -> anyhow::Result<()> {
    let (node, api) = node(None).await?;
    let http = gatehouse_tests::client::https(&[]);
    let url = node.admin_url("/pa-admin-api/v3/sites");

    let no_xsrf = http
        .get(&url)
        .basic_auth("Administrator", Some(PASSWORD))
        .send()
        .await?;
    assert_eq!(no_xsrf.status(), 403, "X-XSRF-Header is required");
    let anonymous = http.get(&url).header("X-XSRF-Header", "x").send().await?;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()?
        .starts_with("Basic"));
    assert_eq!(api.get("/sites").await?.0, 200);

    // An auditor reads, but cannot change anything or export.
    let (status, user) = api
        .post(
            "/users",
            &json!({"username": "audrey", "password": "auditor-password", "role": "AUDITOR"}),
        )
        .await?;
    assert_eq!(status, 200, "{user}");
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
    let auditor = api.as_user("audrey", "auditor-password");
    assert_eq!(auditor.get("/sites").await?.0, 200);
    assert_eq!(
        auditor
            .post("/sites", &json!({"name": "s", "targets": ["127.0.0.1:1"]}))
            .await?
            .0,
        403
    );
    assert_eq!(auditor.get("/config/export").await?.0, 403);
    let (status, body) = api
        .post(
            "/users",
            &json!({"username": "short", "password": "x", "role": "AUDITOR"}),
        )
        .await?;
    assert_eq!(status, 422);
    assert!(body["form"]["password"].is_array(), "{body}");

    // Anyone may change their own password, with the current one.
    let (_, me) = api.get("/users").await?;
    let audrey_id = me["items"]
        .as_array()
        .and_then(|l| l.iter().find(|u| u["username"] == "audrey"))
        .and_then(|u| u["id"].as_u64())
        .unwrap_or(0);
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});
    let path = format!("/users/{audrey_id}/password");
    let (status, body) = auditor
        .put(&path, &change("auditor-password", "short"))
        .await?;
    assert_eq!(status, 422);
    assert!(body["form"]["newPassword"].is_array(), "{body}");
    assert_eq!(
        auditor
            .put(&path, &change("wrong-current", "auditor-password-1"))
            .await?
            .0,
        422
    );
    assert_eq!(
        auditor
            .put(&path, &change("auditor-password", "auditor-password-1"))
            .await?
            .0,
        204
    );
    let auditor = api.as_user("audrey", "auditor-password-1");
    assert_eq!(
        auditor
            .put("/users/1/password", &change("x", "someone-elses-1"))
            .await?
            .0,
        403
    );
    assert_eq!(auditor.get("/sites").await?.0, 200);

    // Three bad passwords lock the account; then even the right one is refused.
    let wrong = auditor.as_user("audrey", "not-the-password");
    for _ in 0..3 {
        assert_eq!(wrong.get("/sites").await?.0, 401);
    }
    assert_eq!(auditor.get("/sites").await?.0, 401, "locked");
    assert_eq!(
        api.get("/sites").await?.0,
        200,
        "other users are not affected"
    );
    let (_, users) = api.get("/users").await?;
    let audrey = users["items"]
        .as_array()
        .and_then(|l| l.iter().find(|u| u["username"] == "audrey"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(audrey["locked"], true, "{users}");

    // An administrator resets the password, which also unlocks.
    let id = audrey["id"].as_u64().unwrap_or(0);
    let (status, _) = api
        .put(
            &format!("/users/{id}/password"),
            &json!({"newPassword": "auditor-password-2"}),
        )
        .await?;
    assert_eq!(status, 204);
    assert_eq!(
        api.as_user("audrey", "auditor-password-2")
            .get("/sites")
            .await?
            .0,
        200
    );

    // Users can be deleted, but not oneself or the last administrator.
    let (_, admin_row) = api.get("/users/1").await?;
    assert_eq!(admin_row["username"], "Administrator");
    assert_eq!(api.delete("/users/1").await?.0, 422, "not oneself");
    assert_eq!(api.delete(&format!("/users/{id}")).await?.0, 204);
    assert_eq!(
        api.as_user("audrey", "auditor-password-2")
            .get("/sites")
            .await?
            .0,
        401
    );
    assert_eq!(api.delete(&format!("/users/{id}")).await?.0, 404);

    // Refused calls name who tried, in the audit log.
    let text = std::fs::read_to_string(node.dir.path().join("data/log/admin-audit.log"))?;
    assert!(
        text.lines()
            .any(|l| l.contains("\"subject\":\"audrey\"") && l.contains("\"status\":403")),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn secrets_are_write_only_and_hidden_from_auditors() -> anyhow::Result<()> {
    let (_node, api) = node(None).await?;
    let server = json!({
        "introspectionEndpoint": "https://as.example.test/introspect",
        "clientCredentials": {"clientId": "gatehouse", "clientSecret": {"value": "s3cr3t-value"}}
    });
    let (status, stored) = api.put("/oauth/authServer", &server).await?;
    assert_eq!(status, 200, "{stored}");
    let (_, read) = api.get("/oauth/authServer").await?;
    let secret = read["clientCredentials"]["clientSecret"].clone();
    assert!(
        secret["encryptedValue"]
            .as_str()
            .is_some_and(|v| v.len() > 20),
        "{read}"
    );
    assert!(!read.to_string().contains("s3cr3t-value"));
    // Writing back what was read keeps the secret; an export round-trips unchanged.
    assert_eq!(api.put("/oauth/authServer", &read).await?.1, read);
    let (_, export) = api.get("/config/export").await?;
    assert!(!export.to_string().contains("s3cr3t-value"));
    assert_eq!(api.post("/config/import", &export).await?.0, 200);
    assert_eq!(api.get("/config/export").await?.1, export);
    let forged = json!({"introspectionEndpoint": "https://as.example.test/introspect",
        "clientCredentials": {"clientId": "gatehouse", "clientSecret": {"encryptedValue": "bm90LW91cnM"}}});
    let (status, body) = api.put("/oauth/authServer", &forged).await?;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["flash"][0]
            .as_str()
            .is_some_and(|m| m.contains("clientSecret")),
        "{body}"
    );

    api.post(
        "/users",
        &json!({"username": "audrey", "password": "auditor-password", "role": "AUDITOR"}),
    )
    .await?;
    let auditor = api.as_user("audrey", "auditor-password");
    let (status, seen) = auditor.get("/oauth/authServer").await?;
    assert_eq!(status, 200);
    assert_eq!(
        seen["clientCredentials"]["clientSecret"]["encryptedValue"],
        ""
    );
    let (_, revisions) = auditor.get("/config/revisions").await?;
    let newest = revisions["items"][0]["revision"].as_u64().unwrap_or(0);
    assert_eq!(
        auditor.get(&format!("/config/revisions/{newest}")).await?.0,
        403,
        "whole documents are for administrators"
    );
    Ok(())
}

#[tokio::test]
async fn crud_round_trips_with_lists_422_payloads_and_reference_checks() -> anyhow::Result<()> {
    let (_node, api) = node(None).await?;
    // Create with a client-supplied id, and with the next free one.
    let (status, site) = api
        .post(
            "/sites",
            &json!({"id": 7, "name": "orders", "targets": ["127.0.0.1:8081"]}),
        )
        .await?;
    assert_eq!(status, 200, "{site}");
    assert_eq!(site["id"], 7);
    assert!(
        site["availability"]["connectTimeout"].is_number(),
        "the stored object: {site}"
    );
    let (_, second) = api
        .post(
            "/sites",
            &json!({"name": "billing", "targets": ["127.0.0.1:8082"]}),
        )
        .await?;
    assert_eq!(second["id"], 8);
    let (status, dup) = api
        .post(
            "/sites",
            &json!({"id": 7, "name": "x", "targets": ["127.0.0.1:1"]}),
        )
        .await?;
    assert_eq!(status, 422);
    assert!(dup["form"]["id"].is_array(), "{dup}");

    // Read back with defaults filled in; list with filter, sort and paging.
    let (status, read) = api.get("/sites/7").await?;
    assert_eq!(status, 200);
    assert_eq!(read["name"], "orders");
    assert!(read["availability"]["connectTimeout"].is_number(), "{read}");
    let (_, page) = api
        .get("/sites?sortKey=name&order=ASC&numberPerPage=1&page=2")
        .await?;
    assert_eq!(page["items"][0]["name"], "orders", "{page}");
    let (_, filtered) = api.get("/sites?filter=BILL").await?;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(1));
    let (_, named) = api.get("/sites?name=orders").await?;
    assert_eq!(named["items"][0]["id"], 7);

    // An application referring to the site, and its resources.
    let (_, vh) = api
        .post("/virtualhosts", &json!({"host": "*", "port": 3000}))
        .await?;
    let app =
        json!({"name": "shop", "contextRoot": "/shop", "virtualHostIds": [vh["id"]], "siteId": 7});
    let (status, created) = api.post("/applications", &app).await?;
    assert_eq!(status, 200, "{created}");
    let app_id = created["id"].as_u64().unwrap_or(0);
    let (_, resources) = api
        .get(&format!("/applications/{app_id}/resources"))
        .await?;
    assert_eq!(
        resources["items"],
        json!([]),
        "the Root Resource stays implicit"
    );
    let (status, res) = api
        .post(
            &format!("/applications/{app_id}/resources"),
            &json!({"name": "cart", "pathPatterns": [{"type": "WILDCARD", "pattern": "/cart/*"}]}),
        )
        .await?;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["applicationId"], app_id);
    assert_eq!(
        api.get(&format!(
            "/applications/{}/resources/{}",
            app_id + 1,
            res["id"]
        ))
        .await?
        .0,
        404
    );

    // PUT replaces the whole object.
    let (status, replaced) = api
        .put(
            "/sites/8",
            &json!({"name": "billing-v2", "targets": ["127.0.0.1:9000"]}),
        )
        .await?;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        api.get("/sites/8").await?.1["targets"],
        json!(["127.0.0.1:9000"])
    );
    assert_eq!(
        api.put("/sites/8", &json!({"id": 9, "name": "x", "targets": []}))
            .await?
            .0,
        422
    );

    // Every problem is listed, per field for the submitted object.
    let (status, bad) = api
        .post(
            "/applications",
            &json!({"name": "bad", "contextRoot": "/bad/", "virtualHostIds": [99], "siteId": 42}),
        )
        .await?;
    assert_eq!(status, 422);
    assert_eq!(bad["flash"].as_array().map(Vec::len), Some(3), "{bad}");
    for field in ["contextRoot", "virtualHostIds[0]", "siteId"] {
        assert!(bad["form"][field].is_array(), "{field} in {bad}");
    }
    let (status, bad) = api
        .post("/sites", &json!({"name": "x", "targets": "nope"}))
        .await?;
    assert_eq!(status, 422, "{bad}");
    let (status, _) = api
        .send(
            api.request(Method::POST, "/sites")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await?;
    assert_eq!(status, 422);

    // An object in use cannot be deleted; once free it can.
    let (status, in_use) = api.delete("/sites/7").await?;
    assert_eq!(status, 422);
    assert!(
        in_use["flash"][0]
            .as_str()
            .is_some_and(|m| m.contains("in use")),
        "{in_use}"
    );
    assert_eq!(
        api.delete(&format!("/applications/{app_id}")).await?.0,
        422,
        "its resource still names it"
    );
    assert_eq!(
        api.delete(&format!("/applications/{app_id}/resources/{}", res["id"]))
            .await?
            .0,
        204
    );
    assert_eq!(api.delete(&format!("/applications/{app_id}")).await?.0, 204);
    assert_eq!(api.delete("/sites/7").await?.0, 204);
    assert_eq!(api.get("/sites/7").await?.0, 404);
    assert_eq!(api.delete("/sites/7").await?.0, 404);

    // String ids, singletons.
    let (status, g) = api
        .post(
            "/globalUnprotectedResources",
            &json!({"name": "assets", "wildcardPath": "/static/*"}),
        )
        .await?;
    assert_eq!(status, 200, "{g}");
    let gid = g["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        api.get(&format!("/globalUnprotectedResources/{gid}"))
            .await?
            .1["name"],
        "assets"
    );
    let (status, s) = api
        .put(
            "/unknownResources/settings",
            &json!({"errorStatusCode": 404}),
        )
        .await?;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        api.get("/unknownResources/settings").await?.1["errorStatusCode"],
        404
    );
    assert_eq!(api.get("/oidc/provider").await?.0, 404, "not configured");
    Ok(())
}

#[tokio::test]
async fn a_new_application_answers_within_a_second_under_load_with_no_failed_request(
) -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let toml = format!(
        "{}\n{}\n{}\n{}",
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&backend.target()], ""),
        config::app(1, "/old", 1, 1, "")
    );
    let (_node, api) = node(Some(toml)).await?;
    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (http, stop, ok, failed) = (http.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match http
                        .get(format!("http://127.0.0.1:{port}/old/x"))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    wait::until("load running", Duration::from_secs(10), || async {
        (ok.load(Ordering::Relaxed) > 20).then_some(())
    })
    .await?;
    let started = Instant::now();
    let (status, app) = api
        .post(
            "/applications",
            &json!({"name": "new", "contextRoot": "/new", "virtualHostIds": [1], "siteId": 1}),
        )
        .await?;
    assert_eq!(status, 200, "{app}");
    wait::until(
        "the new application answers",
        Duration::from_secs(1),
        || async {
            let r = http
                .get(format!("http://127.0.0.1:{port}/new/x"))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await?;
    let elapsed = started.elapsed();
    let before = ok.load(Ordering::Relaxed);
    wait::until("load continues", Duration::from_secs(10), || async {
        (ok.load(Ordering::Relaxed) > before + 20).then_some(())
    })
    .await?;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await?;
    }
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} ok",
        ok.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::test]
async fn every_call_is_audited_and_export_import_round_trips() -> anyhow::Result<()> {
    let (node, api) = node(None).await?;
    let (_, rule) = api
        .post("/rules", &json!({"name": "GET only", "type": "HttpMethod", "configuration": {"methods": ["GET"]}}))
        .await?;
    assert_eq!(
        api.as_user("Administrator", "wrong-password")
            .get("/rules")
            .await?
            .0,
        401
    );
    let (status, first) = api.get("/config/export").await?;
    assert_eq!(status, 200);
    assert_eq!(first["data"]["rules"][0]["name"], "GET only");

    // Import → export gives the same document; an invalid import changes nothing.
    let (status, imported) = api.post("/config/import", &first).await?;
    assert_eq!(status, 200, "{imported}");
    let (_, second) = api.get("/config/export").await?;
    assert_eq!(first, second);
    let mut broken = first.clone();
    broken["data"]["applications"] =
        json!([{"id": 1, "name": "a", "contextRoot": "/a", "virtualHostIds": [1], "siteId": 99}]);
    let (status, body) = api.post("/config/import", &broken).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        api.get("/config/export").await?.1,
        first,
        "nothing of a refused import is kept"
    );

    // Revisions: list, inspect, restore.
    let (_, revisions) = api.get("/config/revisions").await?;
    let newest = revisions["items"][0].clone();
    assert_eq!(newest["author"], "Administrator", "{revisions}");
    assert_eq!(newest["summary"], "POST /config/import");
    let rule_revision = revisions["items"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["summary"] == "POST /rules"))
        .and_then(|r| r["revision"].as_u64())
        .unwrap_or(0);
    assert_eq!(api.delete(&format!("/rules/{}", rule["id"])).await?.0, 204);
    let (status, _) = api
        .post(
            &format!("/config/revisions/{rule_revision}/restore"),
            &json!({}),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        api.get(&format!("/rules/{}", rule["id"])).await?.1["name"],
        "GET only"
    );

    // The audit log has a line per call, reads included, and never a password.
    let log_path = node.dir.path().join("data/log/admin-audit.log");
    let text = std::fs::read_to_string(&log_path)?;
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), text.lines().count(), "every line is JSON");
    let find = |method: &str, path: &str, status: u16| {
        lines.iter().find(|l| {
            l["method"] == method
                && l["path"] == format!("/pa-admin-api/v3{path}")
                && l["status"] == status
        })
    };
    let created = find("POST", "/rules", 200).cloned().unwrap_or_default();
    assert_eq!(created["subject"], "Administrator");
    assert_eq!(created["authMethod"], "basic");
    assert_eq!(created["client"], "127.0.0.1");
    assert!(created["revision"].as_u64().is_some(), "{created}");
    assert!(
        find("GET", "/config/export", 200).is_some(),
        "reads are audited"
    );
    let refused = find("GET", "/rules", 401).cloned().unwrap_or_default();
    assert_eq!(
        refused["subject"], "Administrator",
        "the name that was tried"
    );
    assert!(!text.contains(PASSWORD) && !text.contains("wrong-password"));
    Ok(())
}

#[tokio::test]
async fn sigkill_during_writes_loses_no_acknowledged_change() -> anyhow::Result<()> {
    let (mut node, api) = node(None).await?;
    let mut acknowledged: Vec<u64> = Vec::new();
    for round in 0..3u64 {
        let writer = {
            let api = api.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0..1000u64 {
                    let id = round * 1000 + i + 1;
                    let body = json!({"id": id, "name": format!("rule {id}"), "type": "HttpMethod", "configuration": {"methods": ["GET"]}});
                    match api.post("/rules", &body).await {
                        Ok((s, _)) if s == StatusCode::OK => done.push(id),
                        _ => break,
                    }
                }
                done
            })
        };
        // Kill once a few writes were acknowledged, while more are in flight.
        let count_before = acknowledged.len();
        wait::until("writes acknowledged", Duration::from_secs(30), || async {
            let (_, rules) = api.get("/rules").await.ok()?;
            (rules["items"].as_array()?.len() >= count_before + 5).then_some(())
        })
        .await?;
        node.kill_hard().await?;
        acknowledged.extend(writer.await?);
        node.restart().await?;
        let (status, rules) = api.get("/rules").await?;
        assert_eq!(status, 200);
        let stored: Vec<u64> = rules["items"]
            .as_array()
            .map(|l| l.iter().filter_map(|r| r["id"].as_u64()).collect())
            .unwrap_or_default();
        for id in &acknowledged {
            assert!(
                stored.contains(id),
                "round {round}: acknowledged rule {id} lost"
            );
        }
        assert!(
            stored.len() <= acknowledged.len() + 1,
            "at most the one unacknowledged write"
        );
        acknowledged = stored;
    }
    Ok(())
}

#[tokio::test]
async fn bearer_tokens_need_the_scope_and_a_role() -> anyhow::Result<()> {
    use gatehouse_tests::jwks::JwksServer;
    use gatehouse_tests::tokens::{self, claims, SigningKey};
    const ISS: &str = "https://issuer.admin.test";
    const AUD: &str = "gatehouse-admin-api";
    let key = SigningKey::es256("admin-1")?;
    let jwks = JwksServer::start(tokens::jwks(&[&key])).await?;
    let toml = format!(
        "[[accessTokenValidators]]\nid = 2\nname = \"admin tokens\"\n\
         [accessTokenValidators.configuration]\njwksUrl = \"{}\"\nissuer = \"{ISS}\"\naudience = \"{AUD}\"\n\
         [adminOAuth]\nenabled = true\naccessValidatorId = 2\nroleClaim = \"realm.roles\"\n",
        jwks.url()
    );
    let (node, _api) = node(Some(toml)).await?;
    let token = |scope: &str, roles: Value| -> anyhow::Result<String> {
        let mut c = claims(ISS, AUD, "ci-pipeline", 300);
        c["scope"] = json!(scope);
        c["realm"] = json!({ "roles": roles });
        key.sign(&c)
    };
    let http = gatehouse_tests::client::https(&[]);
    let call = |method: Method, path: &str, token: String| {
        http.request(method, node.admin_url(&format!("/pa-admin-api/v3{path}")))
            .bearer_auth(token)
            .header("X-XSRF-Header", "Gatehouse")
    };
    let admin = token("openid gatehouse-admin", json!(["ADMINISTRATOR"]))?;
    let r = call(Method::POST, "/sites", admin.clone())
        .json(&json!({"name": "from CI", "targets": ["127.0.0.1:8080"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let auditor = token("gatehouse-admin", json!(["AUDITOR"]))?;
    assert_eq!(
        call(Method::GET, "/sites", auditor.clone())
            .send()
            .await?
            .status(),
        200
    );
    assert_eq!(
        call(Method::DELETE, "/sites/1", auditor)
            .send()
            .await?
            .status(),
        403
    );
    let no_role = token("gatehouse-admin", json!(["viewer"]))?;
    assert_eq!(
        call(Method::GET, "/sites", no_role).send().await?.status(),
        403
    );
    let no_scope = token("openid", json!(["ADMINISTRATOR"]))?;
    assert_eq!(
        call(Method::GET, "/sites", no_scope).send().await?.status(),
        403
    );
    let mut expired = claims(ISS, AUD, "ci-pipeline", 300);
    expired["exp"] = json!(tokens::now() - 600);
    expired["scope"] = json!("gatehouse-admin");
    expired["realm"] = json!({"roles": ["ADMINISTRATOR"]});
    assert_eq!(
        call(Method::GET, "/sites", key.sign(&expired)?)
            .send()
            .await?
            .status(),
        401
    );
    assert_eq!(
        call(Method::GET, "/sites", "not-a-token".into())
            .send()
            .await?
            .status(),
        401
    );

    let text = std::fs::read_to_string(node.dir.path().join("data/log/admin-audit.log"))?;
    let line = text
        .lines()
        .find(|l| l.contains("\"method\":\"POST\""))
        .unwrap_or_default();
    assert!(
        line.contains("\"subject\":\"ci-pipeline\"") && line.contains("\"authMethod\":\"bearer\""),
        "{line}"
    );
    assert!(!text.contains(&admin), "tokens are never logged");
    Ok(())
}

#[tokio::test]
async fn an_export_converts_to_a_startup_toml_that_serves_the_same_configuration(
) -> anyhow::Result<()> {
    let (node, api) = node(None).await?;
    for body in [
        json!({"name": "orders", "targets": ["127.0.0.1:8081"]}),
        json!({"name": "billing", "targets": ["127.0.0.1:8082"], "availability": {"readTimeout": 5000}}),
    ] {
        assert_eq!(api.post("/sites", &body).await?.0, 200);
    }
    let rule = json!({"name": "office", "type": "NetworkRange", "configuration": {"cidrNotation": ["10.0.0.0/8"], "negate": true}});
    assert_eq!(api.post("/rules", &rule).await?.0, 200);
    let (_, export) = api.get("/config/export").await?;
    let json_file = node.dir.path().join("export.json");
    std::fs::write(&json_file, serde_json::to_vec(&export)?)?;
    let out = tokio::process::Command::new(gatehouse_tests::node::binary())
        .args(["config", "to-toml"])
        .arg(&json_file)
        .output()
        .await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout)?;
    let quiet = Node::builder()
        .toml(toml)
        .prop("engine.http.enabled", "false");
    let (_second, api2) = node_with(quiet).await?;
    let (_, again) = api2.get("/config/export").await?;
    assert_eq!(again["data"], export["data"]);

    let bad = node.dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"data": {"sites": [{"id": 1, "name": "s", "targets": ["nope"]}]}}"#,
    )?;
    let out = tokio::process::Command::new(gatehouse_tests::node::binary())
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sites[0].targets[0]"));
    Ok(())
}

async fn node_with(
    builder: gatehouse_tests::node::NodeBuilder,
) -> anyhow::Result<(Node, AdminClient)> {
    let node = builder
        .prop("admin.initial.password", PASSWORD)
        .start()
        .await?;
    let api = AdminClient::new(node.admin_port, "Administrator", PASSWORD);
    Ok((node, api))
}

#[tokio::test]
async fn the_openapi_document_and_swagger_ui_are_served_without_credentials() -> anyhow::Result<()>
{
    let (node, api) = node(None).await?;
    let http = gatehouse_tests::client::https(&[]);
    let doc: Value = http
        .get(node.admin_url("/pa-admin-api/v3/api-docs/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for path in [
        "/pa-admin-api/v3/sites",
        "/pa-admin-api/v3/sites/{id}",
        "/pa-admin-api/v3/applications/{applicationId}/resources/{id}",
        "/pa-admin-api/v3/rules",
        "/pa-admin-api/v3/rulesets",
        "/pa-admin-api/v3/redirects/{id}",
        "/pa-admin-api/v3/auth/oauth",
        "/pa-admin-api/v3/users/{id}/password",
        "/pa-admin-api/v3/config/import",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let schemes = &doc["components"]["securitySchemes"];
    for scheme in ["basic", "bearer", "xsrf"] {
        assert!(schemes[scheme].is_object(), "{scheme}");
    }
    assert!(doc["components"]["schemas"]["Application"]["properties"]["contextRoot"].is_object());
    // Every documented collection answers as documented (a list with items).
    for path in paths
        .keys()
        .filter(|p| !p.contains('{') && !p.contains("/config/") && !p.ends_with("/version"))
    {
        let get = &doc["paths"][path]["get"];
        if get.is_null() || get["responses"]["404"].is_object() {
            continue;
        }
        let (status, body) = api.get(path.trim_start_matches("/pa-admin-api/v3")).await?;
        assert_eq!(status, 200, "{path}");
        assert!(body.is_object(), "{path}: {body}");
    }
    let ui = http
        .get(node.admin_url("/pa-admin-api/v3/api-docs/"))
        .send()
        .await?;
    assert_eq!(ui.status(), 200);
    let page = ui.text().await?;
    assert!(
        page.contains("swagger-ui-bundle.js") && !page.contains("https://"),
        "no CDN"
    );
    let bundle = http
        .get(node.admin_url("/pa-admin-api/v3/api-docs/swagger-ui-bundle.js"))
        .send()
        .await?;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await?.len() > 100_000, "the bundled assets");
    Ok(())
}
