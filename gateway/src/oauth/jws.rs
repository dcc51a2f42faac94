//! The signature step of JWS validation (RFC 7515 §5.2) with keys parsed once: a key set's
//! public keys become aws-lc-rs keys bound to one algorithm each when the set is fetched, so a
//! verification is the signature check alone. jsonwebtoken still parses the header and checks
//! the claims; ring, under jsonwebtoken, rebuilds an RSA key on every verification, which cost
//! about a quarter of an RS256 check.

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::Algorithm;

/// A public key that verifies signatures of exactly one algorithm.
pub struct SignatureKey {
    alg: Algorithm,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SignatureKey {
    /// The key of `jwk` for `alg`, or `None` when the key's type, curve or contents do not fit
    /// `alg` (an RSA key never verifies ES256, a P-256 key never ES384, no key ever HMAC).
    pub fn from_jwk(jwk: &Jwk, alg: Algorithm) -> Option<Self> {
        let key = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::RSA(rsa), _) => {
                let params = rsa_parameters(alg)?;
                let n = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
                let e = URL_SAFE_NO_PAD.decode(&rsa.e).ok()?;
                // aws-lc-rs checks the size only when verifying; a too-small key is no key.
                if modulus_bits(&n) < params.min_modulus_len() {
                    return None;
                }
                RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(params)
                    .ok()?
            }
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256 | Algorithm::ES384) => {
                let (curve, verification, size): (
                    _,
                    &'static signature::EcdsaVerificationAlgorithm,
                    _,
                ) = if alg == Algorithm::ES256 {
                    (EllipticCurve::P256, &signature::ECDSA_P256_SHA256_FIXED, 32)
                } else {
                    (EllipticCurve::P384, &signature::ECDSA_P384_SHA384_FIXED, 48)
                };
                if ec.curve != curve {
                    return None;
                }
                let x = URL_SAFE_NO_PAD.decode(&ec.x).ok()?;
                let y = URL_SAFE_NO_PAD.decode(&ec.y).ok()?;
                if x.len() != size || y.len() != size {
                    return None;
                }
                // SEC 1 uncompressed point: 0x04 || x || y.
                let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
                ParsedPublicKey::new(verification, point).ok()?
            }
            (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA)
                if okp.curve == EllipticCurve::Ed25519 =>
            {
                let x = URL_SAFE_NO_PAD.decode(&okp.x).ok()?;
                ParsedPublicKey::new(&signature::ED25519, x).ok()?
            }
            _ => return None,
        };
        Some(Self { alg, key })
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// True when `signature` is this key's signature of `signing_input`.
    pub fn verifies(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(signing_input, signature).is_ok()
    }
}

/// Bits of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> u32 {
    let Some(first) = n.iter().position(|&b| b != 0) else {
        return 0;
    };
    let bytes = u32::try_from(n.len() - first).unwrap_or(u32::MAX);
    bytes.saturating_mul(8) - n[first].leading_zeros()
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    use Algorithm as A;
    Some(match alg {
        A::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        A::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        A::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        // Salt length = digest length, as RFC 7518 §3.5 requires.
        A::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        A::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        A::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The parts of a compact JWS that its signature covers.
#[derive(Debug)]
pub struct Signed<'t> {
    /// `BASE64URL(header) '.' BASE64URL(payload)`, as received.
    pub input: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits a compact JWS into its signing input and decoded signature; `None` unless it has
/// exactly three segments and the last is unpadded base64url.
pub fn split(token: &str) -> Option<Signed<'_>> {
    let (input, signature) = token.rsplit_once('.')?;
    if input.bytes().filter(|&b| b == b'.').count() != 1 {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    Some(Signed { input, signature })
}

#[cfg(test)]
mod tests {
    //! Published vectors: RFC 7515 A.2 (RS256) and A.3 (ES256), RFC 8037 A.4 (Ed25519).
    use super::*;
    use serde_json::json;

    const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC7515_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const RFC7515_A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const RFC7515_A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const RFC8037_A4_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_A4_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    fn rsa_jwk() -> Jwk {
        jwk(json!({"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"}))
    }

    fn p256_jwk() -> Jwk {
        jwk(json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_Y}))
    }

    fn ed25519_jwk() -> Jwk {
        jwk(json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_A4_X}))
    }

    fn token(header: &str, signature: &str) -> String {
        format!("{header}.{RFC7515_PAYLOAD}.{signature}")
    }

    fn check(jwk: &Jwk, alg: Algorithm, token: &str) -> bool {
        let key = SignatureKey::from_jwk(jwk, alg).unwrap();
        let signed = split(token).unwrap();
        key.verifies(signed.input.as_bytes(), &signed.signature)
    }

    #[test]
    fn rfc7515_a2_rs256_verifies_and_a_changed_payload_does_not() {
        let good = token("eyJhbGciOiJSUzI1NiJ9", RFC7515_A2_SIG);
        assert!(check(&rsa_jwk(), Algorithm::RS256, &good));
        let tampered = good.replacen("eyJpc3MiOiJqb2Ui", "eyJpc3MiOiJqb2Ei", 1);
        assert!(!check(&rsa_jwk(), Algorithm::RS256, &tampered));
        // The same key under another hash or padding does not accept the signature.
        assert!(!check(&rsa_jwk(), Algorithm::RS384, &good));
        assert!(!check(&rsa_jwk(), Algorithm::PS256, &good));
    }

    #[test]
    fn rfc7515_a3_es256_verifies_and_a_changed_signature_does_not() {
        let good = token("eyJhbGciOiJFUzI1NiJ9", RFC7515_A3_SIG);
        assert!(check(&p256_jwk(), Algorithm::ES256, &good));
        let mut sig = URL_SAFE_NO_PAD.decode(RFC7515_A3_SIG).unwrap();
        sig[10] ^= 1;
        let bad = token("eyJhbGciOiJFUzI1NiJ9", &URL_SAFE_NO_PAD.encode(sig));
        assert!(!check(&p256_jwk(), Algorithm::ES256, &bad));
    }

    #[test]
    fn rfc8037_a4_eddsa_verifies() {
        assert!(check(&ed25519_jwk(), Algorithm::EdDSA, RFC8037_A4_JWS));
        let tampered = RFC8037_A4_JWS.replacen("RXhh", "RXhi", 1);
        assert!(!check(&ed25519_jwk(), Algorithm::EdDSA, &tampered));
    }

    #[test]
    fn a_key_is_bound_to_the_algorithms_of_its_type() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ] {
            assert!(
                SignatureKey::from_jwk(&rsa_jwk(), alg).is_none(),
                "RSA key for {alg:?}"
            );
        }
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES384,
            Algorithm::HS256,
        ] {
            assert!(
                SignatureKey::from_jwk(&p256_jwk(), alg).is_none(),
                "P-256 key for {alg:?}"
            );
        }
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::HS256] {
            assert!(
                SignatureKey::from_jwk(&ed25519_jwk(), alg).is_none(),
                "Ed25519 key for {alg:?}"
            );
        }
        let secret = jwk(json!({"kty": "oct", "k": "c2VjcmV0"}));
        assert!(SignatureKey::from_jwk(&secret, Algorithm::HS256).is_none());
    }

    #[test]
    fn malformed_keys_are_refused() {
        let short = jwk(json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": RFC7515_A3_Y}));
        assert!(SignatureKey::from_jwk(&short, Algorithm::ES256).is_none());
        // Not a point on the curve.
        let off = jwk(json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_X}));
        assert!(SignatureKey::from_jwk(&off, Algorithm::ES256).is_none());
        // A 768-bit modulus is below the 2048-bit floor.
        assert_eq!(
            modulus_bits(&URL_SAFE_NO_PAD.decode(RFC7515_A2_N).unwrap()),
            2048
        );
        assert_eq!(modulus_bits(&[0, 0, 1, 0]), 9);
        let small = jwk(json!({"kty": "RSA", "n": &RFC7515_A2_N[..128], "e": "AQAB"}));
        assert!(SignatureKey::from_jwk(&small, Algorithm::RS256).is_none());
    }

    #[test]
    fn split_wants_three_segments_and_base64url() {
        let three = split("a.b.YWJj").unwrap();
        assert_eq!((three.input, &three.signature[..]), ("a.b", &b"abc"[..]));
        assert!(split("a.YWJj").is_none());
        assert!(split("a.b.c.YWJj").is_none());
        assert!(split("YWJj").is_none());
        assert!(split("a.b.YWI=").is_none());
        assert!(split("a.b.YW+j").is_none());
    }
}
