//! The one write path of the admin API: changes are serialised, applied to a copy of the current
//! document, compiled with the engine's own compile step, stored as a new revision, then swapped
//! into the engine. A change that does not compile is refused with every problem and nothing is
//! stored or applied.

use gatehouse_model::ConfigDocument;
use serde_json::Value;

use super::error::{ApiError, Invalid};
use super::{AdminApi, Caller};

/// A change that was stored and applied.
#[derive(Debug)]
pub struct Applied<T> {
    /// What the change returns (the created or replaced object, …).
    pub value: T,
    /// The revision it created.
    pub revision: u64,
}

/// The current document (the one the engine serves) as JSON.
pub fn current_json(api: &AdminApi) -> Result<Value, ApiError> {
    let doc = current(api);
    serde_json::to_value(doc.as_ref()).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The current document.
pub fn current(api: &AdminApi) -> std::sync::Arc<ConfigDocument> {
    api.engine
        .snapshots
        .load()
        .map(|s| s.doc.clone())
        .unwrap_or_default()
}

/// Applies `mutate` to the current document (as JSON) and, if the result compiles, stores and
/// applies it. `object` names the submitted object (`sites[2]`) so its problems are listed per
/// field; `mutate` returns it along with the value to answer.
pub async fn change<T, F>(
    api: &AdminApi,
    caller: &Caller,
    summary: String,
    mutate: F,
) -> Result<Applied<T>, ApiError>
where
    F: FnOnce(&mut Value) -> Result<(T, Option<String>), ApiError>,
{
    let _serial = api.writes.lock().await;
    let mut json = current_json(api)?;
    let (value, object) = mutate(&mut json)?;
    let doc: ConfigDocument = serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let problems = gatehouse_model::Problems(vec![gatehouse_model::Problem::new(
            path,
            e.into_inner().to_string(),
        )]);
        Invalid::from_problems(&problems, object.as_deref())
    })?;
    let revision = store_and_apply(api, doc, &caller.subject, summary, object.as_deref()).await?;
    if api.declarative {
        tracing::warn!(
            revision,
            "configuration changed through the admin API while pa.startup.config is set: \
             the startup document replaces it at the next start"
        );
    }
    Ok(Applied { value, revision })
}

/// Compiles, stores and applies a whole document.
pub async fn store_and_apply(
    api: &AdminApi,
    doc: ConfigDocument,
    author: &str,
    summary: String,
    object: Option<&str>,
) -> Result<u64, ApiError> {
    // Compiled once: what is stored is exactly what is installed.
    let compiled = api.engine.compile(doc.clone());
    let mut problems = match &compiled {
        Ok(_) => gatehouse_model::Problems::default(),
        Err(p) => p.clone(),
    };
    key_pair_references(api, &doc, &mut problems)?;
    if !problems.0.is_empty() {
        return Err(Invalid::from_problems(&problems, object).into());
    }
    let compiled = compiled.map_err(|p| Invalid::from_problems(&p, object))?;
    let store = api.store.clone();
    let author = author.to_string();
    let revision = tokio::task::spawn_blocking(move || {
        let s = store
            .lock()
            .map_err(|_| ApiError::Internal("store lock".into()))?;
        Ok::<_, ApiError>(s.save_config(&doc, &author, &summary)?)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    api.engine.install(compiled, revision);
    tracing::info!(revision, "configuration changed through the admin API");
    Ok(revision)
}

/// Key pairs live in the store, not in the document: a virtual host's `keyPairId` must name
/// one of them.
fn key_pair_references(
    api: &AdminApi,
    doc: &ConfigDocument,
    problems: &mut gatehouse_model::Problems,
) -> Result<(), ApiError> {
    if doc.virtual_hosts.iter().all(|vh| vh.key_pair_id == 0) {
        return Ok(());
    }
    let ids: Vec<u64> = api
        .store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?
        .key_pairs()?
        .iter()
        .map(|r| r.id)
        .collect();
    for (i, vh) in doc.virtual_hosts.iter().enumerate() {
        if vh.key_pair_id != 0 && !ids.contains(&vh.key_pair_id) {
            problems.push(
                format!("virtualHosts[{i}].keyPairId"),
                format!("key pair {} does not exist", vh.key_pair_id),
            );
        }
    }
    Ok(())
}
