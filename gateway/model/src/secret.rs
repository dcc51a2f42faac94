//! Write-only secrets (`clientSecret`, …), SPEC §4.1: written as a plain string (TOML) or
//! `{"value":"…"}`, read back as `{"encryptedValue":"…"}`.
//!
//! The node installs its secret key once at start ([`install_key`]). With a key, a secret is
//! serialised encrypted (AES-256-GCM, nonce derived from the value by HMAC-SHA-256, so the same
//! secret always gives the same text and export → import → export is identical) and
//! `{"encryptedValue"}` written by this node reads back. Without a key (the `gatehouse config`
//! tool), secrets are written as `{"value"}` and encrypted values cannot be read.

use std::sync::OnceLock;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Installs the node's secret key (the first call wins).
pub fn install_key(key: [u8; 32]) {
    let _ = KEY.set(key);
}

/// A secret value; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// A secret from its value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value (to use it, never to log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn encrypt(key: &[u8; 32], plain: &str) -> Option<String> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(plain.as_bytes());
    let tag = mac.finalize().into_bytes();
    let nonce = Nonce::from_slice(&tag[..12]);
    let sealed = Aes256Gcm::new(key.into())
        .encrypt(nonce, plain.as_bytes())
        .ok()?;
    let mut out = tag[..12].to_vec();
    out.extend(sealed);
    Some(b64().encode(out))
}

fn decrypt(key: &[u8; 32], text: &str) -> Option<String> {
    let raw = b64().decode(text).ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (nonce, sealed) = raw.split_at(12);
    let plain = Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .ok()?;
    String::from_utf8(plain).ok()
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Wire {
    Plain(String),
    Value {
        value: String,
    },
    Encrypted {
        #[serde(rename = "encryptedValue")]
        encrypted_value: String,
    },
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match KEY.get().and_then(|k| encrypt(k, &self.0)) {
            Some(encrypted_value) => Wire::Encrypted { encrypted_value },
            None => Wire::Value {
                value: self.0.clone(),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Wire::deserialize(d)? {
            Wire::Plain(v) | Wire::Value { value: v } => Ok(Self(v)),
            Wire::Encrypted { encrypted_value } => KEY
                .get()
                .and_then(|k| decrypt(k, &encrypted_value))
                .map(Self)
                .ok_or_else(|| {
                    serde::de::Error::custom(
                        "encryptedValue was not written by this node; send {\"value\": \"...\"}",
                    )
                }),
        }
    }
}

impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property("value", ObjectBuilder::new().schema_type(Type::String))
                    .required("value"),
            )
            .item(
                ObjectBuilder::new()
                    .property(
                        "encryptedValue",
                        ObjectBuilder::new().schema_type(Type::String),
                    )
                    .required("encryptedValue"),
            )
            .description(Some(
                "Write-only: send {\"value\"}; reads show {\"encryptedValue\"}",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_is_deterministic_authenticated_and_reversible() {
        let key = [7u8; 32];
        let a = encrypt(&key, "s3cret").unwrap();
        assert_eq!(a, encrypt(&key, "s3cret").unwrap(), "same value, same text");
        assert_ne!(a, encrypt(&key, "s3cret2").unwrap());
        assert_eq!(decrypt(&key, &a).as_deref(), Some("s3cret"));
        assert_eq!(decrypt(&[8u8; 32], &a), None, "another node's key");
        let mut tampered = b64().decode(&a).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(decrypt(&key, &b64().encode(tampered)), None);
        assert_eq!(format!("{:?}", Secret::new("s3cret")), "Secret(***)");
    }
}
