//! Web sessions (SPEC §4.2 `/webSessions`, `/webSessionManagement`): how browsers of `Web`
//! applications log in with OpenID Connect and what the `PA.<audience>` cookie looks like.

use serde::{Deserialize, Serialize};

/// How the session cookie is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CookieType {
    /// A JWS signed with ES256 (claims readable by the browser, not changeable).
    Signed,
    /// A JWE (`dir`, `A128CBC-HS256`): claims neither readable nor changeable.
    #[default]
    Encrypted,
}

/// How the provider returns the authorization code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum OidcLoginType {
    /// Authorization code in the query of the redirect (`response_mode=query`).
    #[default]
    Code,
    /// Authorization code posted by the browser (`response_mode=form_post`).
    #[serde(rename = "POST")]
    Post,
}

/// How the gateway authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CredentialsType {
    /// `client_secret_basic` (or `client_secret_post`, per `authMethod`).
    #[default]
    Secret,
    /// `private_key_jwt`, signed with the keys published at `/pa/oidc/JWKS`.
    PrivateKeyJwt,
}

/// The web session's OAuth client at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebClientCredentials {
    /// Client id.
    pub client_id: String,
    /// Client secret (write-only), for `SECRET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<crate::secret::Secret>,
    /// `SECRET` (default) or `PRIVATE_KEY_JWT`.
    #[serde(default)]
    pub credentials_type: CredentialsType,
    /// For `SECRET`: `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default)]
    pub auth_method: crate::oauth::ClientAuthMethod,
}

/// `SameSite` of the session cookie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SameSite {
    /// `SameSite=Lax` (the login's redirect back is a top-level GET).
    #[default]
    Lax,
    /// `SameSite=None` (needs `secureCookie`).
    None,
    /// `SameSite=Strict`.
    Strict,
    /// No `SameSite` attribute.
    Disabled,
}

/// PKCE on the authorization request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PkceChallengeType {
    /// `S256`.
    #[default]
    Sha256,
    /// No PKCE.
    Off,
}

/// Which unauthenticated requests survive the login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RequestPreservationType {
    /// Only the URL (the browser comes back with a GET).
    None,
    /// Form POSTs are replayed after the login.
    #[default]
    #[serde(rename = "POST")]
    Post,
    /// Same as `POST` (other bodies cannot be replayed by a browser).
    All,
}

/// A web session (collection `webSessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebSession {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Audience of the session cookie; the cookie is `<cookieName>.<audience>`.
    pub audience: String,
    /// `Encrypted` (default) or `Signed`.
    #[serde(default)]
    pub cookie_type: CookieType,
    /// `Code` (default) or `POST`.
    #[serde(default)]
    pub oidc_login_type: OidcLoginType,
    /// The OAuth client.
    pub client_credentials: WebClientCredentials,
    /// Scopes requested besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Longest session, in minutes.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_in_minutes: u64,
    /// Idle timeout, in minutes.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_in_minutes: u64,
    /// `Domain` of the cookie (empty: host-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<String>,
    /// `Secure` attribute.
    #[serde(default = "yes")]
    pub secure_cookie: bool,
    /// `HttpOnly` attribute.
    #[serde(default = "yes")]
    pub http_only_cookie: bool,
    /// `SameSite` attribute.
    #[serde(default)]
    pub same_site: SameSite,
    /// PKCE.
    #[serde(default)]
    pub pkce_challenge_type: PkceChallengeType,
    /// Send the authorization request through the provider's PAR endpoint first.
    #[serde(default)]
    pub enable_push_authorization: bool,
    /// Which requests survive the login.
    #[serde(default)]
    pub request_preservation_type: RequestPreservationType,
    /// Keep the user's attributes in the engine, not in the cookie.
    #[serde(default)]
    pub cache_user_attributes: bool,
    /// Refresh attributes from userinfo every `refreshUserInfoClaimsInterval` seconds.
    #[serde(default)]
    pub enable_refresh_user: bool,
    /// Seconds between userinfo refreshes.
    #[serde(default = "default_refresh_interval")]
    pub refresh_user_info_claims_interval: u64,
    /// Send the requested URL to the provider (as `state` only; never trusted back).
    #[serde(default = "yes")]
    pub send_requested_url_to_provider: bool,
    /// Read attributes from the provider's userinfo endpoint at login.
    #[serde(default = "yes")]
    pub request_user_info: bool,
}

fn yes() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}
fn default_session_timeout() -> u64 {
    240
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_refresh_interval() -> u64 {
    60
}

/// Web-session management (singleton `webSessionManagement`): cookie name, issuer and keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebSessionManagement {
    /// Cookie name prefix (`PA`).
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    /// `iss` of session cookies.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Signing curve: only `P-256` (ES256).
    #[serde(default = "default_signing")]
    pub signing_algorithm: String,
    /// Encryption: only `A128CBC-HS256`.
    #[serde(default = "default_encryption")]
    pub encryption_algorithm: String,
    /// Roll the keys every `keyRollPeriodInHours`.
    #[serde(default = "yes")]
    pub key_roll_enabled: bool,
    /// Hours between key rolls (1 to 8760).
    #[serde(default = "default_roll")]
    pub key_roll_period_in_hours: u64,
    /// A cookie is re-issued (idle timeout moved) at most this often, in seconds.
    #[serde(default = "default_update_window")]
    pub update_token_window_in_seconds: u64,
    /// Lifetime of a login in progress (state, nonce), in minutes.
    #[serde(default = "default_nonce_ttl")]
    pub nonce_cookie_time_to_live_in_minutes: u64,
}

fn default_cookie_name() -> String {
    "PA".into()
}
fn default_issuer() -> String {
    "Gatehouse".into()
}
fn default_signing() -> String {
    "P-256".into()
}
fn default_encryption() -> String {
    "A128CBC-HS256".into()
}
fn default_roll() -> u64 {
    24
}
fn default_update_window() -> u64 {
    60
}
fn default_nonce_ttl() -> u64 {
    5
}

impl Default for WebSessionManagement {
    fn default() -> Self {
        Self {
            cookie_name: default_cookie_name(),
            issuer: default_issuer(),
            signing_algorithm: default_signing(),
            encryption_algorithm: default_encryption(),
            key_roll_enabled: true,
            key_roll_period_in_hours: default_roll(),
            update_token_window_in_seconds: default_update_window(),
            nonce_cookie_time_to_live_in_minutes: default_nonce_ttl(),
        }
    }
}
