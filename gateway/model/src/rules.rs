//! Rules (`/rules`, SPEC §6): `{id, name, type, configuration}`. The document keeps
//! `configuration` as written; [`Rule::typed`] parses it for the rule's type and
//! [`TypedRule::problems`] lists what is wrong with the values.
//!
//! Rule sets and rejection handlers are in [`sets`]; the per-type settings in [`oauth`],
//! [`request`], [`traffic`] and [`processing`].

pub mod oauth;
pub mod processing;
pub mod request;
pub mod sets;
pub mod traffic;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use oauth::{AttributeRow, AttributeRule, ClientRule, ScopeRule};
pub use processing::{CookieDomainRule, CookiePathRule, RewriteRule};
pub use request::{
    HeaderRule, MethodRule, NameValueRow, NetworkRangeRule, ParameterRule, TimeRangeRule,
    WebSocketRule,
};
pub use traffic::{CorsRule, Granularity, RateLimitRule, RedirectRule, RejectionRule};

/// A rule as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// What a rule does: decide (access control) or change the request or response (processing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Allows or denies the request.
    AccessControl,
    /// Rewrites the request or the response.
    Processing,
}

/// A rule checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedRule {
    /// `NetworkRange`.
    NetworkRange(NetworkRangeRule),
    /// `TimeRange`.
    TimeRange(TimeRangeRule),
    /// `HttpRequestHeader`.
    HttpRequestHeader(HeaderRule),
    /// `HttpRequestParameter`.
    HttpRequestParameter(ParameterRule),
    /// `HttpMethod`.
    HttpMethod(MethodRule),
    /// `OAuthScope`.
    OAuthScope(ScopeRule),
    /// `OAuthAttribute`.
    OAuthAttribute(AttributeRule),
    /// `OAuthClient`.
    OAuthClient(ClientRule),
    /// `WebSessionScope`: the session's granted scopes (same settings as `OAuthScope`).
    WebSessionScope(ScopeRule),
    /// `WebSessionAttribute`: the session's user attributes (same settings as `OAuthAttribute`).
    WebSessionAttribute(AttributeRule),
    /// `RateLimiting`.
    RateLimiting(RateLimitRule),
    /// `Cors`.
    Cors(CorsRule),
    /// `Redirect`.
    Redirect(RedirectRule),
    /// `Rejection`.
    Rejection(RejectionRule),
    /// `RewriteUrl`.
    RewriteUrl(RewriteRule),
    /// `RewriteResponseHeader`.
    RewriteResponseHeader(RewriteRule),
    /// `RewriteCookieDomain`.
    RewriteCookieDomain(CookieDomainRule),
    /// `RewriteCookiePath`.
    RewriteCookiePath(CookiePathRule),
    /// `WebSocketHandshake`.
    WebSocketHandshake(WebSocketRule),
}

/// Rule types this version evaluates.
pub const SUPPORTED_RULE_TYPES: &[&str] = &[
    "NetworkRange",
    "TimeRange",
    "HttpRequestHeader",
    "HttpRequestParameter",
    "HttpMethod",
    "OAuthScope",
    "OAuthAttribute",
    "OAuthClient",
    "WebSessionScope",
    "WebSessionAttribute",
    "RateLimiting",
    "Cors",
    "Redirect",
    "Rejection",
    "RewriteUrl",
    "RewriteResponseHeader",
    "RewriteCookieDomain",
    "RewriteCookiePath",
    "WebSocketHandshake",
];

fn parse<T: DeserializeOwned>(config: &Value) -> Result<T, String> {
    // A rule without settings is written with no `configuration` at all.
    let config = if config.is_null() {
        Value::Object(Default::default())
    } else {
        config.clone()
    };
    serde_json::from_value(config).map_err(|e| format!("configuration: {e}"))
}

impl Rule {
    /// The configuration parsed for the rule's type; `Err` says what is wrong.
    pub fn typed(&self) -> Result<TypedRule, String> {
        let c = &self.configuration;
        Ok(match self.kind.as_str() {
            "NetworkRange" => TypedRule::NetworkRange(parse(c)?),
            "TimeRange" => TypedRule::TimeRange(parse(c)?),
            "HttpRequestHeader" => TypedRule::HttpRequestHeader(parse(c)?),
            "HttpRequestParameter" => TypedRule::HttpRequestParameter(parse(c)?),
            "HttpMethod" => TypedRule::HttpMethod(parse(c)?),
            "OAuthScope" => TypedRule::OAuthScope(parse(c)?),
            "OAuthAttribute" => TypedRule::OAuthAttribute(parse(c)?),
            "OAuthClient" => TypedRule::OAuthClient(parse(c)?),
            "WebSessionScope" => TypedRule::WebSessionScope(parse(c)?),
            "WebSessionAttribute" => TypedRule::WebSessionAttribute(parse(c)?),
            "RateLimiting" => TypedRule::RateLimiting(parse(c)?),
            "Cors" => TypedRule::Cors(parse(c)?),
            "Redirect" => TypedRule::Redirect(parse(c)?),
            "Rejection" => TypedRule::Rejection(parse(c)?),
            "RewriteUrl" => TypedRule::RewriteUrl(parse(c)?),
            "RewriteResponseHeader" => TypedRule::RewriteResponseHeader(parse(c)?),
            "RewriteCookieDomain" => TypedRule::RewriteCookieDomain(parse(c)?),
            "RewriteCookiePath" => TypedRule::RewriteCookiePath(parse(c)?),
            "WebSocketHandshake" => TypedRule::WebSocketHandshake(parse(c)?),
            other => {
                return Err(format!(
                    "rule type '{other}' is not supported; use one of {}",
                    SUPPORTED_RULE_TYPES.join(", ")
                ))
            }
        })
    }
}

impl TypedRule {
    /// Access control or processing.
    pub fn category(&self) -> Category {
        match self {
            Self::RewriteUrl(_)
            | Self::RewriteResponseHeader(_)
            | Self::RewriteCookieDomain(_)
            | Self::RewriteCookiePath(_) => Category::Processing,
            _ => Category::AccessControl,
        }
    }

    /// True for rules that read a bearer token's claims (only meaningful in `API` policies).
    pub fn needs_token(&self) -> bool {
        matches!(
            self,
            Self::OAuthScope(_) | Self::OAuthAttribute(_) | Self::OAuthClient(_)
        )
    }

    /// True for rules that read a web session (only meaningful in `Web` policies).
    pub fn needs_session(&self) -> bool {
        matches!(
            self,
            Self::WebSessionScope(_) | Self::WebSessionAttribute(_)
        )
    }

    /// The rejection handler the rule names, if any.
    pub fn rejection_handler_id(&self) -> Option<u64> {
        let id = match self {
            Self::NetworkRange(r) => r.rejection_handler_id,
            Self::TimeRange(r) => r.rejection_handler_id,
            Self::HttpRequestHeader(r) => r.rejection_handler_id,
            Self::HttpRequestParameter(r) => r.rejection_handler_id,
            Self::HttpMethod(r) => r.rejection_handler_id,
            Self::OAuthScope(r) | Self::WebSessionScope(r) => r.rejection_handler_id,
            Self::OAuthAttribute(r) | Self::WebSessionAttribute(r) => r.rejection_handler_id,
            Self::OAuthClient(r) => r.rejection_handler_id,
            Self::RateLimiting(r) => r.rejection_handler_id,
            Self::Cors(r) => r.rejection_handler_id,
            Self::WebSocketHandshake(r) => r.rejection_handler_id,
            Self::Rejection(r) => Some(r.rejection_handler_id),
            _ => None,
        };
        id.filter(|id| *id != 0)
    }

    /// What is wrong with the values: `(field below configuration, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            Self::NetworkRange(r) => r.problems(),
            Self::TimeRange(r) => r.problems(),
            Self::HttpRequestHeader(r) => r.problems(),
            Self::HttpRequestParameter(r) => r.problems(),
            Self::HttpMethod(r) => r.problems(),
            Self::OAuthScope(r) | Self::WebSessionScope(r) => r.problems(),
            Self::OAuthAttribute(r) | Self::WebSessionAttribute(r) => r.problems(),
            Self::OAuthClient(r) => r.problems(),
            Self::RateLimiting(r) => r.problems(),
            Self::Cors(r) => r.problems(),
            Self::Redirect(r) => r.problems(),
            Self::Rejection(_) => Vec::new(),
            Self::RewriteUrl(r) | Self::RewriteResponseHeader(r) => r.problems(),
            Self::RewriteCookieDomain(r) => r.problems(),
            Self::RewriteCookiePath(r) => r.problems(),
            Self::WebSocketHandshake(r) => r.problems(),
        }
    }
}

/// Accepts a single value or a list (`cidrNotation = "10.0.0.0/8"` or a list of them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// A problem list with one entry when `bad`.
pub(crate) fn problem_if(bad: bool, field: &str, message: &str) -> Vec<(String, String)> {
    if bad {
        vec![(field.to_string(), message.to_string())]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(kind: &str, configuration: Value) -> Rule {
        Rule {
            id: 1,
            name: "r".into(),
            kind: kind.into(),
            configuration,
        }
    }

    #[test]
    fn every_supported_type_parses_a_minimal_configuration() {
        let minimal = [
            ("NetworkRange", json!({"cidrNotation": "10.0.0.0/8"})),
            (
                "TimeRange",
                json!({"startTime": "09:00", "endTime": "17:00"}),
            ),
            (
                "HttpRequestHeader",
                json!({"headers": [{"name": "X-A", "value": "*"}]}),
            ),
            (
                "HttpRequestParameter",
                json!({"parameters": [{"name": "a", "value": "1"}]}),
            ),
            ("HttpMethod", json!({"methods": ["GET"]})),
            ("OAuthScope", json!({"scope": "read"})),
            (
                "OAuthAttribute",
                json!({"attributes": [{"name": "a", "value": "1"}]}),
            ),
            ("OAuthClient", json!({"clientIds": ["c"]})),
            ("WebSessionScope", json!({"scope": "email"})),
            (
                "WebSessionAttribute",
                json!({"attributes": [{"name": "groups", "value": "admins"}]}),
            ),
            (
                "RateLimiting",
                json!({"maxBurstRequests": 1, "requestIntervalMs": 1000}),
            ),
            ("Cors", json!({"allowedOrigins": ["https://a.test"]})),
            ("Redirect", json!({"url": "/moved"})),
            ("Rejection", json!({"rejectionHandlerId": 3})),
            (
                "RewriteUrl",
                json!({"mapFrom": "^/a/(.*)$", "mapTo": "/b/$1"}),
            ),
            (
                "RewriteResponseHeader",
                json!({"mapFrom": "^http://in/", "mapTo": "https://out/"}),
            ),
            (
                "RewriteCookieDomain",
                json!({"serverSideDomain": "in", "publicDomain": "out"}),
            ),
            (
                "RewriteCookiePath",
                json!({"serverSidePath": "/in", "publicPath": "/out"}),
            ),
            ("WebSocketHandshake", Value::Null),
        ];
        assert_eq!(minimal.len(), SUPPORTED_RULE_TYPES.len());
        for (kind, config) in minimal {
            let typed = rule(kind, config)
                .typed()
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(
                typed.problems().is_empty(),
                "{kind}: {:?}",
                typed.problems()
            );
        }
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        assert!(rule("Groovy", json!({})).typed().is_err());
        let err = rule("HttpMethod", json!({"methods": ["GET"], "bogus": 1}))
            .typed()
            .unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }
}
