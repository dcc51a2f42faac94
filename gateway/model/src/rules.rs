//! Access-control rules (`/rules`, SPEC §6): `{id, name, type, configuration}`. The document
//! keeps `configuration` as written; [`Rule::typed`] checks it against the rule's type.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A rule as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Rule type (`OAuthScope`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific settings.
    #[serde(default)]
    pub configuration: Value,
}

/// A name/value row of an attribute rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeRow {
    /// Claim name; `.` walks into nested objects (`realm_access.roles`).
    pub name: String,
    /// Required value; a multi-valued claim matches if any value equals it.
    pub value: String,
}

/// `OAuthScope`: the token grants every listed scope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeRule {
    /// One scope, or several separated by spaces (all required).
    pub scope: String,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler (rules issue; accepted, the default answer is used).
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `OAuthAttribute`: every row matches a claim of the token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeRule {
    /// Rows, all required.
    pub attributes: Vec<AttributeRow>,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler (accepted, the default answer is used).
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `OAuthClient`: the token was issued to one of these clients (`client_id` or `azp`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientRule {
    /// Accepted client ids.
    pub client_ids: Vec<String>,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler (accepted, the default answer is used).
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// A rule checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedRule {
    /// `OAuthScope`.
    OAuthScope(ScopeRule),
    /// `OAuthAttribute`.
    OAuthAttribute(AttributeRule),
    /// `OAuthClient`.
    OAuthClient(ClientRule),
}

/// Rule types this version evaluates.
pub const SUPPORTED_RULE_TYPES: &[&str] = &["OAuthScope", "OAuthAttribute", "OAuthClient"];

impl Rule {
    /// The configuration parsed for the rule's type; `Err` says what is wrong.
    pub fn typed(&self) -> Result<TypedRule, String> {
        let config = self.configuration.clone();
        let parsed = match self.kind.as_str() {
            "OAuthScope" => serde_json::from_value(config).map(TypedRule::OAuthScope),
            "OAuthAttribute" => serde_json::from_value(config).map(TypedRule::OAuthAttribute),
            "OAuthClient" => serde_json::from_value(config).map(TypedRule::OAuthClient),
            other => {
                return Err(format!(
                    "rule type '{other}' is not supported; use one of {}",
                    SUPPORTED_RULE_TYPES.join(", ")
                ))
            }
        };
        let typed = parsed.map_err(|e| format!("configuration: {e}"))?;
        match &typed {
            TypedRule::OAuthScope(s) if s.scope.split_whitespace().next().is_none() => {
                Err("configuration.scope: must name a scope".into())
            }
            TypedRule::OAuthAttribute(a) if a.attributes.is_empty() => {
                Err("configuration.attributes: needs at least one row".into())
            }
            TypedRule::OAuthClient(c) if c.client_ids.is_empty() => {
                Err("configuration.clientIds: needs at least one client id".into())
            }
            _ => Ok(typed),
        }
    }
}
