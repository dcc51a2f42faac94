//! Test fixtures of the web-session modules: two compiled web sessions (`one`: 10-minute idle,
//! 60-minute session; `two`), a fresh ES256 session key, and an attribute cache.

use std::sync::Arc;

use super::codec::{SessionKey, SessionKeys};
use super::compiled::WebSessions;
use super::session::AttributeCache;
use crate::oauth::discovery::Discovery;

const TOML: &str = r#"
[oidcProvider]
issuer = "https://idp.example"
[[webSessions]]
id = 1
name = "one"
audience = "one"
idleTimeoutInMinutes = 10
sessionTimeoutInMinutes = 60
clientCredentials = { clientId = "c", clientSecret = "s" }
[[webSessions]]
id = 2
name = "two"
audience = "two"
clientCredentials = { clientId = "c", clientSecret = "s" }
"#;

/// Web sessions `one` and `two`, keys, and an attribute cache.
pub(crate) fn fixture() -> (WebSessions, SessionKeys, AttributeCache) {
    let doc = gatehouse_model::toml_load::load_toml(TOML).unwrap();
    let provider = Arc::new(Discovery::new(
        "https://idp.example".into(),
        reqwest::Client::new(),
    ));
    let sessions = WebSessions::compile(&doc, Some(&provider), &Arc::default());
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let keys = SessionKeys {
        current: SessionKey::new("k1", &pem, [7; 32]).unwrap(),
        previous: Vec::new(),
    };
    (sessions, keys, AttributeCache::new(100))
}
