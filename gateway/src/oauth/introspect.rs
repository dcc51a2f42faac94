//! RFC 7662 token introspection (`accessValidatorId = 1`): the gateway authenticates to the
//! endpoint (`client_secret_basic` or `client_secret_post`), refuses `active: false`, checks the
//! audience when configured, and fails closed when the endpoint cannot be reached.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_model::oauth::{AuthServer, ClientAuthMethod};
use serde_json::{Map, Value};

use super::discovery::Discovery;
use super::fetch::{self, FetchError};
use super::{Identity, TokenError};

/// Where the endpoint is.
#[derive(Debug)]
pub enum EndpointLocation {
    /// Configured.
    Url(String),
    /// The provider's discovered `introspection_endpoint`.
    Discovered(Arc<Discovery>),
}

/// A compiled introspection client.
#[derive(Debug)]
pub struct Introspector {
    /// Unique per compiled instance (cache keys).
    pub instance: u64,
    endpoint: EndpointLocation,
    client: reqwest::Client,
    client_id: String,
    client_secret: String,
    auth_method: ClientAuthMethod,
    /// Cache results at all.
    pub cache_tokens: bool,
    ttl: Option<Duration>,
    subject_claim: String,
    audience: Option<String>,
}

impl Introspector {
    /// An introspector for `server`.
    pub fn new(
        instance: u64,
        server: &AuthServer,
        endpoint: EndpointLocation,
        client: reqwest::Client,
    ) -> Self {
        Self {
            instance,
            endpoint,
            client,
            client_id: server.client_credentials.client_id.clone(),
            client_secret: server.client_credentials.client_secret.expose().to_string(),
            auth_method: server.client_credentials.auth_method,
            cache_tokens: server.cache_tokens,
            ttl: u64::try_from(server.token_time_to_live_seconds)
                .ok()
                .map(Duration::from_secs),
            subject_claim: server.subject_attribute_name.clone(),
            audience: server.audience.clone().filter(|a| !a.is_empty()),
        }
    }

    /// Asks the endpoint about `token`.
    pub async fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        let answer = self.ask(token).await.map_err(|e| {
            tracing::error!("token introspection failed; refusing the request: {e}");
            TokenError::Unavailable
        })?;
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError::Invalid("The token is not active."));
        }
        if let Some(want) = &self.audience {
            let granted = match answer.get("aud") {
                Some(Value::String(a)) => a == want,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
                _ => false,
            };
            if !granted {
                return Err(TokenError::Invalid(
                    "The token was issued for another audience.",
                ));
            }
        }
        let now = SystemTime::now();
        let expires_at = answer
            .get("exp")
            .and_then(Value::as_u64)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        if expires_at.is_some_and(|e| e <= now) {
            return Err(TokenError::Invalid("The token has expired."));
        }
        let subject = match answer.get(&self.subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(TokenError::Invalid("The token names no subject.")),
        };
        let mut identity = Identity::new(subject, answer, expires_at);
        identity.cache_until = match (self.ttl, expires_at) {
            (Some(ttl), Some(exp)) => Some(exp.min(now + ttl)),
            (Some(ttl), None) => Some(now + ttl),
            (None, exp) => exp,
        };
        Ok(identity)
    }

    async fn ask(&self, token: &str) -> Result<Map<String, Value>, FetchError> {
        let url = match &self.endpoint {
            EndpointLocation::Url(u) => u.clone(),
            EndpointLocation::Discovered(d) => d
                .metadata()
                .await?
                .introspection_endpoint
                .clone()
                .ok_or_else(|| FetchError::Invalid {
                url: d.issuer().to_string(),
                reason: "the provider publishes no introspection_endpoint".into(),
            })?,
        };
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let req = self.client.post(&url);
        let req = match self.auth_method {
            ClientAuthMethod::ClientSecretBasic => req.basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(&self.client_secret)),
            ),
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
                req
            }
        };
        let body = serde_urlencoded(&form);
        let req = req
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        fetch::json(req, &url).await
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic encoding.
fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, FORM).to_string()
}

/// Characters form-encoded (everything but unreserved).
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn serde_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
