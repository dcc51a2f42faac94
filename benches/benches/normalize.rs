//! Path normalisation cost: the common plain path (fast path) against hostile encodings.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_benches::PATHS;
use gatehouse_gateway::path::normalize;

fn normalisation(c: &mut Criterion) {
    let cases = [
        ("plain", "/api/v1/orders/12345/items"),
        ("dot_segments", "/api/v1/./orders/../orders/12345//items"),
        ("encoded", "/api/v1/%6f%72ders/12345%2Fitems"),
        (
            "double_encoded",
            "/api/%252e%252e/v1/orders;jsessionid=1/12345",
        ),
        ("refused", "/api/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
    ];
    let mut group = c.benchmark_group("normalize");
    for (name, path) in cases {
        group.bench_function(name, |b| {
            b.iter(|| black_box(normalize(black_box(path), PATHS, false).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, normalisation);
criterion_main!(benches);
