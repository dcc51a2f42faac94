//! Seals and opens the value of the web-session cookie `PA.<audience>`: the session claims as a
//! compact JWS (ES256, [`CookieType::Signed`]) or a compact JWE (`dir` + `A128CBC-HS256`,
//! [`CookieType::Encrypted`]), under a key set that keeps previous keys for rotation.
//!
//! What [`open`] guarantees: the token is of the expected kind, uses exactly the expected
//! algorithms (never `none`, never a symmetric JWS, no `zip`, no `crit`), names by `kid` one of
//! the keys in the set, and its signature or tag verifies; the payload is a JSON object.
//!
//! What it does **not** check: the claims. `exp`, `iat`, `nbf`, `aud`, `iss`, `sub` and any
//! session limits are left to the caller (the session layer), which must check them on every
//! request; a correctly sealed but expired session opens here without complaint.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::jwe::{self, Compact, JweError};

/// The longest token [`open`] reads and [`seal`] writes, in bytes: about 16 cookies of 4 KiB.
/// Bounds the work an attacker-supplied cookie can cause.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Why a key could not be loaded or a session token sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The signing key is not a P-256 private key in PKCS#8 PEM.
    #[error("session key '{kid}' cannot be used: {reason}")]
    BadKey {
        /// Key id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("session token is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_TOKEN_LEN`].
        max: usize,
    },
    /// A JWE where a JWS was expected, or the other way round.
    #[error("expected a {expected:?} session token, got the other kind")]
    WrongKind {
        /// What the caller asked for.
        expected: CookieType,
    },
    /// Not a compact serialisation, or a part does not decode.
    #[error("malformed session token: {0}")]
    Malformed(&'static str),
    /// An `alg` or `enc` other than ES256, resp. `dir` + `A128CBC-HS256` (including `none`), or
    /// a header parameter that is not supported (`zip`, `crit`).
    #[error("unsupported session token algorithm or header: {0}")]
    Unsupported(String),
    /// The header has no string `kid`.
    #[error("session token has no key id")]
    MissingKid,
    /// The `kid` is neither the current nor a previous key.
    #[error("session token key id is not a known session key")]
    UnknownKey,
    /// The JWS signature does not verify.
    #[error("session token signature is invalid")]
    BadSignature,
    /// The JWE tag does not verify (or, after it did, the padding is bad).
    #[error("session token cannot be decrypted")]
    Decryption,
    /// The payload is not a JSON object.
    #[error("session token payload is not a JSON object")]
    NotAnObject,
    /// The claims cannot be serialised (not expected for a map of JSON values).
    #[error("cannot serialise session claims: {0}")]
    Serialize(serde_json::Error),
    /// Signing or verifying failed in the JWS library for another reason.
    #[error("session token JWS error: {0}")]
    Jws(jsonwebtoken::errors::Error),
}

impl From<JweError> for CodecError {
    fn from(e: JweError) -> Self {
        match e {
            JweError::Malformed(what) => Self::Malformed(what),
            JweError::Unsupported(what) => Self::Unsupported(what),
            JweError::Authentication => Self::Decryption,
        }
    }
}

/// How the session claims are protected in the cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CookieType {
    /// Compact JWS, ES256: readable by the browser, tamper-evident.
    Signed,
    /// Compact JWE, `dir` + `A128CBC-HS256`: confidential and tamper-evident.
    Encrypted,
}

/// One session key: an ES256 key pair for [`CookieType::Signed`] and a 32-byte
/// `A128CBC-HS256` key for [`CookieType::Encrypted`], under one `kid`.
pub struct SessionKey {
    /// Key id, written to and looked up from the token header.
    pub kid: Arc<str>,
    signing: EncodingKey,
    verifying: DecodingKey,
    encryption: [u8; jwe::KEY_LEN],
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SessionKey {
    /// A key from its id, its P-256 private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`)
    /// and its 32-byte encryption key (first half MAC key, second half AES-128 key).
    pub fn new(
        kid: &str,
        pkcs8_pem: &str,
        encryption: [u8; jwe::KEY_LEN],
    ) -> Result<Self, CodecError> {
        let bad = |reason: String| CodecError::BadKey {
            kid: kid.to_string(),
            reason,
        };
        // rcgen parses the PKCS#8 document (with ring) and tells the curve; jsonwebtoken signs.
        let pair = rcgen::KeyPair::from_pem(pkcs8_pem).map_err(|e| bad(e.to_string()))?;
        if pair.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(bad("not a P-256 (ES256) key".to_string()));
        }
        let (x, y) = match pair.public_key_raw() {
            [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(bad("not an uncompressed P-256 public key".to_string())),
        };
        let verifying =
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                .map_err(|e| bad(e.to_string()))?;
        let signing =
            EncodingKey::from_ec_pem(pkcs8_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            kid: kid.into(),
            signing,
            verifying,
            encryption,
        })
    }
}

/// The key that seals new sessions and the older ones that still open existing sessions.
#[derive(Debug)]
pub struct SessionKeys {
    /// Seals; also opens.
    pub current: SessionKey,
    /// Only open, so sessions survive a key roll until they expire.
    pub previous: Vec<SessionKey>,
}

impl SessionKeys {
    /// The key with this `kid`: the current one first, then the previous ones in order.
    pub fn find(&self, kid: &str) -> Option<&SessionKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| &*k.kid == kid)
    }
}

/// Seals `claims` with the current key. `Signed`: JWS header `{"typ":"JWT","alg":"ES256",
/// "kid":…}`; `Encrypted`: JWE header `{"alg":"dir","enc":"A128CBC-HS256","kid":…}`.
pub fn seal(
    claims: &Map<String, Value>,
    keys: &SessionKeys,
    kind: CookieType,
) -> Result<String, CodecError> {
    let key = &keys.current;
    let token = match kind {
        CookieType::Signed => {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(key.kid.to_string());
            jsonwebtoken::encode(&header, claims, &key.signing).map_err(CodecError::Jws)?
        }
        CookieType::Encrypted => {
            let plaintext = serde_json::to_vec(claims).map_err(CodecError::Serialize)?;
            jwe::seal_dir(&key.kid, &key.encryption, &plaintext)
        }
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(CodecError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    Ok(token)
}

/// Opens a token sealed by [`seal`] with any key of `keys` (chosen by `kid`) and returns its
/// claims, which it does not check (see the module documentation). Never panics.
pub fn open(
    token: &str,
    keys: &SessionKeys,
    kind: CookieType,
) -> Result<Map<String, Value>, CodecError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CodecError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let parts = token.split('.').count();
    match (kind, parts) {
        (CookieType::Signed, 3) => open_jws(token, keys),
        (CookieType::Encrypted, 5) => open_jwe(token, keys),
        (CookieType::Signed, 5) | (CookieType::Encrypted, 3) => {
            Err(CodecError::WrongKind { expected: kind })
        }
        _ => Err(CodecError::Malformed("not a compact JWS or JWE")),
    }
}

fn open_jws(token: &str, keys: &SessionKeys) -> Result<Map<String, Value>, CodecError> {
    // The header is checked here, before jsonwebtoken sees the token, so that the policy
    // (ES256 only, no `crit`, a `kid`) does not depend on the library's defaults.
    let header_b64 = token.split('.').next().unwrap_or_default();
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or(CodecError::Malformed(
            "JWS header is not a base64url JSON object",
        ))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        other => return Err(jwe::unsupported("alg", other).into()),
    }
    if header.contains_key("crit") {
        return Err(CodecError::Unsupported("'crit' parameter".to_string()));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(CodecError::MissingKid)?;
    let key = keys.find(kid).ok_or(CodecError::UnknownKey)?;

    let mut validation = Validation::new(Algorithm::ES256);
    // Claims are the session layer's job (module documentation).
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, &key.verifying, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => CodecError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                CodecError::Unsupported("JWS algorithm".to_string())
            }
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                CodecError::Malformed("JWS part does not decode")
            }
            ErrorKind::Json(_) => CodecError::NotAnObject,
            _ => CodecError::Jws(e),
        })
}

fn open_jwe(token: &str, keys: &SessionKeys) -> Result<Map<String, Value>, CodecError> {
    let jwe = Compact::parse(token)?;
    jwe.check_dir_a128cbc_hs256()?;
    let kid = jwe.kid().ok_or(CodecError::MissingKid)?;
    let key = keys.find(kid).ok_or(CodecError::UnknownKey)?;
    let plaintext = jwe.open_dir(&key.encryption)?;
    serde_json::from_slice::<Map<String, Value>>(&plaintext).map_err(|_| CodecError::NotAnObject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pem() -> String {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem()
    }

    fn key(kid: &str, enc: u8) -> SessionKey {
        SessionKey::new(kid, &pem(), [enc; 32]).unwrap()
    }

    fn keys(current: SessionKey, previous: Vec<SessionKey>) -> SessionKeys {
        SessionKeys { current, previous }
    }

    fn claims() -> Map<String, Value> {
        json!({
            "sub": "joe", "exp": 1, "aud": "other", "iss": "elsewhere",
            "groups": ["a", "b"], "name": "Jöe \"the\" <user>", "n": 1.5,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    const BOTH: [CookieType; 2] = [CookieType::Signed, CookieType::Encrypted];

    #[test]
    fn round_trip_and_no_claim_checks() {
        let set = keys(key("k1", 1), vec![]);
        for kind in BOTH {
            let token = seal(&claims(), &set, kind).unwrap();
            // `exp` in 1970, foreign `aud` and `iss`: not the codec's business.
            assert_eq!(open(&token, &set, kind).unwrap(), claims(), "{kind:?}");
        }
        let empty = Map::new();
        for kind in BOTH {
            let token = seal(&empty, &set, kind).unwrap();
            assert_eq!(open(&token, &set, kind).unwrap(), empty);
        }
    }

    #[test]
    fn headers_and_confidentiality() {
        let set = keys(key("k1", 1), vec![]);
        let signed = seal(&claims(), &set, CookieType::Signed).unwrap();
        let header = jsonwebtoken::decode_header(&signed).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("k1"));

        let encrypted = seal(&claims(), &set, CookieType::Encrypted).unwrap();
        let parts: Vec<&str> = encrypted.split('.').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[1], "");
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "dir", "enc": "A128CBC-HS256", "kid": "k1"})
        );
        let ciphertext = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
        assert!(!String::from_utf8_lossy(&ciphertext).contains("joe"));
    }

    #[test]
    fn rotation_by_kid() {
        let old_pem = pem();
        let before = keys(SessionKey::new("old", &old_pem, [1; 32]).unwrap(), vec![]);
        let tokens: Vec<(CookieType, String)> = BOTH
            .iter()
            .map(|&k| (k, seal(&claims(), &before, k).unwrap()))
            .collect();

        let after = keys(
            key("new", 2),
            vec![
                key("older", 3),
                SessionKey::new("old", &old_pem, [1; 32]).unwrap(),
            ],
        );
        for (kind, token) in &tokens {
            assert_eq!(open(token, &after, *kind).unwrap(), claims());
        }
        let retired = keys(key("new", 2), vec![key("older", 3)]);
        for (kind, token) in &tokens {
            assert!(matches!(
                open(token, &retired, *kind),
                Err(CodecError::UnknownKey)
            ));
        }
        // Same kid, other key material: the signature or the tag fails.
        let impostor = keys(key("old", 9), vec![]);
        assert!(matches!(
            open(&tokens[0].1, &impostor, CookieType::Signed),
            Err(CodecError::BadSignature)
        ));
        assert!(matches!(
            open(&tokens[1].1, &impostor, CookieType::Encrypted),
            Err(CodecError::Decryption)
        ));
        // New sessions use the current key.
        let token = seal(&claims(), &after, CookieType::Signed).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some("new")
        );
    }

    #[test]
    fn rejects_the_other_kind() {
        let set = keys(key("k1", 1), vec![]);
        let signed = seal(&claims(), &set, CookieType::Signed).unwrap();
        let encrypted = seal(&claims(), &set, CookieType::Encrypted).unwrap();
        assert!(matches!(
            open(&signed, &set, CookieType::Encrypted),
            Err(CodecError::WrongKind {
                expected: CookieType::Encrypted
            })
        ));
        assert!(matches!(
            open(&encrypted, &set, CookieType::Signed),
            Err(CodecError::WrongKind {
                expected: CookieType::Signed
            })
        ));
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn rejects_other_jws_algorithms() {
        let set = keys(key("k1", 1), vec![]);
        let signed = seal(&claims(), &set, CookieType::Signed).unwrap();
        let mut parts = signed.split('.');
        let (_, payload, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());

        // alg none, with and without a signature.
        let none = b64(&json!({"alg": "none", "kid": "k1", "typ": "JWT"}));
        for forged in [
            format!("{none}.{payload}."),
            format!("{none}.{payload}.{signature}"),
        ] {
            assert!(
                matches!(
                    open(&forged, &set, CookieType::Signed),
                    Err(CodecError::Unsupported(_))
                ),
                "{forged}"
            );
        }
        // HS256 keyed with the (public) encryption key bytes: algorithm confusion.
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some("k1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(),
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap();
        assert!(matches!(
            open(&hs, &set, CookieType::Signed),
            Err(CodecError::Unsupported(_))
        ));
        // Other header shapes.
        for header in [
            json!({"alg": "ES384", "kid": "k1"}),
            json!({"alg": "es256", "kid": "k1"}),
            json!({"alg": ["ES256"], "kid": "k1"}),
            json!({"kid": "k1"}),
            json!({"alg": "x".repeat(10_000), "kid": "k1"}),
            json!({"alg": "ES256", "kid": "k1", "crit": ["b64"], "b64": false}),
        ] {
            let forged = format!("{}.{payload}.{signature}", b64(&header));
            match open(&forged, &set, CookieType::Signed) {
                Err(CodecError::Unsupported(msg)) => assert!(msg.len() < 100, "{msg}"),
                other => panic!("{header}: {other:?}"),
            }
        }
        // ES256 without a usable kid.
        for header in [json!({"alg": "ES256"}), json!({"alg": "ES256", "kid": 1})] {
            let forged = format!("{}.{payload}.{signature}", b64(&header));
            assert!(matches!(
                open(&forged, &set, CookieType::Signed),
                Err(CodecError::MissingKid)
            ));
        }
        // A valid header that is not the signed one.
        let other = b64(&json!({"alg": "ES256", "kid": "k1"}));
        assert!(matches!(
            open(
                &format!("{other}.{payload}.{signature}"),
                &set,
                CookieType::Signed
            ),
            Err(CodecError::BadSignature)
        ));
    }

    #[test]
    fn rejects_other_jwe_headers() {
        let set = keys(key("k1", 1), vec![]);
        let token = seal(&claims(), &set, CookieType::Encrypted).unwrap();
        let rest = token.split_once('.').unwrap().1;
        for header in [
            json!({"alg": "none", "enc": "A128CBC-HS256", "kid": "k1"}),
            json!({"alg": "A128KW", "enc": "A128CBC-HS256", "kid": "k1"}),
            json!({"alg": "dir", "enc": "A256CBC-HS512", "kid": "k1"}),
            json!({"alg": "dir", "enc": "A128GCM", "kid": "k1"}),
            json!({"alg": "dir", "enc": "A128CBC-HS256", "kid": "k1", "zip": "DEF"}),
            json!({"alg": "x".repeat(10_000), "enc": "A128CBC-HS256", "kid": "k1"}),
        ] {
            let forged = format!("{}.{rest}", b64(&header));
            match open(&forged, &set, CookieType::Encrypted) {
                Err(CodecError::Unsupported(msg)) => assert!(msg.len() < 100, "{msg}"),
                other => panic!("{header}: {other:?}"),
            }
        }
        let no_kid = format!(
            "{}.{rest}",
            b64(&json!({"alg": "dir", "enc": "A128CBC-HS256"}))
        );
        assert!(matches!(
            open(&no_kid, &set, CookieType::Encrypted),
            Err(CodecError::MissingKid)
        ));
        // A non-object payload under a valid tag.
        let array = jwe::seal_dir("k1", &[1; 32], b"[1,2]");
        assert!(matches!(
            open(&array, &set, CookieType::Encrypted),
            Err(CodecError::NotAnObject)
        ));
    }

    #[test]
    fn non_object_jws_payload() {
        let set = keys(key("k1", 1), vec![]);
        let pem = pem();
        let set2 = keys(SessionKey::new("k1", &pem, [1; 32]).unwrap(), vec![]);
        let token = jsonwebtoken::encode(
            &Header {
                kid: Some("k1".into()),
                ..Header::new(Algorithm::ES256)
            },
            &json!([1, 2]),
            &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            open(&token, &set2, CookieType::Signed),
            Err(CodecError::NotAnObject)
        ));
        assert!(open(&token, &set, CookieType::Signed).is_err());
    }

    #[test]
    fn size_limit() {
        let set = keys(key("k1", 1), vec![]);
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        for kind in BOTH {
            assert!(matches!(
                open(&huge, &set, kind),
                Err(CodecError::TooLarge { .. })
            ));
        }
        let mut big = Map::new();
        big.insert("blob".into(), Value::String("x".repeat(MAX_TOKEN_LEN)));
        for kind in BOTH {
            assert!(matches!(
                seal(&big, &set, kind),
                Err(CodecError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn bad_keys_and_debug() {
        for pem in [
            "".to_string(),
            "not a pem".to_string(),
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
                .unwrap()
                .serialize_pem(),
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
                .unwrap()
                .serialize_pem(),
        ] {
            match SessionKey::new("bad", &pem, [0; 32]) {
                Err(CodecError::BadKey { kid, .. }) => assert_eq!(kid, "bad"),
                other => panic!("{other:?}"),
            }
        }
        let pem = pem();
        let key = SessionKey::new("k1", &pem, [0xab; 32]).unwrap();
        let set = keys(key, vec![]);
        let debug = format!("{set:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains("171"), "{debug}"); // 0xab
        assert!(!debug.to_lowercase().contains("ab, "), "{debug}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        assert!(!debug.contains(&pem[28..60]), "{debug}");
    }

    /// Deterministic pseudo-random numbers for the mutation test (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize
        }
    }

    /// Truncated and mutated tokens never open and never panic.
    #[test]
    fn truncated_and_mutated_tokens_are_rejected() {
        let set = keys(key("k1", 1), vec![key("k0", 0)]);
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\0"
                .chars()
                .collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for kind in BOTH {
            let token = seal(&claims(), &set, kind).unwrap();
            let chars: Vec<char> = token.chars().collect();
            let mut candidates: Vec<String> = (0..chars.len())
                .map(|i| chars[..i].iter().collect())
                .collect();
            candidates.extend((1..chars.len()).map(|i| chars[i..].iter().collect()));
            for _ in 0..1500 {
                let mut mutated = chars.clone();
                for _ in 0..1 + rng.next() % 3 {
                    let at = rng.next() % mutated.len();
                    match rng.next() % 4 {
                        0 => mutated[at] = alphabet[rng.next() % alphabet.len()],
                        1 => {
                            mutated.remove(at);
                        }
                        2 => mutated.insert(at, alphabet[rng.next() % alphabet.len()]),
                        _ => {
                            let c = mutated[at];
                            mutated[at] = char::from_u32(c as u32 ^ 1).unwrap_or('A');
                        }
                    }
                    if mutated.is_empty() {
                        break;
                    }
                }
                candidates.push(mutated.into_iter().collect());
            }
            for candidate in candidates {
                if candidate == token {
                    continue;
                }
                for k in BOTH {
                    assert!(
                        open(&candidate, &set, k).is_err(),
                        "{kind:?} mutation opened as {k:?}: {candidate}"
                    );
                }
            }
            assert!(open(&token, &set, kind).is_ok());
        }
    }
}
