//! JWT identity mapping cost through `identity::apply`: `miss` mints and signs an ES256 identity
//! JWT for a new identity every iteration (and caches it), `hit` reuses the JWT minted for the
//! same identity, `no_cache` is the minted-JWT cache with capacity 0 (one JWT per request).

use std::hint::black_box;

use anyhow::anyhow;
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_benches::tokens::{auth_token_keys, identity, jwt_mapping};
use gatehouse_gateway::identity::{apply, MintCache};
use http::HeaderMap;

fn jwt_mapping_bench(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("jwt_mapping benches skipped, set-up failed: {e:#}");
    }
}

fn run(c: &mut Criterion) -> anyhow::Result<()> {
    let keys = auth_token_keys()?;
    let mapping = jwt_mapping();
    let mut headers = HeaderMap::new();
    let cache = MintCache::new(10_000);
    let uncached = MintCache::new(0);

    let alice = identity("alice", (1, [7; 32]));
    apply(&mapping, &alice, Some(&keys), &cache, &mut headers)?;
    let first = headers.get("x-identity-jwt").cloned();
    apply(&mapping, &alice, Some(&keys), &cache, &mut headers)?;
    // ES256 signatures are randomised: an equal header means the JWT came from the cache.
    if first.is_none() || headers.get("x-identity-jwt") != first.as_ref() {
        return Err(anyhow!(
            "the second mapping of one identity did not reuse its JWT"
        ));
    }

    let mut group = c.benchmark_group("jwt_mapping");
    let mut fresh = identity("bob", (1, [0; 32]));
    let mut n: u64 = 0;
    group.bench_function("miss", |b| {
        b.iter(|| {
            n += 1;
            fresh.cache_key.1[..8].copy_from_slice(&n.to_le_bytes());
            black_box(apply(&mapping, &fresh, Some(&keys), &cache, &mut headers).is_ok())
        })
    });
    group.bench_function("hit", |b| {
        b.iter(|| {
            black_box(
                apply(
                    &mapping,
                    black_box(&alice),
                    Some(&keys),
                    &cache,
                    &mut headers,
                )
                .is_ok(),
            )
        })
    });
    group.bench_function("no_cache", |b| {
        b.iter(|| {
            black_box(
                apply(
                    &mapping,
                    black_box(&alice),
                    Some(&keys),
                    &uncached,
                    &mut headers,
                )
                .is_ok(),
            )
        })
    });
    group.finish();
    Ok(())
}

criterion_group!(benches, jwt_mapping_bench);
criterion_main!(benches);
