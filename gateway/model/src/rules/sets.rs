//! Rule sets (`/rulesets`) and rejection handlers (`/rejectionHandlers`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::traffic::{default_redirect_code, redirect_url_problem, REDIRECT_CODES};

/// How a rule set combines its elements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SuccessCriteria {
    /// Every element must pass (stops at the first failure).
    #[default]
    SuccessIfAllSucceed,
    /// One element passing is enough (stops at the first success).
    SuccessIfAnyOneSucceeds,
}

/// What a rule set's `policy` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ElementType {
    /// Rule ids.
    #[default]
    Rule,
    /// Rule set ids (a "rule set group").
    RuleSet,
}

/// A rule set as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSet {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// All or any.
    #[serde(default)]
    pub success_criteria: SuccessCriteria,
    /// Rules or rule sets.
    #[serde(default)]
    pub element_type: ElementType,
    /// Element ids, in evaluation order.
    #[serde(default)]
    pub policy: Vec<u64>,
}

/// A rejection handler as stored and exported: `type` is `ErrorTemplate` or `Redirect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectionHandler {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// `ErrorTemplate` or `Redirect`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific settings.
    #[serde(default)]
    pub configuration: Value,
}

/// Body format of an error template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TemplateContentType {
    /// `text/html`.
    #[default]
    Html,
    /// `application/json`.
    Json,
}

/// `ErrorTemplate`: a status and a page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorTemplate {
    /// Status (403 by default).
    #[serde(default = "ErrorTemplate::default_code")]
    pub response_code: u16,
    /// HTML or JSON.
    #[serde(default)]
    pub content_type: TemplateContentType,
    /// The message shown (a default per status when absent).
    #[serde(default)]
    pub message: Option<String>,
    /// A whole body with `${status}`, `${message}`, `${info}` and `${requestId}` placeholders
    /// (values escaped for the content type); the built-in page when absent.
    #[serde(default)]
    pub template: Option<String>,
}

impl ErrorTemplate {
    fn default_code() -> u16 {
        403
    }
}

/// `Redirect`: sends the client elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectHandler {
    /// Absolute `http(s)` URL or a path starting with one `/`.
    pub url: String,
    /// 301, 302 (default), 303, 307 or 308.
    #[serde(default = "default_redirect_code")]
    pub response_code: u16,
}

/// A rejection handler checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedHandler {
    /// `ErrorTemplate`.
    ErrorTemplate(ErrorTemplate),
    /// `Redirect`.
    Redirect(RedirectHandler),
}

impl RejectionHandler {
    /// The configuration parsed for the handler's type.
    pub fn typed(&self) -> Result<TypedHandler, String> {
        let config = if self.configuration.is_null() {
            Value::Object(Default::default())
        } else {
            self.configuration.clone()
        };
        let parsed = match self.kind.as_str() {
            "ErrorTemplate" => serde_json::from_value(config).map(TypedHandler::ErrorTemplate),
            "Redirect" => serde_json::from_value(config).map(TypedHandler::Redirect),
            other => {
                return Err(format!(
                    "'{other}' is not a rejection handler type; use ErrorTemplate or Redirect"
                ))
            }
        };
        parsed.map_err(|e| format!("configuration: {e}"))
    }
}

impl TypedHandler {
    /// What is wrong with the values: `(field below configuration, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            Self::ErrorTemplate(t) if !(400..=599).contains(&t.response_code) => {
                vec![("responseCode".into(), "must be 400-599".into())]
            }
            Self::ErrorTemplate(_) => Vec::new(),
            Self::Redirect(r) => {
                let mut out: Vec<(String, String)> = redirect_url_problem(&r.url)
                    .map(|m| ("url".to_string(), m))
                    .into_iter()
                    .collect();
                if !REDIRECT_CODES.contains(&r.response_code) {
                    out.push((
                        "responseCode".into(),
                        "must be 301, 302, 303, 307 or 308".into(),
                    ));
                }
                out
            }
        }
    }
}
