//! Web sessions as compiled into a snapshot: each with its settings, client credentials, the
//! provider's discovery and an ID-token validator (signature from the provider's key set, `iss`,
//! `aud` = client id, `exp`, `nbf`).

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_model::oauth::ClientAuthMethod;
use gatehouse_model::secret::Secret;
use gatehouse_model::websession::CredentialsType;

use crate::authtoken::AuthTokenKeys;
use gatehouse_model::websession::{WebSession, WebSessionManagement};
use gatehouse_model::ConfigDocument;
use jsonwebtoken::Algorithm;

use crate::oauth::discovery::Discovery;
use crate::oauth::jwks::{JwksCounters, JwksLocation, JwksSource};
use crate::oauth::jwt::JwtValidator;

/// Leeway for ID-token times, in seconds.
const ID_TOKEN_LEEWAY: u64 = 60;

/// Algorithms accepted on ID tokens (never `none`, never HMAC).
const ID_TOKEN_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One web session, ready for requests.
#[derive(Debug)]
pub struct CompiledWebSession {
    /// Settings.
    pub cfg: WebSession,
    /// Cookie name (`<cookieName>.<audience>`).
    pub cookie: String,
    /// Client secret in clear (for `SECRET` credentials).
    pub client_secret: Secret,
    /// The provider.
    pub provider: Arc<Discovery>,
    /// Redirect to the provider's `end_session_endpoint` at logout.
    pub use_slo: bool,
    /// Verifies ID tokens.
    pub id_tokens: JwtValidator,
    /// The provider's extra authorization-request parameters.
    pub extra_params: Vec<(String, String)>,
    /// An application of this session maps the provider's access token to its site
    /// (`WebSessionAccessToken`): the session keeps it.
    pub keep_access_token: bool,
}

/// The web sessions of a snapshot, and the management settings.
#[derive(Debug, Default)]
pub struct WebSessions {
    /// By id.
    pub by_id: HashMap<u64, Arc<CompiledWebSession>>,
    /// Cookie name, issuer, timeouts.
    pub management: WebSessionManagement,
}

impl WebSessions {
    /// Compiles the web sessions of `doc` against the snapshot's provider discovery.
    pub fn compile(
        doc: &ConfigDocument,
        provider: Option<&Arc<Discovery>>,
        counters: &Arc<JwksCounters>,
    ) -> Self {
        let management = doc.web_session_management.clone();
        let mut by_id = HashMap::new();
        let (Some(provider), Some(settings)) = (provider, doc.oidc_provider.as_ref()) else {
            return Self { by_id, management };
        };
        for ws in &doc.web_sessions {
            let jwks = JwksSource::new(
                JwksLocation::Discovered(provider.clone()),
                provider.client().clone(),
                counters.clone(),
            );
            let id_tokens = JwtValidator::new(
                crate::oauth::next_instance(),
                ID_TOKEN_ALGORITHMS.to_vec(),
                settings.issuer.clone(),
                ws.client_credentials.client_id.clone(),
                "sub".into(),
                ID_TOKEN_LEEWAY,
                Arc::new(jwks),
            );
            let keep_access_token = ws.enable_refresh_user
                || doc.applications.iter().any(|a| {
                    a.web_session_id == ws.id
                        && doc.identity_mappings.iter().any(|m| {
                            m.id == a.identity_mapping_ids.web && m.kind == "WebSessionAccessToken"
                        })
                });
            let compiled = CompiledWebSession {
                keep_access_token,
                cookie: format!("{}.{}", management.cookie_name, ws.audience),
                client_secret: ws
                    .client_credentials
                    .client_secret
                    .clone()
                    .unwrap_or_default(),
                provider: provider.clone(),
                use_slo: settings.use_slo,
                id_tokens,
                extra_params: settings
                    .query_parameters
                    .iter()
                    .map(|q| (q.name.clone(), q.value.clone()))
                    .collect(),
                cfg: ws.clone(),
            };
            by_id.insert(ws.id, Arc::new(compiled));
        }
        Self { by_id, management }
    }
}

impl CompiledWebSession {
    /// POSTs a form to a provider endpoint with the client's authentication
    /// (`client_secret_basic` or `client_secret_post`) and reads the JSON answer.
    pub async fn post_authenticated(
        &self,
        url: &str,
        mut params: Vec<(String, String)>,
        client_keys: Option<&AuthTokenKeys>,
    ) -> Result<serde_json::Value, crate::oauth::fetch::FetchError> {
        let c = &self.cfg.client_credentials;
        let mut req = self.provider.client().post(url);
        let method = match c.credentials_type {
            CredentialsType::PrivateKeyJwt => None,
            CredentialsType::Secret => Some(c.auth_method),
        };
        match method {
            None => {
                let assertion = self.client_assertion(client_keys).map_err(|reason| {
                    crate::oauth::fetch::FetchError::Invalid {
                        url: url.to_string(),
                        reason,
                    }
                })?;
                if !params.iter().any(|(k, _)| k == "client_id") {
                    params.push(("client_id".into(), c.client_id.clone()));
                }
                params.push(("client_assertion_type".into(), JWT_BEARER.into()));
                params.push(("client_assertion".into(), assertion));
            }
            Some(ClientAuthMethod::ClientSecretBasic) => {
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                req = req.basic_auth(enc(&c.client_id), Some(enc(self.client_secret.expose())));
            }
            Some(ClientAuthMethod::ClientSecretPost) => {
                if !params.iter().any(|(k, _)| k == "client_id") {
                    params.push(("client_id".into(), c.client_id.clone()));
                }
                params.push((
                    "client_secret".into(),
                    self.client_secret.expose().to_string(),
                ));
            }
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let req = req
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        crate::oauth::fetch::json(req, url).await
    }

    /// A `private_key_jwt` client assertion (RFC 7523), valid for a minute. Its `aud` is the
    /// provider's issuer identifier alone, as the update of RFC 7523 requires (an endpoint URL
    /// as audience allowed assertions to be replayed between servers).
    fn client_assertion(&self, keys: Option<&AuthTokenKeys>) -> Result<String, String> {
        let audience = self.provider.issuer();
        let keys = keys.ok_or("no client assertion key is loaded")?;
        let now = super::session::now();
        let id = self.cfg.client_credentials.client_id.as_str();
        let jti: [u8; 16] = rand::random();
        let claims = serde_json::json!({
            "iss": id, "sub": id, "aud": audience, "iat": now, "exp": now + 60,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        keys.current.sign(&claims).map_err(|e| e.to_string())
    }
}

/// `client_assertion_type` of `private_key_jwt`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
