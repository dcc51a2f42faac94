//! Clustered engines (`/engines`, SPEC §7): register by name, issue the bootstrap file (a new
//! key each time: the previous one stops working), delete (locked out at once), and the status
//! of every engine (last poll, applied vs current revision, green/yellow/red).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Invalid};
use super::{reply, AdminApi};
use crate::cluster::bootstrap::{new_key, Bootstrap};
use crate::store::{EngineRow, Store};

/// What engines need to know about the console (set in `CLUSTERED_CONSOLE` mode).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Config-query port engines connect to.
    pub port: u16,
    /// Host engines reach the console by (empty: the host the API call was made to).
    pub host: String,
    /// `aud` of poll tokens.
    pub audience: String,
    /// `engine.polling.delay`.
    pub polling_delay: Duration,
    /// Signs registration tokens.
    pub registration_key: crate::cluster::registration::RegistrationKey,
    /// `clusterconfig.temp.rotation.port`: the previous config-query certificate during a
    /// rotation.
    pub rotation_port: u16,
    /// `cert.rotation.transition.window.ttl.seconds`.
    pub rotation_window: Duration,
    /// Wakes the console when the `CONFIG QUERY` key pair changed.
    pub config_query_changed: Arc<tokio::sync::Notify>,
}

/// An engine as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineView {
    /// Engine id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Last poll (Unix milliseconds; 0: never).
    pub last_updated: i64,
    /// Revision the engine serves.
    pub applied_revision: u64,
    /// The console's current revision.
    pub current_revision: u64,
    /// `green` (polled within two polling intervals), `yellow` (within ten), `red`.
    pub status: String,
    /// A bootstrap file was issued.
    pub bootstrapped: bool,
    /// Why the engine refused the latest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// `GET /engines/certificateRotation`: the config-query certificate rotation window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationView {
    /// A window is open.
    pub open: bool,
    /// Key pair served before (on the rotation port while open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_key_pair_id: Option<u64>,
    /// Key pair the config-query listener serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_key_pair_id: Option<u64>,
    /// Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Unix milliseconds: the window closes then at the latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    /// Names of the engines that do not trust the new certificate yet.
    pub pending_engines: Vec<String>,
}

/// `POST /engines`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEngine {
    /// Unique name.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
}

/// The `/engines` routes.
pub fn routes(r: Router<Arc<AdminApi>>) -> Router<Arc<AdminApi>> {
    r.route("/engines", get(list).post(create))
        .route("/engines/status", get(list))
        .route("/engines/{id}", get(get_one).delete(delete))
        .route("/engines/{id}/config", post(bootstrap))
        .route("/engines/registration/token", post(registration_token))
        .route("/engines/certificateRotation", get(rotation))
}

type Api = State<Arc<AdminApi>>;

fn view(api: &AdminApi, row: EngineRow) -> EngineView {
    let delay = api
        .cluster
        .as_ref()
        .map_or(2_000, |c| {
            i64::try_from(c.polling_delay.as_millis()).unwrap_or(2_000)
        })
        .max(1);
    let age = crate::store::now_ms().saturating_sub(row.last_poll_at);
    let status = match row.last_poll_at {
        0 => "red",
        _ if age <= 2 * delay => "green",
        _ if age <= 10 * delay => "yellow",
        _ => "red",
    };
    EngineView {
        id: row.id,
        name: row.name,
        last_updated: row.last_poll_at,
        applied_revision: row.applied_revision,
        current_revision: api.engine.snapshots.load().map_or(0, |s| s.revision),
        status: status.into(),
        bootstrapped: row.public_jwk.is_some(),
        refused: row.refused,
    }
}

async fn list(State(api): Api) -> Response {
    let rows = api.with_store(|s| Ok(s.engines()?));
    reply(rows.map(|rows| {
        let items: Vec<EngineView> = rows.into_iter().map(|r| view(&api, r)).collect();
        serde_json::json!({ "items": items })
    }))
}

async fn rotation(State(api): Api) -> Response {
    reply(api.with_store(|s| {
        let Some(open) = s.rotation()? else {
            return Ok(RotationView {
                open: false,
                old_key_pair_id: None,
                new_key_pair_id: None,
                started_at: None,
                ends_at: None,
                pending_engines: Vec::new(),
            });
        };
        let pending = match s.key_pair(open.new_key_pair_id)? {
            Some(row) => match crate::api::keypairs::fingerprint_of(&row.pair.cert_pem) {
                Some(fp) => s.engines_not_trusting(&fp)?,
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok(RotationView {
            open: true,
            old_key_pair_id: Some(open.old_key_pair_id),
            new_key_pair_id: Some(open.new_key_pair_id),
            started_at: Some(open.started_at),
            ends_at: Some(open.ends_at),
            pending_engines: pending.into_iter().map(|(_, name)| name).collect(),
        })
    }))
}

async fn get_one(State(api): Api, Path(id): Path<u64>) -> Response {
    let row = api.with_store(|s| s.engine(id)?.ok_or(ApiError::NotFound));
    reply(row.map(|r| view(&api, r)))
}

async fn create(State(api): Api, body: Bytes) -> Response {
    let result = (|| {
        let new: NewEngine = serde_json::from_slice(&body)
            .map_err(|e| Invalid::flash(format!("invalid engine: {e}")))?;
        let name = new.name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(Invalid::field("name", "must be 1 to 128 characters").into());
        }
        api.with_store(|s| {
            if s.engine_name_taken(name)? {
                return Err(Invalid::field("name", format!("'{name}' is already used")).into());
            }
            let id = s.add_engine(name)?;
            s.engine(id)?.ok_or(ApiError::NotFound)
        })
    })();
    reply(result.map(|r| view(&api, r)))
}

async fn delete(State(api): Api, Path(id): Path<u64>) -> Response {
    match api.with_store(|s| Ok(s.delete_engine(id)?)) {
        Ok(true) => {
            tracing::info!(engine = id, "engine deleted: its key no longer works");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => ApiError::NotFound.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /engines/{id}/config`: a new `bootstrap.properties` (the previous key stops working).
async fn bootstrap(State(api): Api, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    let result = (|| {
        let cluster = api.cluster.clone().ok_or_else(|| {
            Invalid::flash("engines are served by a CLUSTERED_CONSOLE node (pa.operational.mode)")
        })?;
        let host = console_host(&cluster, &headers);
        api.with_store(|s| {
            s.engine(id)?.ok_or(ApiError::NotFound)?;
            issue_bootstrap(s, id, host, &cluster)
        })
    })();
    match result {
        Ok(b) => {
            tracing::info!(
                engine = id,
                "engine bootstrap issued (any previous key revoked)"
            );
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                b.to_properties(),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A registration token and when it expires.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationToken {
    /// Give it to an engine as `engine.registration.token`.
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: u64,
}

/// `POST /engines/registration/token`.
async fn registration_token(State(api): Api, headers: HeaderMap) -> Response {
    let result = (|| {
        let cluster = api.cluster.clone().ok_or_else(|| {
            Invalid::flash("engines are served by a CLUSTERED_CONSOLE node (pa.operational.mode)")
        })?;
        let host = console_host(&cluster, &headers);
        let fingerprint = api.with_store(config_query_fingerprint)?;
        let (token, exp) = crate::cluster::registration::issue(
            &cluster.registration_key,
            &host,
            cluster.port,
            &fingerprint,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok::<_, ApiError>(RegistrationToken {
            token,
            expires_at: exp * 1000,
        })
    })();
    let mut resp = reply(result);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// The fingerprint of the config-query certificate engines pin.
pub fn config_query_fingerprint(s: &Store) -> Result<String, ApiError> {
    s.listener_key_pair("CONFIG QUERY")?
        .and_then(|r| super::keypairs::fingerprint_of(&r.pair.cert_pem))
        .ok_or_else(|| ApiError::Internal("no CONFIG QUERY key pair".into()))
}

fn console_host(cluster: &ClusterSettings, headers: &HeaderMap) -> String {
    if cluster.host.is_empty() {
        request_host(headers).unwrap_or_else(|| "localhost".into())
    } else {
        cluster.host.clone()
    }
}

/// A new key for engine `id` (the previous one stops working) and its bootstrap.
pub fn issue_bootstrap(
    s: &Store,
    id: u64,
    host: String,
    cluster: &ClusterSettings,
) -> Result<Bootstrap, ApiError> {
    let fingerprint = config_query_fingerprint(s)?;
    let (key, public) = new_key();
    s.set_engine_key(id, &public)?;
    Ok(Bootstrap {
        engine_id: id,
        key,
        admin_host: host,
        admin_port: cluster.port,
        fingerprints: vec![fingerprint],
        audience: cluster.audience.clone(),
        rotation_port: Some(cluster.rotation_port),
    })
}

fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let uri: axum::http::uri::Authority = host.parse().ok()?;
    Some(
        uri.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
}
