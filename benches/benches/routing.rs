//! Routing cost at 10, 1,000 and 10,000 applications: the lookup must not grow with the count.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_benches::{host_of, snapshot, PATHS};
use gatehouse_gateway::route::RouteInput;

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_select");
    for apps in [10usize, 1_000, 10_000] {
        let snap = snapshot(apps);
        let target = apps / 2 + 1;
        let host = host_of(target);
        let hit = format!("/svc{target}/api/orders/12345");
        let image = format!("/svc{target}/api/static/img/logo.png");
        let cases = [
            ("hit", hit.as_str(), "POST"),
            ("pattern", image.as_str(), "GET"),
            ("miss", "/nothing/here", "GET"),
        ];
        for (name, path, method) in cases {
            group.bench_with_input(BenchmarkId::new(name, apps), &path, |b, path| {
                b.iter(|| {
                    let input = RouteInput {
                        host: &host,
                        port: 443,
                        raw_path: black_box(path),
                        method,
                    };
                    black_box(snap.routes.select(input, PATHS).is_ok())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
