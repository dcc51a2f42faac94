//! HTTPS listeners (`/httpsListeners`): which key pair the `ADMIN`, `ENGINE` and
//! `CONFIG QUERY` listeners serve. A change reaches new TLS handshakes at once; no socket is
//! rebound and open connections keep their certificate.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Invalid};
use super::keypairs::refresh_tls;
use super::{reply, AdminApi};
use crate::keys::LISTENER_KEYS;

/// An HTTPS listener.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpsListener {
    /// 1 `ADMIN`, 2 `ENGINE`, 3 `CONFIG QUERY`.
    pub id: u64,
    /// Listener name.
    pub name: String,
    /// Key pair it serves.
    pub key_pair_id: u64,
    /// Kept for PingAccess compatibility; the server's cipher order always applies.
    pub use_server_cipher_suite_order: bool,
}

/// `PUT /httpsListeners/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpsListenerUpdate {
    /// Ignored if present (the listener is named by its id).
    #[serde(default)]
    pub id: Option<u64>,
    /// Ignored if present.
    #[serde(default)]
    pub name: Option<String>,
    /// Key pair to serve.
    #[schema(minimum = 1)]
    pub key_pair_id: u64,
    /// Accepted and ignored.
    #[serde(default)]
    pub use_server_cipher_suite_order: Option<bool>,
}

/// A new `CONFIG QUERY` key pair on a console opens a rotation window (docs/cluster.md): the
/// listener serves the new certificate at once, the old one stays on the rotation port until
/// every engine trusts the new one or the window ends. One window at a time.
fn rotate_config_query(
    store: &crate::store::Store,
    cluster: &super::engines::ClusterSettings,
    key_pair_id: u64,
) -> Result<(), ApiError> {
    let current = store.listener_key_pair("CONFIG QUERY")?.map(|r| r.id);
    if current == Some(key_pair_id) {
        return Ok(());
    }
    let now = crate::store::now_ms();
    if let Some(open) = store.rotation()? {
        if open.ends_at > now {
            return Err(Invalid::field(
                "keyPairId",
                format!(
                    "a config-query certificate rotation (key pair {} to {}) is in progress; \
                     assign another key pair once every engine confirmed or the window ends",
                    open.old_key_pair_id, open.new_key_pair_id
                ),
            )
            .into());
        }
        store.end_rotation()?;
    }
    let Some(old) = current else {
        return Ok(store.assign_listener("CONFIG QUERY", key_pair_id)?);
    };
    let window = i64::try_from(cluster.rotation_window.as_millis()).unwrap_or(i64::MAX);
    store.start_rotation(&crate::store::Rotation {
        old_key_pair_id: old,
        new_key_pair_id: key_pair_id,
        started_at: now,
        ends_at: now.saturating_add(window),
    })?;
    tracing::info!(
        old_key_pair = old,
        new_key_pair = key_pair_id,
        window_secs = cluster.rotation_window.as_secs(),
        "config-query certificate rotation started"
    );
    Ok(())
}

/// The `/httpsListeners` routes.
pub fn routes(r: Router<Arc<AdminApi>>) -> Router<Arc<AdminApi>> {
    r.route("/httpsListeners", get(list))
        .route("/httpsListeners/{id}", get(get_one).put(update))
}

type Api = State<Arc<AdminApi>>;

fn name_of(id: u64) -> Option<&'static str> {
    usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| LISTENER_KEYS.get(i).copied())
}

fn all(api: &AdminApi) -> Result<Vec<HttpsListener>, ApiError> {
    let assigned = api.with_store(|s| Ok(s.https_listeners()?))?;
    Ok((1u64..)
        .zip(LISTENER_KEYS)
        .map(|(id, name)| HttpsListener {
            id,
            name: (*name).to_string(),
            key_pair_id: assigned
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, k)| *k),
            use_server_cipher_suite_order: false,
        })
        .collect())
}

fn one(api: &AdminApi, id: u64) -> Result<HttpsListener, ApiError> {
    all(api)?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or(ApiError::NotFound)
}

async fn list(State(api): Api) -> Response {
    reply(all(&api).map(|items| serde_json::json!({ "items": items })))
}

async fn get_one(State(api): Api, Path(id): Path<u64>) -> Response {
    reply(one(&api, id))
}

async fn update(State(api): Api, Path(id): Path<u64>, body: Bytes) -> Response {
    let result = async {
        let name = name_of(id).ok_or(ApiError::NotFound)?;
        let change: HttpsListenerUpdate = serde_json::from_slice(&body)
            .map_err(|e| Invalid::flash(format!("invalid HTTPS listener: {e}")))?;
        let _serial = api.writes.lock().await;
        api.with_store(|store| {
            let Some(row) = store.key_pair(change.key_pair_id)? else {
                return Err(Invalid::field(
                    "keyPairId",
                    format!("key pair {} does not exist", change.key_pair_id),
                )
                .into());
            };
            gatehouse_gateway::tls::certified_key(&row.pair.cert_pem, &row.pair.key_pem)
                .map_err(|e| Invalid::field("keyPairId", format!("unusable key pair: {e}")))?;
            match (&api.cluster, name) {
                (Some(cluster), "CONFIG QUERY") => {
                    rotate_config_query(store, cluster, change.key_pair_id)
                }
                _ => Ok(store.assign_listener(name, change.key_pair_id)?),
            }
        })?;
        if let Some(cluster) = &api.cluster {
            cluster.config_query_changed.notify_one();
        }
        refresh_tls(&api)?;
        tracing::info!(
            listener = name,
            key_pair = change.key_pair_id,
            "listener key pair changed"
        );
        one(&api, id)
    }
    .await;
    reply(result)
}
