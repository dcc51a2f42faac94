//! Identity towards the backend (SPEC §5.4): `Header` and `JWT` identity mappings, the header
//! names they own (stripped from every client request in every spelling), and the minted-JWT
//! cache (a JWT is signed once per identity, mapping and key, not per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse_model::identity::{HeaderMapping, JwtMapping, TypedMapping};
use gatehouse_model::ConfigDocument;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use moka::sync::Cache;
use moka::Expiry;
use serde_json::{Map, Value};

use crate::authtoken::AuthTokenKeys;
use crate::oauth::cache::TokenKey;
use crate::oauth::Identity;
use crate::pipeline::headers::canonical;

/// Header names identity mappings produce, canonical (lower case, `_`/`.` as `-`).
#[derive(Debug, Default, Clone)]
pub struct IdentityHeaders {
    /// Exact names.
    pub names: Vec<String>,
    /// Prefixes (exclusion-list mappings).
    pub prefixes: Vec<String>,
}

impl IdentityHeaders {
    /// Every header any mapping of the document can produce: client copies of these are
    /// removed on every route, whatever mapping the route uses.
    pub fn of(doc: &ConfigDocument) -> Self {
        let mut out = Self::default();
        for m in doc.identity_mappings.iter().filter_map(|m| m.typed().ok()) {
            match m {
                TypedMapping::Header(h) => {
                    out.names.extend(
                        h.attribute_header_mappings
                            .iter()
                            .map(|r| canonical(&r.header_name)),
                    );
                    out.names
                        .extend(h.exclusion_list_subject.iter().map(|n| canonical(n)));
                    if h.exclusion_list {
                        out.prefixes.push(canonical(&h.header_name_prefix));
                    }
                }
                TypedMapping::Jwt(j) if !j.map_as_bearer_token => {
                    out.names.push(canonical(&j.header_name));
                }
                TypedMapping::Jwt(_) | TypedMapping::WebSessionAccessToken => {}
            }
        }
        out.names.sort();
        out.names.dedup();
        out
    }

    /// True when `canonical_name` is one of these headers.
    pub fn owns(&self, canonical_name: &str) -> bool {
        self.names.iter().any(|n| n == canonical_name)
            || self.prefixes.iter().any(|p| canonical_name.starts_with(p))
    }
}

/// A compiled mapping.
#[derive(Debug)]
pub struct CompiledMapping {
    /// Unique per compiled mapping: part of the minted-JWT cache key, so a mapping changed by a
    /// reload (claims, audience, issuer) never reuses JWTs minted under the old settings.
    instance: u64,
    /// What it does.
    pub mapping: TypedMapping,
    /// `iss` of minted JWTs.
    pub issuer: String,
}

static INSTANCES: AtomicU64 = AtomicU64::new(1);

impl CompiledMapping {
    /// A compiled mapping with a fresh instance number.
    pub fn new(mapping: TypedMapping, issuer: String) -> Self {
        Self {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            mapping,
            issuer,
        }
    }
}

/// Compiles the mapping `id` of `doc`, if it exists and is valid.
pub fn compile(doc: &ConfigDocument, id: u64) -> Option<Arc<CompiledMapping>> {
    let m = doc.identity_mappings.iter().find(|m| m.id == id)?;
    Some(Arc::new(CompiledMapping::new(
        m.typed().ok()?,
        doc.auth_token_management.issuer.clone(),
    )))
}

/// Why a mapping could not be applied (the request is refused: no identity, no request).
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// No auth-token key yet.
    #[error("no auth token signing key is loaded")]
    NoKey,
    /// The web session holds no usable access token.
    #[error("the web session holds no access token")]
    NoAccessToken,
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] crate::authtoken::AuthTokenError),
}

/// Minted JWTs by (mapping instance, identity key, signing key id).
type MintKey = (u64, TokenKey, Arc<str>);

struct HalfLife;

impl Expiry<MintKey, (Arc<str>, Duration)> for HalfLife {
    fn expire_after_create(
        &self,
        _key: &MintKey,
        value: &(Arc<str>, Duration),
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

/// The minted-JWT cache shared by every snapshot.
#[derive(Clone)]
pub struct MintCache(Cache<MintKey, (Arc<str>, Duration)>);

impl std::fmt::Debug for MintCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MintCache")
            .field(&self.0.entry_count())
            .finish()
    }
}

impl MintCache {
    /// A cache of at most `capacity` JWTs.
    pub fn new(capacity: u64) -> Self {
        Self(
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(HalfLife)
                .build(),
        )
    }
}

/// Applies a mapping to the upstream headers.
pub fn apply(
    mapping: &CompiledMapping,
    identity: &Identity,
    keys: Option<&AuthTokenKeys>,
    cache: &MintCache,
    headers: &mut HeaderMap,
) -> Result<(), MappingError> {
    match &mapping.mapping {
        TypedMapping::Header(h) => {
            apply_headers(h, identity, headers);
            Ok(())
        }
        TypedMapping::WebSessionAccessToken => {
            let token = identity
                .access_token
                .as_ref()
                .map(gatehouse_model::secret::Secret::expose)
                .ok_or(MappingError::NoAccessToken)?;
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| MappingError::NoAccessToken)?;
            headers.insert(AUTHORIZATION, value);
            Ok(())
        }
        TypedMapping::Jwt(j) => {
            let keys = keys.ok_or(MappingError::NoKey)?;
            let jwt = minted(mapping, j, identity, keys, cache)?;
            let (name, value) = if j.map_as_bearer_token {
                (AUTHORIZATION, format!("Bearer {jwt}"))
            } else {
                match HeaderName::try_from(j.header_name.as_str()) {
                    Ok(n) => (n, jwt.to_string()),
                    Err(_) => return Ok(()),
                }
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
            Ok(())
        }
    }
}

fn apply_headers(h: &HeaderMapping, identity: &Identity, headers: &mut HeaderMap) {
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    };
    if h.exclusion_list {
        if let Some(name) = &h.exclusion_list_subject {
            put(name, &identity.subject);
        }
        for (attr, value) in identity.claims.iter() {
            if h.exclusion_list_attributes.iter().any(|x| x == attr) {
                continue;
            }
            if let Some(text) = header_text(value) {
                put(&format!("{}{attr}", h.header_name_prefix), &text);
            }
        }
        return;
    }
    for row in &h.attribute_header_mappings {
        let text = if row.subject {
            Some(identity.subject.clone())
        } else {
            lookup(&identity.claims, &row.attribute_name).and_then(header_text)
        };
        if let Some(t) = text {
            put(&row.header_name, &t);
        }
    }
}

/// A claim as header text: scalars as they are, lists joined with `,`; objects are not sent.
fn header_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(header_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

/// A claim by dotted path (`address.city`).
pub fn lookup<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    let mut parts = path.split('.');
    let first = claims.get(parts.next()?)?;
    parts.try_fold(first, |v, k| v.get(k))
}

fn minted(
    mapping: &CompiledMapping,
    j: &JwtMapping,
    identity: &Identity,
    keys: &AuthTokenKeys,
    cache: &MintCache,
) -> Result<Arc<str>, MappingError> {
    let key = (
        mapping.instance,
        identity.cache_key,
        keys.current.kid.clone(),
    );
    if let Some((jwt, _)) = cache.0.get(&key) {
        return Ok(jwt);
    }
    let lifetime = j.token_lifetime_seconds;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = Map::new();
    claims.insert("iss".into(), mapping.issuer.clone().into());
    claims.insert("aud".into(), j.audience.clone().into());
    claims.insert("sub".into(), identity.subject.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + lifetime).into());
    for m in &j.attribute_mappings {
        let value = if m.subject {
            Some(Value::String(identity.subject.clone()))
        } else {
            lookup(&identity.claims, &m.user_attribute_name).cloned()
        };
        if let Some(v) = value {
            insert_dotted(&mut claims, &m.jwt_claim_name, v);
        }
    }
    let jwt: Arc<str> = keys.current.sign(&Value::Object(claims))?.into();
    // Reused for half its lifetime, so a backend always gets a JWT with time left.
    let reuse = Duration::from_secs(lifetime / 2);
    if !reuse.is_zero() {
        cache.0.insert(key, (jwt.clone(), reuse));
    }
    Ok(jwt)
}

/// Writes `value` at a dotted claim path, creating objects on the way.
fn insert_dotted(claims: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut at = claims;
    for p in parts {
        let slot = at
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        at = next;
    }
    at.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_claims_nest_and_lookups_walk() {
        let mut claims = Map::new();
        insert_dotted(&mut claims, "address.city", json!("Lyon"));
        insert_dotted(&mut claims, "address.zip", json!("69001"));
        insert_dotted(&mut claims, "tier", json!(3));
        assert_eq!(
            Value::Object(claims.clone()),
            json!({"address": {"city": "Lyon", "zip": "69001"}, "tier": 3})
        );
        assert_eq!(lookup(&claims, "address.city"), Some(&json!("Lyon")));
        assert_eq!(lookup(&claims, "address.street"), None);
    }

    fn jwt(audience: &str) -> CompiledMapping {
        CompiledMapping::new(
            TypedMapping::Jwt(JwtMapping {
                header_name: "X-Id".into(),
                map_as_bearer_token: false,
                audience: audience.into(),
                token_lifetime_seconds: 300,
                attribute_mappings: Vec::new(),
            }),
            "iss".into(),
        )
    }

    #[test]
    fn a_mapping_changed_by_a_reload_never_reuses_jwts_minted_under_the_old_one() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key =
            crate::authtoken::SignKey::from_pem("k", &pair.serialize_pem(), pair.public_key_raw())
                .unwrap();
        let keys = AuthTokenKeys {
            current: Arc::new(key),
            previous: None,
        };
        let cache = MintCache::new(100);
        let minted = |m: &CompiledMapping, validator: u64| {
            let mut identity = Identity::new("alice".into(), Map::new(), None);
            identity.cache_key = (validator, [1; 32]);
            let mut headers = HeaderMap::new();
            apply(m, &identity, Some(&keys), &cache, &mut headers).unwrap();
            headers["x-id"].to_str().unwrap().to_string()
        };
        let before = jwt("old-backend");
        let first = minted(&before, 7);
        assert_eq!(minted(&before, 7), first, "reused for the same mapping");
        assert_ne!(
            minted(&jwt("new-backend"), 7),
            first,
            "new settings, new JWT"
        );
        assert_ne!(
            minted(&before, 8),
            first,
            "another validator, another identity"
        );
    }

    #[test]
    fn lists_become_one_comma_joined_header_and_objects_are_not_sent() {
        assert_eq!(header_text(&json!(["a", "b", 3])).as_deref(), Some("a,b,3"));
        assert_eq!(header_text(&json!({"x": 1})), None);
    }
}
