//! The admin API's errors and the one place that turns them into responses: `401`/`403` for
//! authentication and roles, `404`, `422 {"flash":[…],"form":{…}}` listing every problem, `500`
//! without details.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_model::Problems;
use serde_json::{json, Map, Value};

use crate::store::StoreError;

/// Why an admin API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `X-XSRF-Header` missing.
    #[error("the X-XSRF-Header header is required")]
    Xsrf,
    /// No or wrong credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// The account is locked after too many failures.
    #[error("account locked")]
    Locked,
    /// The caller's role does not allow this.
    #[error("not allowed for this role")]
    Forbidden,
    /// No such object.
    #[error("not found")]
    NotFound,
    /// The body is over `admin.max.request.bodylength`.
    #[error("request body too large")]
    TooLarge,
    /// The input or the resulting configuration is invalid.
    #[error("invalid: {0}")]
    Invalid(Invalid),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every problem of a rejected change: all of them in `flash`, those of the submitted object
/// also under their field in `form`.
#[derive(Debug, Default)]
pub struct Invalid {
    /// Messages for the whole request.
    pub flash: Vec<String>,
    /// Messages per field of the submitted object.
    pub form: Map<String, Value>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.flash.join("; "))
    }
}

impl Invalid {
    /// One message about the request as a whole.
    pub fn flash(message: impl Into<String>) -> Self {
        Self {
            flash: vec![message.into()],
            form: Map::new(),
        }
    }

    /// Adds a message about a field.
    pub fn push_field(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        self.flash.push(format!("{field}: {message}"));
        match self.form.get_mut(field).and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(message)),
            None => {
                self.form.insert(field.to_string(), json!([message]));
            }
        }
    }

    /// One message about a field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut form = Map::new();
        form.insert(field.to_string(), json!([message.clone()]));
        Self {
            flash: vec![format!("{field}: {message}")],
            form,
        }
    }

    /// Validation problems of a document; those under `object` (such as `sites[2]`) are also
    /// listed per field.
    pub fn from_problems(problems: &Problems, object: Option<&str>) -> Self {
        let mut out = Self::default();
        for p in &problems.0 {
            out.flash.push(p.to_string());
            let Some(prefix) = object else { continue };
            let Some(rest) = p.path.strip_prefix(prefix) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('.')) {
                continue;
            }
            let field = rest.trim_start_matches('.');
            // A missing field is reported on the object itself: name the field.
            let missing = p
                .message
                .split_once("missing field `")
                .and_then(|(_, r)| r.split_once('`'))
                .map(|(name, _)| name);
            let Some(field) = (if field.is_empty() {
                missing
            } else {
                Some(field)
            }) else {
                continue;
            };
            let entry = out
                .form
                .entry(field.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(Value::String(p.message.clone()));
            }
        }
        out
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        Self::Invalid(i)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Xsrf => (
                StatusCode::FORBIDDEN,
                message("The X-XSRF-Header header is required."),
            ),
            Self::Unauthenticated | Self::Locked => (
                StatusCode::UNAUTHORIZED,
                message("Authentication is required."),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                message("Your role does not allow this request."),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, message("Not found.")),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                message("The request body is too large."),
            ),
            Self::Invalid(i) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"flash": i.flash, "form": i.form}),
            ),
            Self::Store(e) => {
                tracing::error!("admin API store failure: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    message("Internal error."),
                )
            }
            Self::Internal(e) => {
                tracing::error!("admin API internal error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    message("Internal error."),
                )
            }
        };
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Gatehouse admin\""),
            );
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

fn message(text: &str) -> Value {
    json!({"flash": [text], "form": {}})
}
