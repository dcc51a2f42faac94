//! OAuth resource-server objects: the token provider (`/oidc/provider`), the authorization server
//! used for introspection (`/oauth/authServer`) and the local JWT validators
//! (`/accessTokenValidators`).

use serde::{Deserialize, Serialize};

/// `accessValidatorId` value that selects RFC 7662 introspection.
pub const INTROSPECTION_VALIDATOR: u64 = 1;

/// The algorithms a JWT validator accepts when `allowedAlgorithms` is not given: every asymmetric
/// algorithm Gatehouse verifies. HMAC and `none` are never accepted.
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The OpenID provider (singleton `oidcProvider`): where discovery starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcProvider {
    /// Issuer; metadata comes from `<issuer>/.well-known/openid-configuration` and its `issuer`
    /// must equal this value exactly.
    pub issuer: String,
    /// Trust anchors for TLS to the provider (0: built-in public roots, 1: any certificate).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
    /// Single logout through the provider (web sessions).
    #[serde(default)]
    pub use_slo: bool,
    /// Extra query parameters on authorization requests (web sessions).
    #[serde(default)]
    pub query_parameters: Vec<QueryParameter>,
    /// Ask only for scopes the provider lists as supported (web sessions).
    #[serde(default)]
    pub request_supported_scopes_only: bool,
}

/// A name/value query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryParameter {
    /// Parameter name.
    pub name: String,
    /// Parameter value.
    pub value: String,
}

/// How Gatehouse authenticates to the introspection endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Client credentials for the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientCredentials {
    /// Client id.
    pub client_id: String,
    /// Client secret: write-only (`"…"` or `{"value":"…"}`; read back as `{"encryptedValue"}`).
    pub client_secret: crate::secret::Secret,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
}

/// The authorization server (singleton `oauthAuthServer`): RFC 7662 introspection for
/// applications with `accessValidatorId = 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthServer {
    /// Introspection endpoint; default: the provider's discovered `introspection_endpoint`.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Credentials Gatehouse presents to the endpoint.
    pub client_credentials: ClientCredentials,
    /// Cache introspection results.
    #[serde(default = "yes")]
    pub cache_tokens: bool,
    /// Longest time a result is cached (-1: until the token's `exp`).
    #[serde(default = "minus_one")]
    pub token_time_to_live_seconds: i64,
    /// Claim that names the subject.
    #[serde(default = "sub")]
    pub subject_attribute_name: String,
    /// Require this audience in the introspection answer's `aud` (empty: not checked).
    #[serde(default)]
    pub audience: Option<String>,
    /// Trust anchors for TLS to the endpoint (0: built-in public roots, 1: any certificate).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
}

/// The only validator type: JWTs verified locally against a JSON Web Key Set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ValidatorType {
    /// Keys from a JWKS URL.
    #[default]
    JwksEndpoint,
}

/// An access token validator (`/accessTokenValidators`); ids start at 2 (1 is introspection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenValidator {
    /// Object id (> 1).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Always `JwksEndpoint`.
    #[serde(rename = "type", default)]
    pub kind: ValidatorType,
    /// Settings.
    pub configuration: JwksValidatorConfig,
}

/// Settings of a `JwksEndpoint` validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwksValidatorConfig {
    /// An `https://`/`http://` URL, or a path on the provider's issuer; default: the provider's
    /// discovered `jwks_uri`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Required `iss`; default: the provider's issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences). Required: a token minted for another
    /// resource must not be accepted here.
    pub audience: String,
    /// Claim that names the subject.
    #[serde(default = "sub")]
    pub subject_attribute_name: String,
    /// Accepted `alg` values; default [`SUPPORTED_ALGORITHMS`].
    #[serde(default = "default_algorithms")]
    pub allowed_algorithms: Vec<String>,
    /// Clock leeway for `exp` and `nbf`, in seconds (0 to 300).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Trust anchors for TLS to the JWKS URL (0: built-in public roots, 1: any certificate).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
}

fn yes() -> bool {
    true
}

fn minus_one() -> i64 {
    -1
}

fn sub() -> String {
    "sub".into()
}

fn default_algorithms() -> Vec<String> {
    SUPPORTED_ALGORITHMS.iter().map(|a| a.to_string()).collect()
}

fn default_leeway() -> u64 {
    30
}

/// HTTP Basic for the admin API's users (`/auth/basic`). It can be turned off only while
/// bearer tokens (`/auth/oauth`) are enabled, so someone can always log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminBasic {
    /// Accept HTTP Basic with admin users' passwords.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for AdminBasic {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// OAuth bearer tokens for the admin API (`/auth/oauth`): validated like an API application's
/// tokens, with a required scope and a claim mapped to the admin roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminOAuth {
    /// Accept bearer tokens on the admin API.
    #[serde(default)]
    pub enabled: bool,
    /// `1` for introspection, else the id of an access token validator.
    #[serde(default)]
    pub access_validator_id: u64,
    /// Scope every admin token must grant.
    #[serde(default = "AdminOAuth::default_scope")]
    pub required_scope: String,
    /// Claim holding the role (a string or a list; dotted path allowed).
    #[serde(default = "AdminOAuth::default_claim")]
    pub role_claim: String,
    /// Claim values that grant `ADMINISTRATOR`.
    #[serde(default = "AdminOAuth::default_administrators")]
    pub administrator_values: Vec<String>,
    /// Claim values that grant `AUDITOR`.
    #[serde(default = "AdminOAuth::default_auditors")]
    pub auditor_values: Vec<String>,
}

impl AdminOAuth {
    fn default_scope() -> String {
        "gatehouse-admin".into()
    }
    fn default_claim() -> String {
        "roles".into()
    }
    fn default_administrators() -> Vec<String> {
        vec!["ADMINISTRATOR".into()]
    }
    fn default_auditors() -> Vec<String> {
        vec!["AUDITOR".into()]
    }
}

impl Default for AdminOAuth {
    fn default() -> Self {
        Self {
            enabled: false,
            access_validator_id: 0,
            required_scope: Self::default_scope(),
            role_claim: Self::default_claim(),
            administrator_values: Self::default_administrators(),
            auditor_values: Self::default_auditors(),
        }
    }
}
