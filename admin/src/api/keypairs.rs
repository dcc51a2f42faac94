//! Key pairs (`/keyPairs`): list and read (subject, issuer, validity, names, SHA-256
//! fingerprint, status), generate, import (PEM or PKCS#12), certificate as PEM, CSR, delete
//! when unused. Private keys are never served. Every change reaches the engine's and the admin
//! listener's TLS at once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use sha2::Digest;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::error::{ApiError, Invalid};
use super::{reply, AdminApi};
use crate::keys::generate::{GenerateError, GenerateKeyPair};
use crate::keys::import::ImportKeyPair;
use crate::store::{KeyPairRow, StoredKeyPair};

/// What the API shows of a key pair.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPairView {
    /// Key pair id.
    pub id: u64,
    /// Alias (unique).
    pub alias: String,
    /// Subject distinguished name.
    pub subject_dn: String,
    /// Issuer distinguished name.
    pub issuer_dn: String,
    /// Not before (Unix milliseconds).
    pub valid_from: i64,
    /// Not after (Unix milliseconds).
    pub expires: i64,
    /// DNS names and IP addresses the certificate is valid for.
    pub subject_alternative_names: Vec<String>,
    /// `EC` or `RSA` (or the algorithm's OID).
    pub key_algorithm: String,
    /// SHA-256 of the DER certificate, hex with colons (what engines pin).
    pub sha256_fingerprint: String,
    /// `Valid`, `Expired` or `NotYetValid`.
    pub status: String,
}

fn first_der(pem: &str) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    Some(parsed.contents)
}

/// SHA-256 of a DER certificate, upper-case hex with colons (what engines pin).
pub fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fingerprint of the first certificate of a PEM chain.
pub fn fingerprint_of(cert_pem: &str) -> Option<String> {
    first_der(cert_pem).map(|der| fingerprint(&der))
}

fn view(row: &KeyPairRow) -> Option<KeyPairView> {
    let der = first_der(&row.pair.cert_pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let validity = cert.validity();
    let from = validity.not_before.timestamp() * 1000;
    let until = validity.not_after.timestamp() * 1000;
    let now = crate::store::now_ms();
    let status = if now < from {
        "NotYetValid"
    } else if now > until {
        "Expired"
    } else {
        "Valid"
    };
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_string()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*ip)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let oid = cert.public_key().algorithm.algorithm.to_id_string();
    let key_algorithm = match oid.as_str() {
        "1.2.840.10045.2.1" => "EC".to_string(),
        "1.2.840.113549.1.1.1" => "RSA".to_string(),
        other => other.to_string(),
    };
    let sha256_fingerprint = fingerprint(&der);
    Some(KeyPairView {
        id: row.id,
        alias: row.alias.clone(),
        subject_dn: cert.subject().to_string(),
        issuer_dn: cert.issuer().to_string(),
        valid_from: from,
        expires: until,
        subject_alternative_names: names,
        key_algorithm,
        sha256_fingerprint,
        status: status.into(),
    })
}

/// The `/keyPairs` routes.
pub fn routes(r: Router<Arc<AdminApi>>) -> Router<Arc<AdminApi>> {
    r.route("/keyPairs", get(list))
        .route("/keyPairs/generate", post(generate))
        .route("/keyPairs/import", post(import))
        .route("/keyPairs/{id}", get(get_one).delete(delete))
        .route("/keyPairs/{id}/certificate", get(certificate))
        .route("/keyPairs/{id}/csr", get(csr))
}

type Api = State<Arc<AdminApi>>;

fn row(api: &AdminApi, id: u64) -> Result<KeyPairRow, ApiError> {
    api.with_store(|s| s.key_pair(id)?.ok_or(ApiError::NotFound))
}

fn pem_response(content_type: &'static str, pem: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], pem).into_response()
}

async fn list(State(api): Api) -> Response {
    let items = api
        .with_store(|s| Ok(s.key_pairs()?))
        .map(|rows| rows.iter().filter_map(view).collect::<Vec<_>>());
    reply(items.map(|items| serde_json::json!({ "items": items })))
}

async fn get_one(State(api): Api, Path(id): Path<u64>) -> Response {
    reply(row(&api, id).and_then(|r| view(&r).ok_or(ApiError::NotFound)))
}

async fn certificate(State(api): Api, Path(id): Path<u64>) -> Response {
    match row(&api, id) {
        Ok(r) => pem_response("application/x-pem-file", r.pair.cert_pem),
        Err(e) => e.into_response(),
    }
}

async fn csr(State(api): Api, Path(id): Path<u64>) -> Response {
    let result = row(&api, id).and_then(|r| {
        crate::keys::generate::csr(&r.pair)
            .map_err(|e| Invalid::flash(format!("cannot make a CSR for this key pair: {e}")).into())
    });
    match result {
        Ok(pem) => pem_response("application/pkcs10", pem),
        Err(e) => e.into_response(),
    }
}

async fn generate(State(api): Api, body: Bytes) -> Response {
    let result = async {
        let req: GenerateKeyPair = parse(&body, "key pair generation")?;
        let problems = req.problems();
        if !problems.is_empty() {
            return Err(generate_invalid(problems).into());
        }
        let pair = tokio::task::spawn_blocking(move || req.generate().map(|p| (req.alias, p)))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let (alias, pair) = pair.map_err(|e| generate_invalid(vec![e]))?;
        add(&api, &alias, pair).await
    }
    .await;
    reply(result)
}

async fn import(State(api): Api, body: Bytes) -> Response {
    let result = async {
        let req: ImportKeyPair = parse(&body, "key pair import")?;
        let mut invalid = Invalid::default();
        if req.alias.trim().is_empty() || req.alias.len() > 128 {
            invalid.push_field("alias", "must be 1 to 128 characters");
        }
        let pair = req.parse();
        if let Err(e) = &pair {
            invalid.push_field("fileData", e.to_string());
        }
        match pair {
            Ok(pair) if invalid.flash.is_empty() => add(&api, &req.alias, pair).await,
            _ => Err(invalid.into()),
        }
    }
    .await;
    reply(result)
}

async fn delete(State(api): Api, Path(id): Path<u64>) -> Response {
    let result = async {
        let _serial = api.writes.lock().await;
        let doc = super::writes::current(&api);
        let users: Vec<String> = doc
            .virtual_hosts
            .iter()
            .filter(|vh| vh.key_pair_id == id)
            .map(|vh| format!("virtual host {} ({}:{})", vh.id, vh.host, vh.port))
            .collect();
        api.with_store(|s| {
            s.key_pair(id)?.ok_or(ApiError::NotFound)?;
            let listeners: Vec<String> = s
                .https_listeners()?
                .into_iter()
                .filter(|(_, k)| *k == id)
                .map(|(name, _)| format!("HTTPS listener {name}"))
                .collect();
            let in_use = [listeners, users].concat();
            if !in_use.is_empty() {
                return Err(Invalid::flash(format!(
                    "key pair {id} is in use by {}",
                    in_use.join(", ")
                ))
                .into());
            }
            s.delete_key_pair(id)?;
            Ok(())
        })?;
        refresh_tls(&api)
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| Invalid::flash(format!("invalid {what}: {e}")).into())
}

fn generate_invalid(problems: Vec<GenerateError>) -> Invalid {
    let mut invalid = Invalid::default();
    for p in problems {
        match p {
            GenerateError::Field { field, message } => invalid.push_field(field, message),
            GenerateError::Crypto(message) => invalid.flash.push(message),
        }
    }
    invalid
}

async fn add(api: &AdminApi, alias: &str, pair: StoredKeyPair) -> Result<KeyPairView, ApiError> {
    let _serial = api.writes.lock().await;
    let id = api.with_store(|s| {
        if s.key_pair_alias_taken(alias)? {
            return Err(Invalid::field("alias", format!("'{alias}' is already used")).into());
        }
        Ok(s.add_key_pair(alias, &pair)?)
    })?;
    refresh_tls(api)?;
    tracing::info!(key_pair = %alias, id, "key pair added");
    get_view(api, id)
}

fn get_view(api: &AdminApi, id: u64) -> Result<KeyPairView, ApiError> {
    view(&row(api, id)?).ok_or_else(|| ApiError::Internal("stored key pair unreadable".into()))
}

/// Gives the engine the stored key pairs and the listeners their assigned certificates.
pub fn refresh_tls(api: &AdminApi) -> Result<(), ApiError> {
    let (ring, engine_key, admin_key) = api.with_store(|s| {
        let (ring, engine_key) =
            crate::keys::engine_ring(s).map_err(|e| ApiError::Internal(e.to_string()))?;
        let admin = s.listener_key_pair("ADMIN")?.map(|r| r.id);
        let admin_key = admin.and_then(|id| ring.get(&id).cloned());
        Ok((ring, engine_key, admin_key))
    })?;
    if let Some(key) = admin_key {
        api.admin_certs.set_default(key);
    }
    match engine_key {
        Some(key) => api.engine.set_key_pairs(ring, key),
        None => tracing::warn!("the ENGINE listener has no usable key pair"),
    }
    Ok(())
}
