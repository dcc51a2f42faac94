//! Key pairs (`/keyPairs`), read-only in this build: the listeners' certificates with subject,
//! issuer, validity, names and SHA-256 fingerprint, and the certificate as PEM. Private keys are
//! never served.

use serde::Serialize;
use sha2::Digest;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::error::ApiError;
use super::AdminApi;
use crate::store::KeyPairRow;

/// What the API shows of a key pair.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPairView {
    /// Key pair id.
    pub id: u64,
    /// Alias (the listener it serves: `ADMIN`, `ENGINE`, `CONFIG QUERY`).
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

fn view(row: &KeyPairRow) -> Option<KeyPairView> {
    let der = first_der(&row.cert_pem)?;
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
    let digest = sha2::Sha256::digest(&der);
    let sha256_fingerprint = digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Some(KeyPairView {
        id: row.id,
        alias: row.name.clone(),
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

fn rows(api: &AdminApi) -> Result<Vec<KeyPairRow>, ApiError> {
    let s = api
        .store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?;
    Ok(s.key_pair_certificates()?)
}

/// Every key pair.
pub fn list(api: &AdminApi) -> Result<Vec<KeyPairView>, ApiError> {
    Ok(rows(api)?.iter().filter_map(view).collect())
}

/// One key pair.
pub fn get(api: &AdminApi, id: u64) -> Result<KeyPairView, ApiError> {
    rows(api)?
        .iter()
        .find(|r| r.id == id)
        .and_then(view)
        .ok_or(ApiError::NotFound)
}

/// A key pair's certificate chain as PEM.
pub fn certificate(api: &AdminApi, id: u64) -> Result<String, ApiError> {
    rows(api)?
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| r.cert_pem)
        .ok_or(ApiError::NotFound)
}
