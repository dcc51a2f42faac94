//! The one place where a pipeline error becomes an HTTP response: status, HTML or JSON by
//! `Accept`, the request id, and nothing internal (no addresses, no causes, no tokens).

use bytes::Bytes;
use gatehouse_model::document::{ErrorContentType, UnknownResources};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::authn::AuthError;
use super::forward::ForwardError;
use super::hygiene::HygieneError;
use crate::oauth::TokenError;
use crate::path::PathError;
use crate::policy::compile::default_message;
use crate::policy::{Denial, Handler, Outcome};
use crate::upstream::GatewayBody;

/// Everything that stops a request before (or instead of) the backend's answer.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Malformed or ambiguous request.
    #[error(transparent)]
    Hygiene(#[from] HygieneError),
    /// Refused path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// No configuration yet.
    #[error("no configuration loaded")]
    NotConfigured,
    /// No virtual host, application or resource.
    #[error("unknown resource")]
    UnknownResource,
    /// A reserved path that is not an endpoint.
    #[error("no such endpoint")]
    NoEndpoint,
    /// `requireHTTPS` application reached over HTTP.
    #[error("HTTPS required")]
    HttpsRequired,
    /// The WebSocket cap is reached.
    #[error("too many WebSocket connections")]
    WebSocketLimit,
    /// The backend failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// A bearer token was missing or not accepted.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// An access-control rule failed.
    #[error(transparent)]
    Denied(#[from] Box<Denial>),
    /// The identity could not be passed to the backend.
    #[error(transparent)]
    Identity(#[from] crate::identity::MappingError),
    /// A body the gateway had to read is over `pa.default.maxRequestBodySize`.
    #[error("request body too large to inspect")]
    BodyTooLarge,
    /// A body the gateway had to read ended early.
    #[error("request body incomplete")]
    BodyIncomplete,
}

/// Status and user-facing message of an error.
fn status_of(err: &PipelineError, unknown: &UnknownResources) -> (StatusCode, &'static str) {
    use HygieneError as H;
    match err {
        PipelineError::Hygiene(H::LineTooLong) => {
            (StatusCode::URI_TOO_LONG, "The request line is too long.")
        }
        PipelineError::Hygiene(H::HeadersTooLarge) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "The request headers are too large.",
        ),
        PipelineError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
        ),
        PipelineError::Hygiene(_) | PipelineError::Path(_) | PipelineError::BodyIncomplete => {
            (StatusCode::BAD_REQUEST, "The request is malformed.")
        }
        PipelineError::NotConfigured => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway has no configuration yet.",
        ),
        PipelineError::UnknownResource => (
            StatusCode::from_u16(unknown.error_status_code).unwrap_or(StatusCode::FORBIDDEN),
            "The requested resource is not available.",
        ),
        PipelineError::NoEndpoint => (StatusCode::NOT_FOUND, "No such endpoint."),
        PipelineError::HttpsRequired => (StatusCode::FORBIDDEN, "This application requires HTTPS."),
        PipelineError::WebSocketLimit => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many WebSocket connections.",
        ),
        PipelineError::Forward(ForwardError::Timeout { .. }) => (
            StatusCode::GATEWAY_TIMEOUT,
            "The application did not answer in time.",
        ),
        PipelineError::Forward(_) => (StatusCode::BAD_GATEWAY, "The application is not available."),
        PipelineError::Auth(a) if a.error == TokenError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The access token cannot be checked at the moment.",
        ),
        PipelineError::Auth(a) if a.error == TokenError::Missing => {
            (StatusCode::UNAUTHORIZED, "An access token is required.")
        }
        PipelineError::Auth(_) => (StatusCode::UNAUTHORIZED, "The access token is not valid."),
        PipelineError::Denied(d) => match d.outcome {
            Outcome::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                default_message(StatusCode::TOO_MANY_REQUESTS),
            ),
            _ => (
                StatusCode::FORBIDDEN,
                default_message(StatusCode::FORBIDDEN),
            ),
        },
        PipelineError::Identity(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity cannot be passed to the application at the moment.",
        ),
    }
}

/// The response for an error.
pub fn error_response(
    err: &PipelineError,
    request_id: &str,
    wants_html: bool,
    unknown: &UnknownResources,
) -> Response<GatewayBody> {
    if let PipelineError::Denied(d) = err {
        return denial_response(d, request_id);
    }
    let (status, default_message) = status_of(err, unknown);
    let message = match err {
        PipelineError::UnknownResource => {
            unknown.error_message.as_deref().unwrap_or(default_message)
        }
        _ => default_message,
    };
    let forced = match err {
        PipelineError::UnknownResource => unknown.error_content_type,
        _ => ErrorContentType::Negotiate,
    };
    let mut resp = render(status, message, request_id, wants_html, forced);
    if matches!(err, PipelineError::BodyTooLarge) {
        // The rest of the body may still be on its way: do not reuse the connection.
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(c) = match err {
        PipelineError::Auth(a) => bearer_challenge(a),
        _ => None,
    } {
        resp.headers_mut().insert(WWW_AUTHENTICATE, c);
    }
    resp
}

/// The answer to a denial: the rule's rejection handler, else the built-in one (web `403`
/// HTML, API `403` JSON, rate limiting `429` JSON), a `Redirect` rule's redirect, plus
/// `Retry-After` and `insufficient_scope` where they apply.
fn denial_response(d: &Denial, request_id: &str) -> Response<GatewayBody> {
    let mut resp = match (d.handler.as_deref(), &d.outcome) {
        (Some(Handler::Redirect { status, url }), _) => redirect(*status, url),
        (None, Outcome::Redirect { status, url }) => redirect(*status, url),
        (
            Some(Handler::Template {
                status,
                json,
                message,
                template,
            }),
            _,
        ) => {
            let page = Page {
                status: *status,
                message,
                info: Some(&d.info),
                request_id,
            };
            match template {
                Some(t) => fill_template(t, &page, *json),
                None => page.render(if *json {
                    ErrorContentType::Json
                } else {
                    ErrorContentType::Html
                }),
            }
        }
        (None, outcome) => {
            let (status, kind) = match outcome {
                Outcome::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, ErrorContentType::Json)
                }
                _ if d.api => (StatusCode::FORBIDDEN, ErrorContentType::Json),
                _ => (StatusCode::FORBIDDEN, ErrorContentType::Html),
            };
            Page {
                status,
                message: default_message(status),
                info: Some(&d.info),
                request_id,
            }
            .render(kind)
        }
    };
    if let Outcome::RateLimited { retry_after } = d.outcome {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(retry_after));
    }
    if let Some(c) = scope_challenge(d) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, c);
    }
    resp
}

/// A redirect made by the gateway (host redirects, `Redirect` rules and handlers).
pub fn redirect(status: StatusCode, location: &str) -> Response<GatewayBody> {
    let mut resp = Response::new(full(Bytes::new()));
    match HeaderValue::from_str(location) {
        Ok(v) => {
            *resp.status_mut() = status;
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A rejection handler's own body: `${status}`, `${message}`, `${info}`, `${requestId}`
/// replaced by values escaped for the content type.
fn fill_template(template: &str, page: &Page<'_>, json: bool) -> Response<GatewayBody> {
    let esc = |s: &str| {
        if json {
            let quoted = serde_json::Value::from(s).to_string();
            quoted[1..quoted.len() - 1].to_string()
        } else {
            escape(s)
        }
    };
    let body = template
        .replace("${status}", &page.status.as_u16().to_string())
        .replace("${message}", &esc(page.message))
        .replace("${info}", &esc(page.info.unwrap_or_default()))
        .replace("${requestId}", &esc(page.request_id));
    let ctype = if json {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    let mut resp = with_page_headers(page.status, ctype, body);
    // An operator's page may style itself and show inline images; still no scripts.
    resp.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    );
    resp
}

/// `WWW-Authenticate: Bearer realm="…"` (RFC 6750 §3): with `error="invalid_token"` and a
/// description when a token was sent, without `error` when none was.
fn bearer_challenge(a: &AuthError) -> Option<HeaderValue> {
    let realm = quoted(&a.realm);
    let value = match &a.error {
        TokenError::Unavailable => return None,
        TokenError::Missing => format!("Bearer realm=\"{realm}\""),
        other => format!(
            "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
            quoted(&other.to_string())
        ),
    };
    HeaderValue::from_str(&value).ok()
}

/// `WWW-Authenticate` for a failed `OAuthScope` rule (RFC 6750 §3.1 `insufficient_scope`).
fn scope_challenge(d: &Denial) -> Option<HeaderValue> {
    let scope = d.scope.as_deref()?;
    let value = format!(
        "Bearer realm=\"{}\", error=\"insufficient_scope\", scope=\"{}\"",
        quoted(&d.realm),
        quoted(scope)
    );
    HeaderValue::from_str(&value).ok()
}

/// Text safe inside a quoted-string: printable ASCII without `"` and `\`.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| *c != '"' && *c != '\\')
        .collect()
}

/// Renders a gateway page in the negotiated (or forced) content type.
pub fn render(
    status: StatusCode,
    message: &str,
    request_id: &str,
    wants_html: bool,
    forced: ErrorContentType,
) -> Response<GatewayBody> {
    let kind = match forced {
        ErrorContentType::Negotiate if wants_html => ErrorContentType::Html,
        ErrorContentType::Negotiate => ErrorContentType::Json,
        other => other,
    };
    Page {
        status,
        message,
        info: None,
        request_id,
    }
    .render(kind)
}

/// What a gateway page shows.
struct Page<'a> {
    status: StatusCode,
    message: &'a str,
    /// Why, in a few safe words (a rule's `$info`).
    info: Option<&'a str>,
    request_id: &'a str,
}

impl Page<'_> {
    fn render(&self, kind: ErrorContentType) -> Response<GatewayBody> {
        let (status, message, request_id) = (self.status, self.message, self.request_id);
        let info = self.info.filter(|i| !i.is_empty());
        let (ctype, body) = match kind {
            ErrorContentType::Html => ("text/html; charset=utf-8", html_page(self)),
            ErrorContentType::Text => (
                "text/plain; charset=utf-8",
                format!(
                    "{} {}\n{message}\n{}Request id: {request_id}\n",
                    status.as_u16(),
                    reason(status),
                    info.map(|i| format!("{i}\n")).unwrap_or_default(),
                ),
            ),
            _ => {
                let mut json = serde_json::json!({
                    "status": status.as_u16(),
                    "error": reason(status),
                    "message": message,
                    "requestId": request_id,
                });
                if let Some(i) = info {
                    json["info"] = i.into();
                }
                ("application/json", json.to_string())
            }
        };
        with_page_headers(status, ctype, body)
    }
}

fn with_page_headers(
    status: StatusCode,
    ctype: &'static str,
    body: String,
) -> Response<GatewayBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// True when the client asks for HTML (browsers).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn html_page(page: &Page<'_>) -> String {
    let info = page
        .info
        .filter(|i| !i.is_empty())
        .map(|i| format!("<p>{}</p>", escape(i)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\
         <body><h1>{code} {reason}</h1><p>{message}</p>{info}<p><small>Request id: {id}</small></p></body></html>\n",
        code = page.status.as_u16(),
        reason = reason(page.status),
        message = escape(page.message),
        id = escape(page.request_id),
    )
}

/// Minimal HTML escaping for text placed in gateway pages.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fixed body.
pub fn full(body: impl Into<Bytes>) -> GatewayBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
