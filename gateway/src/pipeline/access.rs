//! Policy stage (SPEC §6): CORS preflights answered by the gateway, access control (application,
//! then resource), the request's processing rules (resource, then application), and what the
//! response must go through when the backend answers.

use std::sync::Arc;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, ORIGIN};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::forwarded::Origin;
use super::respond::{self, PipelineError};
use crate::engine::Engine;
use crate::oauth::Identity;
use crate::path::{encode_for_upstream, normalize};
use crate::policy::cors::Cors;
use crate::policy::rewrite::{rewrite_path, rewrite_response, Processing};
use crate::policy::{evaluate, CompiledPolicy, CorsPolicy, Denial, Evaluation, Facts, Outcome};
use crate::route::{RouteApp, RouteResource};
use crate::upstream::{BoxError, GatewayBody};

/// The policies that apply to one request.
#[derive(Debug, Clone, Copy)]
pub struct Applicable<'s> {
    app: &'s CompiledPolicy,
    resource: &'s CompiledPolicy,
    /// Skip access control (`unprotected` resources).
    unprotected: bool,
    api: bool,
}

impl<'s> Applicable<'s> {
    /// The web or API policies of the application and resource.
    pub fn of(app: &'s RouteApp, resource: &'s RouteResource, api: bool) -> Self {
        Self {
            app: app.policies.of(api),
            resource: resource.policies.of(api),
            unprotected: resource.unprotected,
            api,
        }
    }

    /// The resource's `Cors` rule, else the application's.
    fn cors(&self) -> Option<&'s CorsPolicy> {
        self.resource.cors.as_ref().or(self.app.cors.as_ref())
    }
}

/// The CORS headers for answers the gateway makes itself (`401`, `403`, `429`, errors), so a
/// script on an allowed origin can read why it was refused instead of seeing a network error.
#[derive(Debug)]
pub struct CorsAnswer {
    cors: Arc<Cors>,
    origin: HeaderValue,
    own_origin: String,
}

impl CorsAnswer {
    /// The answer's CORS headers when a `Cors` rule applies to a cross-origin request.
    pub fn of(policies: Applicable<'_>, parts: &Parts, origin: &Origin) -> Option<Self> {
        let header = parts.headers.get(ORIGIN)?.clone();
        Some(Self {
            cors: policies.cors()?.cors.clone(),
            origin: header,
            own_origin: own_origin(origin),
        })
    }

    /// Adds the headers (nothing when the origin is not allowed or is the request's own).
    pub fn apply(&self, headers: &mut HeaderMap) {
        self.cors
            .decorate(Some(&self.origin), &self.own_origin, headers);
    }
}

/// `scheme://host[:port]` of the request, as a browser writes it in `Origin`.
pub fn own_origin(origin: &Origin) -> String {
    let default = if origin.proto == "https" { 443 } else { 80 };
    let host = if origin.host.contains(':') {
        format!("[{}]", origin.host)
    } else {
        origin.host.clone()
    };
    if origin.port == default {
        format!("{}://{host}", origin.proto)
    } else {
        format!("{}://{host}:{}", origin.proto, origin.port)
    }
}

/// Answers a CORS preflight when a `Cors` rule applies (before authentication: browsers send
/// preflights without credentials). `None`: not a preflight, or no rule.
pub fn preflight(
    policies: Applicable<'_>,
    parts: &Parts,
    realm: &str,
) -> Option<Result<Response<GatewayBody>, PipelineError>> {
    if !Cors::is_preflight(&parts.method, &parts.headers) {
        return None;
    }
    let policy = policies.cors()?;
    Some(match policy.cors.preflight(&parts.headers) {
        Some(headers) => {
            let mut resp = Response::new(respond::full(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp.headers_mut().extend(headers);
            Ok(resp)
        }
        None => Err(PipelineError::Denied(Box::new(Denial {
            rule: "CORS preflight".into(),
            outcome: Outcome::Forbidden,
            handler: policy.handler.clone(),
            info: "the cross-origin request is not allowed".into(),
            scope: None,
            realm: realm.to_string(),
            api: policies.api,
        }))),
    })
}

/// A request that passed access control, with its processed path and body.
pub struct Admitted {
    /// Normalised path after `RewriteUrl` rules.
    pub path: String,
    /// Body to send (read into memory when a form rule needed it).
    pub body: GatewayBody,
    /// The request has no body, so it can be sent again (failover).
    pub replayable: bool,
    /// What the response goes through.
    pub response: ResponseRules,
}

/// Everything [`admit`] needs about the request.
pub struct Admission<'a> {
    /// Request head.
    pub parts: &'a Parts,
    /// Request body.
    pub body: Incoming,
    /// Routed, normalised path.
    pub path: String,
    /// Effective origin.
    pub origin: &'a Origin,
    /// Verified identity.
    pub identity: Option<&'a Identity>,
}

/// Runs access control and the request's processing rules.
pub async fn admit(
    engine: &Engine,
    app: &RouteApp,
    policies: Applicable<'_>,
    req: Admission<'_>,
) -> Result<Admitted, PipelineError> {
    // Only CORS and WebSocket checks compare origins: most requests never build the string.
    let checks_origin = policies.cors().is_some()
        || !(policies.app.access.is_empty() && policies.resource.access.is_empty());
    let own_origin = if checks_origin {
        own_origin(req.origin)
    } else {
        String::new()
    };
    let (body, replayable, form) =
        read_form_if_needed(engine, policies, req.parts, req.body).await?;
    if !policies.unprotected {
        let facts = Facts {
            method: &req.parts.method,
            headers: &req.parts.headers,
            query: req.parts.uri.query(),
            form: form.as_deref(),
            client_ip: req.origin.client_ip,
            identity: req.identity,
            app_id: app.id,
            own_origin: &own_origin,
            params: Default::default(),
        };
        let e = Evaluation {
            limiter: &engine.limiter,
            realm: &app.realm,
            api: policies.api,
        };
        evaluate(policies.app, &facts, e)?;
        evaluate(policies.resource, &facts, e)?;
    }
    let processing: Vec<Arc<Processing>> = policies
        .resource
        .processing
        .iter()
        .chain(&policies.app.processing)
        .cloned()
        .collect();
    let path = match rewrite_path(&processing, &req.path) {
        Some(rewritten) => renormalise(engine, app, &rewritten)?,
        None => req.path,
    };
    Ok(Admitted {
        path,
        body,
        replayable,
        response: ResponseRules {
            processing,
            cors: policies.cors().map(|p| p.cors.clone()),
            origin: req.parts.headers.get(ORIGIN).cloned(),
            own_origin,
        },
    })
}

/// A rewritten path goes through the same normalisation as the request's own.
fn renormalise(engine: &Engine, app: &RouteApp, rewritten: &str) -> Result<String, PipelineError> {
    let rooted = if rewritten.starts_with('/') {
        rewritten.to_string()
    } else {
        format!("/{rewritten}")
    };
    let encoded = encode_for_upstream(&rooted);
    Ok(normalize(&encoded, engine.settings.paths, app.allow_empty_segments)?.into_owned())
}

type ReadBody = (GatewayBody, bool, Option<Bytes>);

/// Reads an url-encoded form body (up to `pa.default.maxRequestBodySize`, else `413`) when a
/// parameter rule will look at it; otherwise the body streams untouched.
async fn read_form_if_needed(
    engine: &Engine,
    policies: Applicable<'_>,
    parts: &Parts,
    body: Incoming,
) -> Result<ReadBody, PipelineError> {
    let wanted = !policies.unprotected
        && (policies.app.needs_form || policies.resource.needs_form)
        && is_form(&parts.headers);
    if !wanted {
        let replayable = body.is_end_stream();
        return Ok((
            body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
            replayable,
            None,
        ));
    }
    let bytes = read_within(body, engine.settings.limits.body_read).await?;
    // `replayable` means "no body" to the forwarder: a read form is sent once, like any body.
    let replayable = bytes.is_empty();
    Ok((respond::full(bytes.clone()), replayable, Some(bytes)))
}

/// A body larger than this is not drained after a `413`; the connection is closed instead.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;
/// How long a `413` waits for the rest of the body to drain.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads a whole body of at most `limit` bytes. A larger one is drained (bounded in size and
/// time) so the client, which may still be sending, can read the `413`.
async fn read_within(mut body: Incoming, limit: usize) -> Result<Bytes, PipelineError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| PipelineError::BodyIncomplete)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            let drain = async {
                let mut drained = 0usize;
                while let Some(Ok(frame)) = body.frame().await {
                    drained += frame.data_ref().map_or(0, Bytes::len);
                    if drained > DRAIN_LIMIT {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
            return Err(PipelineError::BodyTooLarge);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Response processing: rewrite rules (resource, then application), then CORS headers.
#[derive(Debug)]
pub struct ResponseRules {
    processing: Vec<Arc<Processing>>,
    cors: Option<Arc<Cors>>,
    origin: Option<HeaderValue>,
    own_origin: String,
}

impl ResponseRules {
    /// Applies the rules to the backend's response headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        rewrite_response(&self.processing, headers);
        if let Some(cors) = &self.cors {
            cors.decorate(self.origin.as_ref(), &self.own_origin, headers);
        }
    }
}
