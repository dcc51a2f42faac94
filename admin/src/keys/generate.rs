//! Generating key pairs (self-signed certificate, EC P-256/P-384 or RSA) and certificate
//! signing requests for stored ones.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use serde::Deserialize;

use crate::store::StoredKeyPair;

/// Key algorithm of a generated key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum KeyAlgorithm {
    /// Elliptic curve: P-256 (`keySize` 256) or P-384 (384).
    #[serde(rename = "EC")]
    Ec,
    /// RSA: 2048, 3072 or 4096 bits.
    #[serde(rename = "RSA")]
    Rsa,
}

/// `POST /keyPairs/generate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateKeyPair {
    /// Unique alias.
    #[schema(min_length = 1, max_length = 128)]
    pub alias: String,
    /// Subject common name.
    #[schema(min_length = 1, max_length = 64)]
    pub common_name: String,
    /// DNS names and IP addresses (the common name is not added implicitly).
    #[serde(default)]
    pub subject_alternative_names: Vec<String>,
    /// Subject organisation.
    #[serde(default)]
    pub organization: Option<String>,
    /// Subject organisational unit.
    #[serde(default)]
    pub organization_unit: Option<String>,
    /// Subject country (two letters).
    #[serde(default)]
    pub country: Option<String>,
    /// `EC` or `RSA`.
    pub key_algorithm: KeyAlgorithm,
    /// Key size: 256 or 384 for EC (default 256), 2048, 3072 or 4096 for RSA (default 2048).
    #[serde(default)]
    pub key_size: Option<u32>,
    /// Validity in days from now.
    #[schema(minimum = 1, maximum = 3650)]
    pub valid_days: u32,
}

/// Why a key pair could not be generated: each problem with the field it concerns.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A field is invalid.
    #[error("{field}: {message}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// Key or certificate generation failed.
    #[error("cannot generate the key pair: {0}")]
    Crypto(String),
}

fn field(field: &'static str, message: impl Into<String>) -> GenerateError {
    GenerateError::Field {
        field,
        message: message.into(),
    }
}

impl GenerateKeyPair {
    /// Every problem of the request (empty when it can be generated).
    pub fn problems(&self) -> Vec<GenerateError> {
        let mut out = Vec::new();
        if self.alias.trim().is_empty() || self.alias.len() > 128 {
            out.push(field("alias", "must be 1 to 128 characters"));
        }
        if self.common_name.trim().is_empty() || self.common_name.len() > 64 {
            out.push(field("commonName", "must be 1 to 64 characters"));
        }
        if !(1..=3650).contains(&self.valid_days) {
            out.push(field("validDays", "must be between 1 and 3650"));
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                out.push(field("country", "must be a two-letter country code"));
            }
        }
        for name in &self.subject_alternative_names {
            if name.parse::<std::net::IpAddr>().is_err() && !is_dns_name(name) {
                out.push(field(
                    "subjectAlternativeNames",
                    format!("'{name}' is neither a DNS name nor an IP address"),
                ));
            }
        }
        if let Err(e) = self.algorithm() {
            out.push(e);
        }
        out
    }

    fn algorithm(&self) -> Result<Algorithm, GenerateError> {
        match (self.key_algorithm, self.key_size) {
            (KeyAlgorithm::Ec, None | Some(256)) => Ok(Algorithm::P256),
            (KeyAlgorithm::Ec, Some(384)) => Ok(Algorithm::P384),
            (KeyAlgorithm::Rsa, None | Some(2048)) => Ok(Algorithm::Rsa(2048)),
            (KeyAlgorithm::Rsa, Some(3072)) => Ok(Algorithm::Rsa(3072)),
            (KeyAlgorithm::Rsa, Some(4096)) => Ok(Algorithm::Rsa(4096)),
            (KeyAlgorithm::Ec, Some(_)) => Err(field("keySize", "EC key size is 256 or 384")),
            (KeyAlgorithm::Rsa, Some(_)) => {
                Err(field("keySize", "RSA key size is 2048, 3072 or 4096"))
            }
        }
    }

    /// Generates the key and a self-signed certificate (CPU-heavy for RSA: call it off the
    /// async runtime).
    pub fn generate(&self) -> Result<StoredKeyPair, GenerateError> {
        let key = new_key(self.algorithm()?)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, self.common_name.clone());
        if let Some(o) = &self.organization {
            dn.push(DnType::OrganizationName, o.clone());
        }
        if let Some(ou) = &self.organization_unit {
            dn.push(DnType::OrganizationalUnitName, ou.clone());
        }
        if let Some(c) = &self.country {
            dn.push(DnType::CountryName, c.to_ascii_uppercase());
        }
        params.distinguished_name = dn;
        for name in &self.subject_alternative_names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|_| field("subjectAlternativeNames", name.clone()))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        let now = std::time::SystemTime::now();
        params.not_before = now.into();
        params.not_after =
            (now + std::time::Duration::from_secs(u64::from(self.valid_days) * 86_400)).into();
        let cert = params
            .self_signed(&key)
            .map_err(|e| GenerateError::Crypto(e.to_string()))?;
        Ok(StoredKeyPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Algorithm {
    P256,
    P384,
    Rsa(usize),
}

fn new_key(alg: Algorithm) -> Result<KeyPair, GenerateError> {
    let crypto = |e: rcgen::Error| GenerateError::Crypto(e.to_string());
    match alg {
        Algorithm::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto),
        Algorithm::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(crypto),
        Algorithm::Rsa(bits) => {
            use rsa::pkcs8::EncodePrivateKey;
            let private = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, bits)
                .map_err(|e| GenerateError::Crypto(e.to_string()))?;
            let der = private
                .to_pkcs8_der()
                .map_err(|e| GenerateError::Crypto(e.to_string()))?;
            let der = rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256).map_err(crypto)
        }
    }
}

fn is_dns_name(name: &str) -> bool {
    let body = name.strip_prefix("*.").unwrap_or(name);
    !body.is_empty()
        && name.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A PKCS#10 certificate signing request (PEM) for a stored key pair, with the subject and
/// names of its current certificate.
pub fn csr(pair: &StoredKeyPair) -> Result<String, GenerateError> {
    let crypto = |e: rcgen::Error| GenerateError::Crypto(e.to_string());
    let key = KeyPair::from_pem(&pair.key_pem).map_err(crypto)?;
    let leaf = first_certificate_pem(&pair.cert_pem)
        .ok_or_else(|| GenerateError::Crypto("no certificate".into()))?;
    let current = CertificateParams::from_ca_cert_pem(&leaf).map_err(crypto)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = current.distinguished_name;
    params.subject_alt_names = current.subject_alt_names;
    let request = params.serialize_request(&key).map_err(crypto)?;
    request.pem().map_err(crypto)
}

fn first_certificate_pem(chain: &str) -> Option<String> {
    pem::parse_many(chain)
        .ok()?
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .map(|p| super::import::to_pem(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(alg: KeyAlgorithm, size: Option<u32>) -> GenerateKeyPair {
        GenerateKeyPair {
            alias: "site".into(),
            common_name: "app.example.com".into(),
            subject_alternative_names: vec!["app.example.com".into(), "10.0.0.1".into()],
            organization: Some("Example".into()),
            organization_unit: None,
            country: Some("de".into()),
            key_algorithm: alg,
            key_size: size,
            valid_days: 30,
        }
    }

    #[test]
    fn generated_pairs_load_into_rustls_and_give_a_csr() {
        for (alg, size) in [
            (KeyAlgorithm::Ec, None),
            (KeyAlgorithm::Ec, Some(384)),
            (KeyAlgorithm::Rsa, None),
        ] {
            let req = request(alg, size);
            assert!(req.problems().is_empty());
            let pair = req.generate().unwrap();
            gatehouse_gateway::tls::certified_key(&pair.cert_pem, &pair.key_pem).unwrap();
            let csr = csr(&pair).unwrap();
            assert!(
                csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
                "{csr}"
            );
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let mut req = request(KeyAlgorithm::Rsa, Some(1024));
        req.alias = " ".into();
        req.valid_days = 0;
        req.country = Some("DEU".into());
        req.subject_alternative_names = vec!["bad name".into(), "-x.example".into()];
        let fields: Vec<String> = req
            .problems()
            .iter()
            .map(|p| match p {
                GenerateError::Field { field, .. } => (*field).to_string(),
                GenerateError::Crypto(m) => m.clone(),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "alias",
                "validDays",
                "country",
                "subjectAlternativeNames",
                "subjectAlternativeNames",
                "keySize"
            ]
        );
    }
}
