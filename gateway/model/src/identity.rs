//! Identity towards the backend (SPEC §5.4): identity mappings (`/identityMappings`) and the
//! auth-token-management settings that sign JWT mappings (`/authTokenManagement`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An identity mapping as stored and exported: `{id, name, type, configuration}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityMapping {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// `Header` or `JWT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific settings.
    #[serde(default)]
    pub configuration: Value,
}

/// One attribute → header row of a `Header` mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeHeader {
    /// The row carries the subject (then `attributeName` is not read).
    #[serde(default)]
    pub subject: bool,
    /// Attribute (claim) name; `.` walks into nested objects.
    #[serde(default)]
    pub attribute_name: String,
    /// Header sent to the backend.
    pub header_name: String,
}

/// `Header` mapping: an inclusion list of rows, or (with `exclusionList`) every attribute except
/// the listed ones, each as `<headerNamePrefix><attribute>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderMapping {
    /// Inclusion rows.
    #[serde(default)]
    pub attribute_header_mappings: Vec<AttributeHeader>,
    /// Map every attribute except `exclusionListAttributes`.
    #[serde(default)]
    pub exclusion_list: bool,
    /// Attributes not mapped in exclusion mode.
    #[serde(default)]
    pub exclusion_list_attributes: Vec<String>,
    /// Header that carries the subject in exclusion mode (none: not sent).
    #[serde(default)]
    pub exclusion_list_subject: Option<String>,
    /// Prefix of headers in exclusion mode (required there, e.g. `X-User-`).
    #[serde(default)]
    pub header_name_prefix: String,
}

/// One claim of a `JWT` mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMapping {
    /// The claim carries the subject.
    #[serde(default)]
    pub subject: bool,
    /// Attribute read from the identity; `.` walks into nested objects.
    #[serde(default)]
    pub user_attribute_name: String,
    /// Claim written; `.` creates nested objects (`address.city`).
    pub jwt_claim_name: String,
}

/// `JWT` mapping: a short-lived ES256 JWT signed with the auth-token-management key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtMapping {
    /// Header that carries the JWT (ignored with `mapAsBearerToken`).
    #[serde(default = "default_jwt_header")]
    pub header_name: String,
    /// Send as `Authorization: Bearer`, replacing the client's `Authorization`.
    #[serde(default)]
    pub map_as_bearer_token: bool,
    /// `aud` of the JWT.
    pub audience: String,
    /// Lifetime of each JWT (seconds, 1 to 86400).
    #[serde(default = "default_lifetime")]
    pub token_lifetime_seconds: u64,
    /// Claims beyond `iss`, `aud`, `sub`, `iat`, `exp`.
    #[serde(default)]
    pub attribute_mappings: Vec<ClaimMapping>,
}

/// A mapping checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedMapping {
    /// `Header`.
    Header(HeaderMapping),
    /// `JWT`.
    Jwt(JwtMapping),
    /// `WebSessionAccessToken`: the web session's access token from the provider, sent as
    /// `Authorization: Bearer` (web applications only).
    WebSessionAccessToken,
}

impl IdentityMapping {
    /// The configuration parsed for the mapping's type; `Err` says what is wrong.
    pub fn typed(&self) -> Result<TypedMapping, String> {
        let config = self.configuration.clone();
        let typed = match self.kind.as_str() {
            "Header" => serde_json::from_value(config).map(TypedMapping::Header),
            "JWT" => serde_json::from_value(config).map(TypedMapping::Jwt),
            "WebSessionAccessToken" => {
                return match config {
                    serde_json::Value::Null => Ok(TypedMapping::WebSessionAccessToken),
                    serde_json::Value::Object(o) if o.is_empty() => {
                        Ok(TypedMapping::WebSessionAccessToken)
                    }
                    _ => Err("configuration: WebSessionAccessToken takes no settings ({})".into()),
                }
            }
            other => {
                return Err(format!(
                    "identity mapping type '{other}' is not supported; use Header, JWT or \
                     WebSessionAccessToken"
                ))
            }
        }
        .map_err(|e| format!("configuration: {e}"))?;
        match &typed {
            TypedMapping::Header(h) if h.exclusion_list && h.header_name_prefix.is_empty() => {
                Err("configuration.headerNamePrefix: required with exclusionList".into())
            }
            TypedMapping::Header(h)
                if !h.exclusion_list && h.attribute_header_mappings.is_empty() =>
            {
                Err("configuration.attributeHeaderMappings: needs at least one row".into())
            }
            TypedMapping::Jwt(j) if j.audience.trim().is_empty() => {
                Err("configuration.audience: must not be empty".into())
            }
            TypedMapping::Jwt(j) if !(1..=86_400).contains(&j.token_lifetime_seconds) => {
                Err("configuration.tokenLifetimeSeconds: between 1 and 86400".into())
            }
            _ => Ok(typed),
        }
    }
}

/// Auth token management (singleton `authTokenManagement`): the key that signs JWT mappings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthTokenManagement {
    /// `iss` of minted JWTs.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Signing curve; only `P-256` (ES256).
    #[serde(default = "default_signing")]
    pub signing_algorithm: String,
    /// Roll the key every `keyRollPeriodInHours`.
    #[serde(default = "yes")]
    pub key_roll_enabled: bool,
    /// Hours between key rolls (1 to 8760).
    #[serde(default = "default_roll")]
    pub key_roll_period_in_hours: u64,
}

impl Default for AuthTokenManagement {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            signing_algorithm: default_signing(),
            key_roll_enabled: true,
            key_roll_period_in_hours: default_roll(),
        }
    }
}

fn default_jwt_header() -> String {
    "X-PA-Identity".into()
}

fn default_lifetime() -> u64 {
    300
}

fn default_issuer() -> String {
    "PingAccessAuthToken".into()
}

fn default_signing() -> String {
    "P-256".into()
}

fn default_roll() -> u64 {
    24
}

fn yes() -> bool {
    true
}
