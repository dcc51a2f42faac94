//! Mints the tokens of `benches/load/tokens.sh` into a directory: `<alg>.tokens` (N valid tokens
//! per algorithm, one a line, each for its own subject), `<alg>.bad` (tokens every proxy must
//! refuse, `<what> <token>` a line), `<alg>.pub.pem` (public keys for HAProxy's `jwt_verify`)
//! and `jwks.json` (the key set Gatehouse fetches).
//!
//! Usage: `mint-tokens <dir> [count]` (count defaults to 1000).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_benches::tokens::{claims, jwks, BenchKey, AUDIENCE, ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Lifetime of the minted tokens: longer than any load run.
const TTL: i64 = 24 * 3600;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("usage: mint-tokens <dir> [count]")?);
    let count: usize = match args.next() {
        Some(n) => n.parse().context("count must be a number")?,
        None => 1000,
    };
    std::fs::create_dir_all(&dir)?;
    let rs = BenchKey::rs256("rsa-1")?;
    let es = BenchKey::es256("es-1")?;
    write(&dir, "jwks.json", &format!("{:#}\n", jwks(&[&rs, &es])))?;
    for (name, key) in [("rs256", &rs), ("es256", &es)] {
        write(&dir, &format!("{name}.pub.pem"), &key.public_pem)?;
        let mut tokens = String::new();
        for i in 0..count {
            let _ = writeln!(
                tokens,
                "{}",
                key.sign(&claims(&format!("user-{i:05}"), TTL))?
            );
        }
        write(&dir, &format!("{name}.tokens"), &tokens)?;
        write(&dir, &format!("{name}.bad"), &refused(key)?)?;
    }
    eprintln!(
        "minted {count} RS256 and {count} ES256 tokens into {}",
        dir.display()
    );
    Ok(())
}

/// Tokens signed like `key`'s but invalid, each on a line after a one-word label.
fn refused(key: &BenchKey) -> anyhow::Result<String> {
    let good = claims("mallory", TTL);
    let valid = key.sign(&good)?;
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        key.sign(&c)
    };
    // A new P-256 key under this key's `kid`: a forged signature (ES256), or an algorithm the
    // published key does not allow (RS256).
    let stranger = BenchKey::es256(&key.kid)?;
    let header = json!({"alg": "none", "typ": "JWT"});
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(key.kid.clone());
    let confused = jsonwebtoken::encode(
        &hs256,
        &good,
        &EncodingKey::from_secret(key.public_pem.as_bytes()),
    )?;
    let lines = [
        ("bad-signature", tampered(&valid)),
        ("expired", with("exp", json!(claims("x", -600)["exp"]))?),
        (
            "wrong-audience",
            with("aud", json!(format!("{AUDIENCE}.other")))?,
        ),
        (
            "wrong-issuer",
            with("iss", json!(format!("{ISSUER}.evil")))?,
        ),
        ("foreign-key-same-kid", stranger.sign(&good)?),
        ("alg-none", unsigned),
        ("hs256-with-public-key", confused),
    ];
    Ok(lines.iter().fold(String::new(), |mut out, (what, token)| {
        let _ = writeln!(out, "{what} {token}");
        out
    }))
}

/// The token with the first character of its signature changed.
fn tampered(token: &str) -> String {
    match token.rsplit_once('.') {
        Some((signed, sig)) => {
            let mut chars = sig.chars();
            let first = chars.next().unwrap_or('A');
            let swapped = if first == 'A' { 'B' } else { 'A' };
            format!("{signed}.{swapped}{}", chars.as_str())
        }
        None => token.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
