//! What one long-poll costs the console before it waits (`Console::authenticate`), piece by
//! piece: `token_verify` is `cluster::token::verify` (header, unverified `iss`, JWK parse,
//! ES256 signature, claims, replay cache insert) with the engine's public JWK handed over as the
//! store returns it; `store_lookup` is `Store::engine` (the SELECT that finds the JWK) and
//! `store_touch` is `Store::touch_engine` (the UPDATE of `last_poll_at`, a WAL commit with
//! `synchronous=FULL`, so an `fsync`), both on a store in a temporary directory on disk;
//! `store_touch_tmpfs` is the same UPDATE with the store on `/dev/shm` (the `fsync` is free
//! there). `token_mint` is the engine's side of each poll. Wall time, so `store_touch` includes
//! waiting for the disk.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gatehouse_admin::cluster::bootstrap::{new_key, Bootstrap};
use gatehouse_admin::cluster::token;
use gatehouse_admin::store::Store;

const AUDIENCE: &str = "GatehouseAdminServer";

fn cluster_poll(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("cluster_poll benches skipped, set-up failed: {e:#}");
    }
}

/// A store with one engine holding `public` as its key; returns it and the engine id.
fn store_in(dir: &std::path::Path, public: &str) -> anyhow::Result<(Store, u64)> {
    let store = Store::open(dir)?;
    let id = store.add_engine("bench")?;
    store.set_engine_key(id, public)?;
    Ok((store, id))
}

fn run(c: &mut Criterion) -> anyhow::Result<()> {
    let (key, public) = new_key();
    let disk = tempfile::tempdir()?;
    let (store, id) = store_in(disk.path(), &public)?;
    let bootstrap = Bootstrap {
        engine_id: id,
        key,
        admin_host: "127.0.0.1".into(),
        admin_port: 9090,
        fingerprints: vec![],
        audience: AUDIENCE.into(),
        rotation_port: None,
    };
    let seen = token::seen_tokens();
    let mut group = c.benchmark_group("cluster_poll");
    group.bench_function("token_mint", |b| {
        b.iter(|| black_box(token::mint(&bootstrap)))
    });
    group.bench_function("token_verify", |b| {
        b.iter_batched(
            || token::mint(&bootstrap).unwrap_or_default(),
            |t| {
                let r = token::verify(&t, AUDIENCE, |_| Some(public.clone()), &seen);
                assert!(r.is_ok(), "{r:?}");
                r
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("store_lookup", |b| {
        b.iter(|| {
            let e = store.engine(id).ok().flatten().and_then(|e| e.public_jwk);
            assert!(e.is_some());
            e
        })
    });
    group.bench_function("store_touch", |b| {
        b.iter(|| black_box(store.touch_engine(id)))
    });
    match tempfile::tempdir_in("/dev/shm") {
        Ok(shm) => {
            let (store, id) = store_in(shm.path(), &public)?;
            group.bench_function("store_touch_tmpfs", |b| {
                b.iter(|| black_box(store.touch_engine(id)))
            });
        }
        Err(e) => eprintln!("store_touch_tmpfs skipped: /dev/shm: {e}"),
    }
    group.finish();
    Ok(())
}

criterion_group!(benches, cluster_poll);
criterion_main!(benches);
