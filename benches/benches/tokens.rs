//! Bearer-token cost per algorithm (RS256, ES256, EdDSA): `miss` is the full
//! `JwtValidator::validate` (header, key lookup, signature, claims) with the key set already
//! fetched; `hit` is the verified-token cache lookup (`TokenCache::key` + `get`) that the
//! authentication stage does first; `defeated` is what a request costs with the cache capacity set
//! to 0 (lookup, validation, insert).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_benches::tokens::{claims, jwks, serve_json, BenchKey, AUDIENCE, ISSUER};
use gatehouse_gateway::oauth::cache::TokenCache;
use gatehouse_gateway::oauth::fetch;
use gatehouse_gateway::oauth::jwks::{JwksLocation, JwksSource};
use gatehouse_gateway::oauth::jwt::JwtValidator;
use gatehouse_model::ConfigDocument;
use jsonwebtoken::Algorithm;
use tokio::runtime::Runtime;

fn bearer_tokens(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("bearer_token benches skipped, set-up failed: {e:#}");
    }
}

fn run(c: &mut Criterion) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let keys = [
        BenchKey::rs256("rsa-1")?,
        BenchKey::es256("es-1")?,
        BenchKey::eddsa("ed-1")?,
    ];
    let url = serve_json(&jwks(&keys.iter().collect::<Vec<_>>()))?;
    let client = fetch::client(&ConfigDocument::default(), 0)?;
    let source = JwksSource::new(JwksLocation::Url(url), client, Arc::default());
    let validator = JwtValidator::new(
        1,
        vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        ISSUER.into(),
        AUDIENCE.into(),
        "sub".into(),
        0,
        Arc::new(source),
    );
    let cache = TokenCache::new(10_000, Arc::default());
    let disabled = TokenCache::new(0, Arc::default());

    let mut group = c.benchmark_group("bearer_token");
    for key in &keys {
        let alg = format!("{:?}", key.alg);
        let token = key.sign(&claims("alice", 3600))?;
        // The first validation fetches the key set; every measured one finds it loaded.
        let identity = rt
            .block_on(validator.validate(&token))
            .map_err(|e| anyhow!("{alg} token refused: {e}"))?;
        let cache_key = TokenCache::key(validator.instance, &token);
        rt.block_on(cache.insert(cache_key, Arc::new(identity)));
        if rt.block_on(cache.lookup(&cache_key)).is_none() {
            return Err(anyhow!("{alg}: the cached identity is not found"));
        }

        group.bench_function(BenchmarkId::new("miss", &alg), |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async {
                    black_box(validator.validate(black_box(&token)).await.is_ok())
                })
            })
        });
        group.bench_function(BenchmarkId::new("hit", &alg), |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async {
                    let key = TokenCache::key(validator.instance, black_box(&token));
                    black_box(cache.lookup(&key).await.is_some())
                })
            })
        });
        group.bench_function(BenchmarkId::new("defeated", &alg), |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || async {
                    let key = TokenCache::key(validator.instance, black_box(&token));
                    if disabled.lookup(&key).await.is_some() {
                        return false;
                    }
                    match validator.validate(&token).await {
                        Ok(identity) => {
                            disabled.insert(key, Arc::new(identity)).await;
                            true
                        }
                        Err(_) => false,
                    }
                })
            })
        });
    }
    group.finish();
    Ok(())
}

/// Runs `op` `iters` times inside one `block_on` (so the runtime's entry cost is not measured).
fn timed<F, Fut>(rt: &Runtime, iters: u64, op: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(op().await);
        }
        start.elapsed()
    })
}

criterion_group!(benches, bearer_tokens);
criterion_main!(benches);
