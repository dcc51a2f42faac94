//! Compact JWE (RFC 7516) with `alg: "dir"` and `enc: "A128CBC-HS256"` (RFC 7518 §5.2.3),
//! hand-written on the RustCrypto primitives (`aes`, `cbc`, `hmac`, `sha2`, `subtle`).
//!
//! No maintained pure-Rust JOSE crate fits: josekit needs OpenSSL; biscuit 0.8 names
//! `A128CBC-HS256` but only implements AES-GCM content encryption; no-way pins an old `cipher`
//! and pulls in a second generation of the elliptic-curve crates. The construction is small and
//! is tested here against RFC 7518 Appendix B.1 and RFC 7516 Appendix A.3.
//!
//! `A128CBC-HS256` takes a 32-byte key: the first 16 bytes are the HMAC-SHA-256 key, the last 16
//! the AES-128 key. Encryption is AES-128-CBC with PKCS#7 padding under a random 16-byte IV; the
//! tag is the first 16 bytes of `HMAC(MAC_KEY, A || IV || E || AL)`, where `A` is the additional
//! authenticated data (for compact JWE: the ASCII of the base64url protected header) and `AL` its
//! length in bits as a 64-bit big-endian number. Decryption checks the tag first, in constant
//! time, and only then decrypts, so a padding error never leaks on its own.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The only key management algorithm accepted: the key is the CEK.
pub const ALG_DIR: &str = "dir";
/// The only content encryption accepted.
pub const ENC_A128CBC_HS256: &str = "A128CBC-HS256";
/// Length of the `A128CBC-HS256` key (MAC key then encryption key).
pub const KEY_LEN: usize = 32;
/// Length of the IV (one AES block).
pub const IV_LEN: usize = 16;
/// Length of the authentication tag (half the HMAC-SHA-256 output).
pub const TAG_LEN: usize = 16;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// Why a compact JWE could not be read or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JweError {
    /// Not five base64url parts, or a part or the header does not decode.
    #[error("malformed JWE: {0}")]
    Malformed(&'static str),
    /// The header asks for something other than `dir` + `A128CBC-HS256`, or for compression or
    /// critical extensions, which are not supported.
    #[error("unsupported JWE header: {0}")]
    Unsupported(String),
    /// The tag does not match (wrong key or tampered token), or the plaintext padding is bad
    /// after a matching tag; the two are deliberately one error.
    #[error("JWE authentication failed")]
    Authentication,
}

/// Encrypts `plaintext` with `AES_128_CBC_HMAC_SHA_256` (RFC 7518 §5.2.2.1): returns the
/// ciphertext `E` and the tag `T`.
pub fn encrypt_a128cbc_hs256(
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> (Vec<u8>, [u8; TAG_LEN]) {
    let (mac_key, enc_key) = key.split_at(16);
    let ciphertext =
        Aes128CbcEnc::new(enc_key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let tag = tag(mac_key, iv, aad, &ciphertext);
    (ciphertext, tag)
}

/// Checks the tag (constant time) and decrypts (RFC 7518 §5.2.2.2).
pub fn decrypt_a128cbc_hs256(
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag_in: &[u8],
) -> Result<Vec<u8>, JweError> {
    let (mac_key, enc_key) = key.split_at(16);
    let expected = tag(mac_key, iv, aad, ciphertext);
    // Length is public; `ct_eq` on slices of different lengths is false.
    if !bool::from(expected.as_slice().ct_eq(tag_in)) {
        return Err(JweError::Authentication);
    }
    // A whole, non-zero number of blocks: PKCS#7 always adds at least one byte.
    #[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` is newer than rust-version 1.85
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(JweError::Authentication);
    }
    Aes128CbcDec::new(enc_key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| JweError::Authentication)
}

fn tag(mac_key: &[u8], iv: &[u8], aad: &[u8], ciphertext: &[u8]) -> [u8; TAG_LEN] {
    // HMAC takes a key of any length; 16 bytes never fails.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(mac_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    let aad_bits = (aad.len() as u64).wrapping_mul(8);
    mac.update(&aad_bits.to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full[..TAG_LEN]);
    out
}

/// Seals `plaintext` as a compact JWE: protected header
/// `{"alg":"dir","enc":"A128CBC-HS256","kid":<kid>}`, empty encrypted key, random IV.
pub fn seal_dir(kid: &str, key: &[u8; KEY_LEN], plaintext: &[u8]) -> String {
    let header = serde_json::json!({ "alg": ALG_DIR, "enc": ENC_A128CBC_HS256, "kid": kid });
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let iv: [u8; IV_LEN] = rand::random();
    let (ciphertext, tag) = encrypt_a128cbc_hs256(key, &iv, protected.as_bytes(), plaintext);
    format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// A compact JWE split into its five parts, decoded but not checked against any policy.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The base64url protected header as it appears in the token: the AAD.
    pub protected_b64: &'a str,
    /// The protected header, a JSON object.
    pub header: Map<String, Value>,
    /// The JWE Encrypted Key (empty for `dir`).
    pub encrypted_key: Vec<u8>,
    /// The JWE Initialization Vector.
    pub iv: Vec<u8>,
    /// The JWE Ciphertext.
    pub ciphertext: Vec<u8>,
    /// The JWE Authentication Tag.
    pub tag: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// Splits and decodes `token` (five base64url parts without padding; the header a JSON
    /// object). Any header is accepted here; [`Compact::open_dir`] applies the policy.
    pub fn parse(token: &'a str) -> Result<Self, JweError> {
        let mut parts = token.split('.');
        let (Some(protected_b64), Some(ek), Some(iv), Some(ct), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(JweError::Malformed("not five dot-separated parts"));
        };
        let decode = |part: &str, what: &'static str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JweError::Malformed(what))
        };
        let header_bytes = decode(protected_b64, "protected header is not base64url")?;
        let header = serde_json::from_slice::<Map<String, Value>>(&header_bytes)
            .map_err(|_| JweError::Malformed("protected header is not a JSON object"))?;
        Ok(Self {
            protected_b64,
            header,
            encrypted_key: decode(ek, "encrypted key is not base64url")?,
            iv: decode(iv, "IV is not base64url")?,
            ciphertext: decode(ct, "ciphertext is not base64url")?,
            tag: decode(tag, "tag is not base64url")?,
        })
    }

    /// The `kid` header parameter, when it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Checks the header is exactly what [`seal_dir`] writes (`alg: dir`,
    /// `enc: A128CBC-HS256`, no `zip`, no `crit`) and the encrypted key is empty.
    pub fn check_dir_a128cbc_hs256(&self) -> Result<(), JweError> {
        let text = |name: &str| self.header.get(name).and_then(Value::as_str);
        match text("alg") {
            Some(ALG_DIR) => {}
            _ => return Err(unsupported("alg", self.header.get("alg"))),
        }
        match text("enc") {
            Some(ENC_A128CBC_HS256) => {}
            _ => return Err(unsupported("enc", self.header.get("enc"))),
        }
        for unsupported in ["zip", "crit"] {
            if self.header.contains_key(unsupported) {
                return Err(JweError::Unsupported(format!("'{unsupported}' parameter")));
            }
        }
        if !self.encrypted_key.is_empty() {
            return Err(JweError::Malformed("encrypted key must be empty for dir"));
        }
        Ok(())
    }

    /// Checks the header ([`Compact::check_dir_a128cbc_hs256`]) and decrypts with `key`.
    pub fn open_dir(&self, key: &[u8; KEY_LEN]) -> Result<Vec<u8>, JweError> {
        self.check_dir_a128cbc_hs256()?;
        self.decrypt_a128cbc_hs256(key)
    }

    /// Decrypts the content with the CEK `key`, whatever the header says (for callers that
    /// obtained the CEK themselves, e.g. by key unwrapping).
    pub fn decrypt_a128cbc_hs256(&self, key: &[u8; KEY_LEN]) -> Result<Vec<u8>, JweError> {
        let iv: &[u8; IV_LEN] = self
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| JweError::Malformed("IV is not 16 bytes"))?;
        if self.tag.len() != TAG_LEN {
            return Err(JweError::Malformed("tag is not 16 bytes"));
        }
        decrypt_a128cbc_hs256(
            key,
            iv,
            self.protected_b64.as_bytes(),
            &self.ciphertext,
            &self.tag,
        )
    }
}

/// An `Unsupported` error quoting at most 32 characters of the offending header value.
pub(super) fn unsupported(parameter: &str, value: Option<&Value>) -> JweError {
    const MAX_ECHO: usize = 32;
    let text = value.map_or_else(|| "missing".to_string(), Value::to_string);
    let shown = match text.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    };
    JweError::Unsupported(format!("{parameter} {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// RFC 7518 Appendix B.1: test cases for AES_128_CBC_HMAC_SHA_256.
    #[test]
    fn rfc7518_b1_aes_128_cbc_hmac_sha_256() {
        let k: [u8; 32] = hex("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
                               10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f")
        .try_into()
        .unwrap();
        let p = hex("41 20 63 69 70 68 65 72 20 73 79 73 74 65 6d 20
                     6d 75 73 74 20 6e 6f 74 20 62 65 20 72 65 71 75
                     69 72 65 64 20 74 6f 20 62 65 20 73 65 63 72 65
                     74 2c 20 61 6e 64 20 69 74 20 6d 75 73 74 20 62
                     65 20 61 62 6c 65 20 74 6f 20 66 61 6c 6c 20 69
                     6e 74 6f 20 74 68 65 20 68 61 6e 64 73 20 6f 66
                     20 74 68 65 20 65 6e 65 6d 79 20 77 69 74 68 6f
                     75 74 20 69 6e 63 6f 6e 76 65 6e 69 65 6e 63 65");
        assert_eq!(
            p,
            b"A cipher system must not be required to be secret, and it must be able to fall \
              into the hands of the enemy without inconvenience"
        );
        let iv: [u8; 16] = hex("1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04")
            .try_into()
            .unwrap();
        let a = hex("54 68 65 20 73 65 63 6f 6e 64 20 70 72 69 6e 63
                     69 70 6c 65 20 6f 66 20 41 75 67 75 73 74 65 20
                     4b 65 72 63 6b 68 6f 66 66 73");
        assert_eq!(a, b"The second principle of Auguste Kerckhoffs");
        let e = hex("c8 0e df a3 2d df 39 d5 ef 00 c0 b4 68 83 42 79
                     a2 e4 6a 1b 80 49 f7 92 f7 6b fe 54 b9 03 a9 c9
                     a9 4a c9 b4 7a d2 65 5c 5f 10 f9 ae f7 14 27 e2
                     fc 6f 9b 3f 39 9a 22 14 89 f1 63 62 c7 03 23 36
                     09 d4 5a c6 98 64 e3 32 1c f8 29 35 ac 40 96 c8
                     6e 13 33 14 c5 40 19 e8 ca 79 80 df a4 b9 cf 1b
                     38 4c 48 6f 3a 54 c5 10 78 15 8e e5 d7 9d e5 9f
                     bd 34 d8 48 b3 d6 95 50 a6 76 46 34 44 27 ad e5
                     4b 88 51 ff b5 98 f7 f8 00 74 b9 47 3c 82 e2 db");
        let t = hex("65 2c 3f a3 6b 0a 7c 5b 32 19 fa b3 a3 0b c1 c4");
        assert_eq!((e.len(), t.len()), (144, 16));

        let (got_e, got_t) = encrypt_a128cbc_hs256(&k, &iv, &a, &p);
        assert_eq!(got_e, e);
        assert_eq!(got_t.as_slice(), t.as_slice());
        assert_eq!(decrypt_a128cbc_hs256(&k, &iv, &a, &e, &t).unwrap(), p);

        // The full HMAC output M from the RFC: T is its first half.
        let m = hex("65 2c 3f a3 6b 0a 7c 5b 32 19 fa b3 a3 0b c1 c4
                     e6 e5 45 82 47 65 15 f0 ad 9f 75 a2 b7 1c 73 ef");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&k[..16]).unwrap();
        mac.update(&a);
        mac.update(&iv);
        mac.update(&e);
        mac.update(&hex("00 00 00 00 00 00 01 50")); // AL from the RFC
        assert_eq!(mac.finalize().into_bytes().as_slice(), m.as_slice());

        // Any flipped bit in E, T, IV or A fails authentication.
        let mut bad_e = e.clone();
        bad_e[143] ^= 1;
        assert_eq!(
            decrypt_a128cbc_hs256(&k, &iv, &a, &bad_e, &t),
            Err(JweError::Authentication)
        );
        let mut bad_t = t.clone();
        bad_t[0] ^= 0x80;
        assert_eq!(
            decrypt_a128cbc_hs256(&k, &iv, &a, &e, &bad_t),
            Err(JweError::Authentication)
        );
        assert_eq!(
            decrypt_a128cbc_hs256(&k, &iv, &a, &e, &t[..15]),
            Err(JweError::Authentication)
        );
        let mut bad_iv = iv;
        bad_iv[15] ^= 1;
        assert_eq!(
            decrypt_a128cbc_hs256(&k, &bad_iv, &a, &e, &t),
            Err(JweError::Authentication)
        );
        assert_eq!(
            decrypt_a128cbc_hs256(&k, &iv, &a[1..], &e, &t),
            Err(JweError::Authentication)
        );
    }

    /// RFC 7516 Appendix A.3: the compact JWE using AES Key Wrap (A128KW) and A128CBC-HS256.
    /// The CEK is unwrapped with the `aes-kw` crate; the content is opened by this module.
    #[test]
    fn rfc7516_a3_a128kw_a128cbc_hs256() {
        let token = "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.\
                     6KB707dM9YTIgHtLvtgWQ8mKwboJW3of9locizkDTHzBC2IlrT1oOQ.\
                     AxY8DCtDaGlsbGljb3RoZQ.\
                     KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.\
                     U0m_YmjN04DJvceFICbCVQ";
        // A.3.3: the key encryption key, a JWK {"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}.
        let kek: [u8; 16] = URL_SAFE_NO_PAD
            .decode("GawgguFyGrWKav7AX4VKUg")
            .unwrap()
            .try_into()
            .unwrap();
        // A.3.2: the CEK.
        let expected_cek: [u8; 32] = [
            4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206, 107, 124,
            212, 45, 111, 107, 9, 219, 200, 177, 0, 240, 143, 156, 44, 207,
        ];
        // A.3.4: the IV.
        let expected_iv = [
            3, 22, 60, 12, 43, 67, 104, 105, 108, 108, 105, 99, 111, 116, 104, 101,
        ];

        let jwe = Compact::parse(token).unwrap();
        assert_eq!(jwe.header["alg"], "A128KW");
        assert_eq!(jwe.header["enc"], "A128CBC-HS256");
        assert_eq!(jwe.iv, expected_iv);
        let mut cek = [0u8; 32];
        aes_kw::KekAes128::from(kek)
            .unwrap(&jwe.encrypted_key, &mut cek)
            .unwrap();
        assert_eq!(cek, expected_cek);

        let plaintext = jwe.decrypt_a128cbc_hs256(&cek).unwrap();
        assert_eq!(plaintext, b"Live long and prosper.");

        // Not a `dir` token: the session policy refuses it even with the right CEK.
        assert!(matches!(jwe.open_dir(&cek), Err(JweError::Unsupported(_))));
        // A wrong CEK fails the tag.
        let mut wrong = cek;
        wrong[31] ^= 1;
        assert_eq!(
            jwe.decrypt_a128cbc_hs256(&wrong),
            Err(JweError::Authentication)
        );
    }

    #[test]
    fn seal_then_open_round_trips_and_uses_fresh_ivs() {
        let key = [7u8; 32];
        for len in [0usize, 1, 15, 16, 17, 100, 4096] {
            let plaintext = vec![b'x'; len];
            let token = seal_dir("k1", &key, &plaintext);
            let jwe = Compact::parse(&token).unwrap();
            assert_eq!(jwe.kid(), Some("k1"));
            assert!(jwe.encrypted_key.is_empty());
            assert_eq!(jwe.open_dir(&key).unwrap(), plaintext);
        }
        assert_ne!(seal_dir("k", &key, b"same"), seal_dir("k", &key, b"same"));
    }

    #[test]
    fn header_policy() {
        let key = [1u8; 32];
        let token = seal_dir("k", &key, b"{}");
        let rest = token.split_once('.').unwrap().1;
        for header in [
            r#"{"alg":"none","enc":"A128CBC-HS256","kid":"k"}"#,
            r#"{"alg":"A128KW","enc":"A128CBC-HS256","kid":"k"}"#,
            r#"{"alg":"dir","enc":"A256GCM","kid":"k"}"#,
            r#"{"alg":"dir","kid":"k"}"#,
            r#"{"alg":"dir","enc":"A128CBC-HS256","kid":"k","zip":"DEF"}"#,
            r#"{"alg":"dir","enc":"A128CBC-HS256","kid":"k","crit":["exp"]}"#,
            &format!(
                r#"{{"alg":"dir","enc":"{}","kid":"k"}}"#,
                "x".repeat(10_000)
            ),
        ] {
            let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
            let jwe = Compact::parse(&forged).unwrap();
            match jwe.open_dir(&key) {
                Err(JweError::Unsupported(msg)) => assert!(msg.len() < 60, "{msg}"),
                other => panic!("{header}: {other:?}"),
            }
        }
        // A correct header that is not the one authenticated fails the tag.
        let other = URL_SAFE_NO_PAD.encode(r#"{"alg":"dir","enc":"A128CBC-HS256","kid":"x"}"#);
        let forged = format!("{other}.{rest}");
        assert_eq!(
            Compact::parse(&forged).unwrap().open_dir(&key),
            Err(JweError::Authentication)
        );
    }

    #[test]
    fn malformed_compact_serialisations() {
        for token in [
            "",
            "....",
            "a.b.c",
            "a.b.c.d.e.f",
            "!!.a.a.a.a",
            "e30..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAA=",
            "W10..AA.AA.AA", // header `[]`
        ] {
            assert!(
                matches!(Compact::parse(token), Err(JweError::Malformed(_))),
                "{token:?}"
            );
        }
    }
}
