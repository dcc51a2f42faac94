//! Settings of the OAuth rules (`OAuthScope`, `OAuthAttribute`, `OAuthClient`): checks on the
//! claims of a verified bearer token.

use serde::Deserialize;

use super::problem_if;

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
    /// Rejection handler (0 or absent: the application type's default).
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
    /// Rejection handler.
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
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

impl ScopeRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        problem_if(
            self.scope.split_whitespace().next().is_none(),
            "scope",
            "must name a scope",
        )
    }
}

impl AttributeRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        problem_if(
            self.attributes.is_empty(),
            "attributes",
            "needs at least one row",
        )
    }
}

impl ClientRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        problem_if(
            self.client_ids.is_empty(),
            "clientIds",
            "needs at least one client id",
        )
    }
}
