//! The whole configuration: `/config/export`, `/config/import` (all-or-nothing, validated
//! first) and the stored revisions (`/config/revisions`, inspect and restore).

use gatehouse_model::ConfigDocument;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Invalid};
use super::writes::{current, store_and_apply};
use super::{AdminApi, Caller};
use crate::store::RevisionInfo;

/// An exported configuration.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Gatehouse version that wrote it.
    pub version: String,
    /// The document.
    pub data: ConfigDocument,
}

/// A stored revision with its document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevisionView {
    /// Who, when, what.
    #[serde(flatten)]
    pub info: RevisionInfo,
    /// The document of that revision.
    pub data: ConfigDocument,
}

/// The current configuration.
pub fn export(api: &AdminApi) -> Export {
    Export {
        version: env!("CARGO_PKG_VERSION").to_string(),
        data: current(api).as_ref().clone(),
    }
}

/// Replaces the whole configuration; returns the new revision.
pub async fn import(
    api: &AdminApi,
    caller: &Caller,
    body: serde_json::Value,
) -> Result<u64, ApiError> {
    let export: Export = serde_json::from_value(body)
        .map_err(|e| Invalid::flash(format!("not an export document: {e}")))?;
    let _serial = api.writes.lock().await;
    store_and_apply(
        api,
        export.data,
        &caller.subject,
        "POST /config/import".into(),
        None,
    )
    .await
}

/// The newest revisions (at most 100).
pub fn revisions(api: &AdminApi) -> Result<Vec<RevisionInfo>, ApiError> {
    let s = api
        .store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?;
    Ok(s.revisions(100)?)
}

/// One revision with its document.
pub fn revision(api: &AdminApi, rev: u64) -> Result<RevisionView, ApiError> {
    let s = api
        .store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?;
    let data = s.config_at(rev)?.ok_or(ApiError::NotFound)?;
    let info = s.revision_info(rev)?.ok_or(ApiError::NotFound)?;
    Ok(RevisionView { info, data })
}

/// Makes an old revision's document current again (as a new revision).
pub async fn restore(api: &AdminApi, caller: &Caller, rev: u64) -> Result<u64, ApiError> {
    let doc = revision(api, rev)?.data;
    let _serial = api.writes.lock().await;
    store_and_apply(
        api,
        doc,
        &caller.subject,
        format!("restore of revision {rev}"),
        None,
    )
    .await
}
