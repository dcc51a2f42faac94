//! Shared fixtures for Gatehouse benchmarks: synthetic configurations of any size, and bearer
//! tokens with the keys that sign and verify them ([`tokens`]); the harness of the cluster
//! benchmarks ([`cluster`]).

pub mod cluster;
pub mod tokens;

use std::fmt::Write as _;

use gatehouse_gateway::props::PathSettings;
use gatehouse_gateway::snapshot::{compile, Snapshot};
use gatehouse_model::toml_load::load_toml;

/// Path settings as shipped (`pa.uri.canonicalize=true`, three decoding passes).
pub const PATHS: PathSettings = PathSettings {
    canonicalize: true,
    decode_count: 3,
};

/// A configuration with `apps` applications spread over eight virtual hosts, each with three
/// resources (a wildcard, an extension pattern and a method-restricted one).
pub fn config_toml(apps: usize) -> String {
    let mut out = String::new();
    for v in 1..=8 {
        let _ = writeln!(
            out,
            "[[virtualHosts]]\nid = {v}\nhost = \"host{v}.example\"\nport = 443\n"
        );
    }
    out.push_str("[[sites]]\nid = 1\nname = \"backend\"\ntargets = [\"127.0.0.1:9\"]\n\n");
    for a in 1..=apps {
        let vhost = a % 8 + 1;
        let _ = writeln!(
            out,
            "[[applications]]\nid = {a}\nname = \"app {a}\"\ncontextRoot = \"/svc{a}/api\"\n\
             virtualHostIds = [{vhost}]\nsiteId = 1\n"
        );
        let r = a * 10;
        let _ = writeln!(
            out,
            "[[resources]]\nid = {}\napplicationId = {a}\nname = \"all\"\n\
             pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/*\" }}]\nunprotected = true\n\n\
             [[resources]]\nid = {}\napplicationId = {a}\nname = \"images\"\n\
             pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/static/*.png\" }}]\n\n\
             [[resources]]\nid = {}\napplicationId = {a}\nname = \"writes\"\nmethods = [\"POST\", \"PUT\"]\n\
             pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/orders/*\" }}]\n",
            r + 1,
            r + 2,
            r + 3
        );
    }
    out
}

/// Compiles [`config_toml`] into a snapshot. Panics on a broken fixture (bench set-up only).
#[allow(clippy::expect_used)]
pub fn snapshot(apps: usize) -> Snapshot {
    let doc = load_toml(&config_toml(apps)).expect("bench fixture is valid TOML");
    compile(doc, 1, None, None).expect("bench fixture compiles")
}

/// Host name of the virtual host that serves application `app` in [`config_toml`].
pub fn host_of(app: usize) -> String {
    format!("host{}.example", app % 8 + 1)
}

#[cfg(test)]
mod tests {
    use gatehouse_gateway::route::{Route, RouteInput};

    use super::*;

    #[test]
    fn fixture_routes_to_the_expected_application() {
        let snap = snapshot(100);
        let host = host_of(42);
        let route = snap
            .routes
            .select(
                RouteInput {
                    host: &host,
                    port: 443,
                    raw_path: "/svc42/api/orders/7",
                    method: "POST",
                },
                PATHS,
            )
            .unwrap();
        match route {
            Route::App { app, resource, .. } => {
                assert_eq!(app.id, 42);
                assert_eq!(&*resource.name, "writes");
            }
            other => panic!("unexpected route {other:?}"),
        }
    }
}
