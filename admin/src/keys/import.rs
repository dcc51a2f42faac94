//! Importing a key pair: PEM text (certificate chain and private key) or a PKCS#12 file
//! (base64), checked to be usable by the TLS stack and the key to match the certificate.

use base64::Engine as _;
use serde::Deserialize;

use crate::store::StoredKeyPair;

/// `POST /keyPairs/import`.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportKeyPair {
    /// Unique alias.
    #[schema(min_length = 1, max_length = 128)]
    pub alias: String,
    /// PEM text holding the certificate chain (leaf first) and the private key, or a PKCS#12
    /// file in base64.
    pub file_data: String,
    /// Password of a PKCS#12 file (write-only; never stored or shown).
    #[serde(default)]
    #[schema(write_only)]
    pub password: Option<String>,
}

impl std::fmt::Debug for ImportKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportKeyPair")
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

/// Why a key pair could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Neither PEM nor base64.
    #[error("fileData is neither PEM text nor a base64 PKCS#12 file")]
    Encoding,
    /// The PEM holds no certificate or no private key.
    #[error("fileData: {0}")]
    Pem(String),
    /// The PKCS#12 file could not be opened.
    #[error("fileData: cannot open the PKCS#12 file (wrong password or unsupported format): {0}")]
    Pkcs12(String),
    /// The PKCS#12 file holds no private key with a certificate.
    #[error("fileData: the PKCS#12 file holds no private key with its certificate")]
    Pkcs12Empty,
    /// The TLS stack cannot use the key or certificate, or they do not match.
    #[error("fileData: {0}")]
    Unusable(String),
}

impl ImportKeyPair {
    /// The key pair as PEM, checked to be servable.
    pub fn parse(&self) -> Result<StoredKeyPair, ImportError> {
        let pair = if self.file_data.contains("-----BEGIN") {
            from_pem(&self.file_data)?
        } else {
            let compact: String = self
                .file_data
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| ImportError::Encoding)?;
            from_pkcs12(&der, self.password.as_deref().unwrap_or(""))?
        };
        check_usable(&pair)?;
        Ok(pair)
    }
}

fn from_pem(text: &str) -> Result<StoredKeyPair, ImportError> {
    let blocks = pem::parse_many(text).map_err(|e| ImportError::Pem(e.to_string()))?;
    let certs: Vec<String> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(to_pem)
        .collect();
    let key = blocks
        .iter()
        .find(|b| {
            matches!(
                b.tag(),
                "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY"
            )
        })
        .map(to_pem);
    if blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY") {
        return Err(ImportError::Pem(
            "encrypted PEM private keys are not supported; import a PKCS#12 file instead".into(),
        ));
    }
    match (certs.is_empty(), key) {
        (true, _) => Err(ImportError::Pem("no certificate".into())),
        (_, None) => Err(ImportError::Pem("no private key".into())),
        (false, Some(key_pem)) => Ok(StoredKeyPair {
            cert_pem: certs.concat(),
            key_pem,
        }),
    }
}

/// PEM with `\n` line endings (as the rest of the store).
pub(crate) fn to_pem(block: &pem::Pem) -> String {
    pem::encode_config(
        block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn from_pkcs12(der: &[u8], password: &str) -> Result<StoredKeyPair, ImportError> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        der,
        password,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| ImportError::Pkcs12(e.to_string()))?;
    let (_, chain) = store.private_key_chain().ok_or(ImportError::Pkcs12Empty)?;
    if chain.certs().is_empty() {
        return Err(ImportError::Pkcs12Empty);
    }
    let cert_pem = chain
        .certs()
        .iter()
        .map(|c| to_pem(&pem::Pem::new("CERTIFICATE", c.as_der().to_vec())))
        .collect::<String>();
    Ok(StoredKeyPair {
        cert_pem,
        key_pem: to_pem(&pem::Pem::new("PRIVATE KEY", chain.key().as_der().to_vec())),
    })
}

fn check_usable(pair: &StoredKeyPair) -> Result<(), ImportError> {
    let key = gatehouse_gateway::tls::certified_key(&pair.cert_pem, &pair.key_pem)
        .map_err(|e| ImportError::Unusable(e.to_string()))?;
    key.keys_match().map_err(|_| {
        ImportError::Unusable("the private key does not belong to the certificate".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate::{GenerateKeyPair, KeyAlgorithm};

    fn generated() -> StoredKeyPair {
        GenerateKeyPair {
            alias: "a".into(),
            common_name: "x.example".into(),
            subject_alternative_names: vec!["x.example".into()],
            organization: None,
            organization_unit: None,
            country: None,
            key_algorithm: KeyAlgorithm::Ec,
            key_size: None,
            valid_days: 1,
        }
        .generate()
        .unwrap()
    }

    fn import(file_data: String, password: Option<&str>) -> Result<StoredKeyPair, ImportError> {
        ImportKeyPair {
            alias: "imported".into(),
            file_data,
            password: password.map(String::from),
        }
        .parse()
    }

    #[test]
    fn pem_with_key_and_chain() {
        let pair = generated();
        let got = import(format!("{}\n{}", pair.key_pem, pair.cert_pem), None).unwrap();
        assert_eq!(got.cert_pem.trim(), pair.cert_pem.trim());
    }

    #[test]
    fn pem_key_of_another_certificate_is_refused() {
        let (a, b) = (generated(), generated());
        let err = import(format!("{}{}", a.cert_pem, b.key_pem), None).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn pkcs12_round_trip_and_wrong_password() {
        let pair = generated();
        let cert_der = pem::parse(&pair.cert_pem).unwrap().into_contents();
        let key_der = pem::parse(&pair.key_pem).unwrap().into_contents();
        let cert = p12_keystore::Certificate::from_der(&cert_der).unwrap();
        let key = p12_keystore::PrivateKey::from_der(&key_der).unwrap();
        let chain = p12_keystore::PrivateKeyChain::new("k", key, vec![cert]);
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("k", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        let p12 = store.writer("s3cret").write().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(p12);
        let got = import(b64.clone(), Some("s3cret")).unwrap();
        assert_eq!(got.cert_pem.trim(), pair.cert_pem.trim());
        assert!(matches!(
            import(b64, Some("wrong")),
            Err(ImportError::Pkcs12(_))
        ));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for input in ["", "%%%", "-----BEGIN CERTIFICATE-----\nAAAA\n", "AAAA"] {
            assert!(import(input.into(), None).is_err(), "{input}");
        }
    }
}
