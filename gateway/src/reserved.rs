//! Endpoints under the reserved path (SPEC §3): the heartbeat and `/authtoken/JWKS`; the OIDC
//! endpoints join them with web sessions.

use std::sync::OnceLock;

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use crate::engine::Engine;
use crate::host_info::{self, human_bytes, CpuMeter};
use crate::pipeline::respond::{full, PipelineError};
use crate::snapshot::Snapshot;
use crate::upstream::GatewayBody;

/// Serves `endpoint` (the path below the reserved root).
pub fn serve(
    engine: &Engine,
    snapshot: Option<&Snapshot>,
    endpoint: &str,
) -> Result<Response<GatewayBody>, PipelineError> {
    match endpoint {
        "/heartbeat.ping" => heartbeat(engine, snapshot),
        "/authtoken/JWKS" => Ok(jwks(&engine.auth_tokens)),
        "/oidc/JWKS" => Ok(jwks(&engine.oidc_client_keys)),
        _ => Err(PipelineError::NoEndpoint),
    }
}

/// `/pa/heartbeat.ping`: `OK`, or the detailed JSON; `503` before any configuration.
pub fn heartbeat(
    engine: &Engine,
    snapshot: Option<&Snapshot>,
) -> Result<Response<GatewayBody>, PipelineError> {
    let Some(snap) = snapshot else {
        return Err(PipelineError::NotConfigured);
    };
    let (ctype, body) = if engine.settings.detailed_heartbeat {
        ("application/json", detailed(engine, snap))
    } else {
        ("text/plain; charset=utf-8", "OK".to_string())
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `/pa/authtoken/JWKS` (the keys that sign JWT identity mappings) and `/pa/oidc/JWKS` (the
/// keys that sign client assertions): current and previous public key.
fn jwks(keys: &arc_swap::ArcSwapOption<crate::authtoken::AuthTokenKeys>) -> Response<GatewayBody> {
    let body = keys
        .load()
        .as_ref()
        .map_or_else(|| serde_json::json!({"keys": []}), |k| k.jwks());
    let mut resp = Response::new(full(body.to_string()));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    resp
}

fn cpu_meter() -> &'static CpuMeter {
    static METER: OnceLock<CpuMeter> = OnceLock::new();
    METER.get_or_init(CpuMeter::default)
}

fn detailed(engine: &Engine, snap: &Snapshot) -> String {
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), Value::String(v));
    };
    if let Some(stats) = &engine.stats {
        let (time, conc) = stats.summarize();
        put(
            "response.statistics.window.seconds",
            stats.seconds().to_string(),
        );
        put("response.statistics.count", time.count.to_string());
        put(
            "response.time.statistics.90.percentile",
            time.p90.to_string(),
        );
        put("response.time.statistics.mean", format!("{:.0}", time.mean));
        put("response.time.statistics.max", time.max.to_string());
        put("response.time.statistics.min", time.min.to_string());
        put(
            "response.concurrency.statistics.90.percentile",
            conc.p90.to_string(),
        );
        put(
            "response.concurrency.statistics.mean",
            format!("{:.0}", conc.mean),
        );
        put("response.concurrency.statistics.max", conc.max.to_string());
        put("response.concurrency.statistics.min", conc.min.to_string());
    }
    put("cpu.load", format!("{:.2}", cpu_meter().sample()));
    if let Some((virt, rss)) = host_info::process_memory() {
        put("total.jvm.memory", human_bytes(virt));
        put("free.jvm.memory", human_bytes(virt.saturating_sub(rss)));
        put("used.jvm.memory", human_bytes(rss));
    }
    if let Some((total, free)) = host_info::host_memory() {
        put("total.physical.system.memory", human_bytes(total));
        put("total.free.physical.system.memory", human_bytes(free));
        put(
            "total.used.physical.system.memory",
            human_bytes(total.saturating_sub(free)),
        );
    }
    put("number.of.cpus", host_info::cpus().to_string());
    put("hostname", host_info::hostname());
    put(
        "open.client.connections",
        engine.open_connections().to_string(),
    );
    put(
        "number.of.applications",
        snap.doc.applications.len().to_string(),
    );
    put(
        "number.of.virtual.hosts",
        snap.doc.virtual_hosts.len().to_string(),
    );
    put(
        "last.refresh.time",
        humantime::format_rfc3339_millis(snap.loaded_at).to_string(),
    );
    serde_json::json!({ "items": [Value::Object(m)] }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineSettings;
    use crate::pipeline::respond::error_response;
    use crate::props::{PathSettings, RequestLimits};

    fn engine(detailed: bool) -> std::sync::Arc<Engine> {
        Engine::new(
            EngineSettings {
                limits: RequestLimits {
                    request_line: 8192,
                    header_count: 100,
                    header_bytes: 8192,
                    body_read: 204_800,
                },
                paths: PathSettings {
                    canonicalize: true,
                    decode_count: 3,
                },
                detailed_heartbeat: detailed,
                websocket_max: None,
                token_cache_entries: 10,
                session_cookie_threshold: 4093,
                minted_cache_entries: 10,
            },
            0,
        )
    }

    #[test]
    fn heartbeat_is_503_until_a_configuration_is_loaded() {
        let engine = engine(false);
        let err = heartbeat(&engine, engine.snapshots.load().as_deref()).unwrap_err();
        let resp = error_response(&err, "id", false, &Default::default());
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        engine
            .apply(gatehouse_model::ConfigDocument::embedded_default(), 1)
            .unwrap();
        let ok = heartbeat(&engine, engine.snapshots.load().as_deref()).unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[test]
    fn unknown_reserved_endpoint_is_404() {
        let engine = engine(true);
        let err = serve(&engine, None, "/nope").unwrap_err();
        assert!(matches!(err, PipelineError::NoEndpoint));
    }
}
