//! Web-session cookie cost per request: `read` is what the web-session stage does for a
//! request with a valid cookie seen before (cookie header parse, chunk join, verified-cookie
//! cache hit, claim checks); `read_uncached` is the same with the cache defeated (capacity 0:
//! the JWE opened or the JWS verified every time); `parse_only` is the cookie parse and chunk join
//! alone, the floor any session check pays; `write` is a re-issue (seal and `Set-Cookie`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_gateway::oauth::discovery::Discovery;
use gatehouse_gateway::websession::chunks;
use gatehouse_gateway::websession::codec::{SessionKey, SessionKeys};
use gatehouse_gateway::websession::compiled::WebSessions;
use gatehouse_gateway::websession::cookies::request_cookies;
use gatehouse_gateway::websession::session::{
    read, write, AttributeCache, Sealing, Session, VerifiedSessions,
};
use http::HeaderMap;
use serde_json::{json, Map};

fn document(cookie_type: &str) -> String {
    format!(
        "[oidcProvider]\nissuer = \"https://idp.example\"\n\
         [[webSessions]]\nid = 1\nname = \"web\"\naudience = \"web\"\ncookieType = \"{cookie_type}\"\n\
         clientCredentials = {{ clientId = \"c\", clientSecret = \"s\" }}\n"
    )
}

fn session(now: u64) -> Session {
    let mut attrs = Map::new();
    attrs.insert("email".into(), json!("alice@example.test"));
    attrs.insert("name".into(), json!("Alice Example"));
    attrs.insert("groups".into(), json!(["users", "staff", "orders-admins"]));
    Session {
        sub: "alice".into(),
        attrs,
        issued: now,
        expires: now + 3600,
        idle_until: now + 3600,
        auth_time: now,
        sid: "0123456789abcdef0123456789abcdef".into(),
        id_token: None,
        access_token: None,
        refreshed: now,
    }
}

fn bench(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("websession benches skipped, set-up failed: {e:#}");
    }
}

fn run(c: &mut Criterion) -> anyhow::Result<()> {
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_pem();
    let keys = SessionKeys {
        current: SessionKey::new("k1", &pem, [7; 32])?,
        previous: Vec::new(),
    };
    let attributes = AttributeCache::new(10);
    let verified = VerifiedSessions::new(10_000);
    let sealing = Sealing {
        keys: &keys,
        attributes: &attributes,
        threshold: 4093,
        verified: &verified,
    };
    let defeated = VerifiedSessions::new(0);
    let uncached = Sealing {
        verified: &defeated,
        ..sealing
    };
    let provider = Arc::new(Discovery::new(
        "https://idp.example".into(),
        reqwest::Client::new(),
    ));
    let now = 1_800_000_000;
    let mut group = c.benchmark_group("web_session");
    for kind in ["Encrypted", "Signed"] {
        let doc = gatehouse_model::toml_load::load_toml(&document(kind))
            .map_err(|e| anyhow::anyhow!("{}", e.render("bench")))?;
        let sessions = WebSessions::compile(&doc, Some(&provider), &Arc::default());
        let ws = sessions
            .by_id
            .get(&1)
            .ok_or_else(|| anyhow::anyhow!("no web session"))?;
        let m = &sessions.management;
        let set = write(&session(now), ws, m, &sealing, &HeaderMap::new())?;
        let pairs: Vec<&str> = set.iter().filter_map(|c| c.split(';').next()).collect();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, pairs.join("; ").parse()?);
        anyhow::ensure!(read(&headers, ws, m, &sealing, now + 1).is_some());
        group.bench_function(format!("parse_only/{kind}"), |b| {
            b.iter(|| {
                let jar = request_cookies(black_box(&headers));
                black_box(chunks::join(jar.iter().copied(), &ws.cookie))
            })
        });
        group.bench_function(format!("read/{kind}"), |b| {
            b.iter(|| black_box(read(black_box(&headers), ws, m, &sealing, now + 1)))
        });
        group.bench_function(format!("read_uncached/{kind}"), |b| {
            b.iter(|| black_box(read(black_box(&headers), ws, m, &uncached, now + 1)))
        });
        let s = session(now);
        group.bench_function(format!("write/{kind}"), |b| {
            b.iter(|| black_box(write(black_box(&s), ws, m, &sealing, &headers)))
        });
    }
    group.finish();
    Ok(())
}

criterion_group!(benches, bench);
criterion_main!(benches);
