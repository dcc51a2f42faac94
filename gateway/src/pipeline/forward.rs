//! Forwarding to a site: target choice, retries and failover, timeouts, streaming bodies.
//!
//! Failover retries a request on the next target only when nothing of it can have reached a
//! backend that processed it: connection failures and `failureHttpStatusCodes` answers, and only
//! for requests without a body (a streamed body cannot be replayed). A read timeout is final
//! (`504`): the backend may have acted on the request.

use std::time::Duration;

use http::header::HOST;
use http::request::Parts;
use http::{HeaderValue, Request, Response, Uri, Version};

use crate::upstream::{GatewayBody, PoolError, PooledBody, SendError, SiteClient, Target};

/// Why the backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No target accepted a connection.
    #[error("no target of site '{site}' accepted a connection")]
    Unreachable {
        /// Site name.
        site: String,
    },
    /// The backend did not answer within `readTimeout`.
    #[error("site '{site}' did not answer within {ms} ms")]
    Timeout {
        /// Site name.
        site: String,
        /// Timeout.
        ms: i64,
    },
    /// The connection failed while the request was in flight.
    #[error("site '{site}' failed: {source}")]
    Broken {
        /// Site name.
        site: String,
        /// Cause.
        #[source]
        source: PoolError,
    },
    /// The request URI could not be built.
    #[error("bad upstream URI")]
    BadUri,
}

/// A request ready to go upstream: cleaned head and the original body.
#[derive(Debug)]
pub struct Outgoing {
    /// Head with headers already cleaned and forwarding headers set.
    pub parts: Parts,
    /// Path and query to send (normalised path, raw query).
    pub path_and_query: String,
    /// `Host` to send when the site does not use the target's.
    pub client_host: Option<HeaderValue>,
    /// Body, streamed.
    pub body: GatewayBody,
    /// True when the request has no body and can be replayed on another target.
    pub replayable: bool,
}

/// Sends a request to a site with failover; returns the backend's response head and streaming
/// body (which gives its connection back to the pool once read to the end).
pub async fn send(site: &SiteClient, out: Outgoing) -> Result<Response<PooledBody>, ForwardError> {
    let avail = &site.def.availability;
    let Outgoing {
        parts,
        path_and_query,
        client_host,
        body,
        replayable,
    } = out;
    // Origin form: the connection already knows its target.
    let uri = Uri::try_from(path_and_query).map_err(|_| ForwardError::BadUri)?;
    let name = || site.def.name.clone();
    let targets = site.attempt_order();
    let last_target = targets.len().saturating_sub(1);
    // A failure answer consumes the request; a copy of the head is kept only when such an
    // answer can send it on to another target.
    let template = (replayable && last_target > 0 && !avail.failure_http_status_codes.is_empty())
        .then(|| head_of(&parts, &uri));
    let mut pending = Some(first_request(parts, uri, body));
    for (t_index, target) in targets.into_iter().enumerate() {
        for attempt in 0..=avail.max_retries {
            let mut req = match (pending.take(), &template) {
                (Some(r), _) => r,
                (None, Some(t)) => rebuild(t),
                (None, None) => return Err(ForwardError::Unreachable { site: name() }),
            };
            set_host(site, target, client_host.as_ref(), req.headers_mut());
            match timed(site, target, req).await {
                Ok(Ok(resp)) => {
                    let failing = avail
                        .failure_http_status_codes
                        .contains(&resp.status().as_u16());
                    if !failing {
                        target.mark_up();
                        return Ok(resp);
                    }
                    target.mark_down(avail.failed_retry_timeout);
                    if template.is_some() && t_index < last_target {
                        break;
                    }
                    // Nowhere left to try (or the body is spent): the failure answer is passed on.
                    return Ok(resp);
                }
                Ok(Err(SendError { error, request })) if error.is_connect() => {
                    tracing::warn!(site = %site.def.name, target = %target.authority, attempt, "connect failed: {error}");
                    if !replayable {
                        target.mark_down(avail.failed_retry_timeout);
                        return Err(ForwardError::Unreachable { site: name() });
                    }
                    pending = request;
                    if attempt < avail.max_retries {
                        tokio::time::sleep(Duration::from_millis(avail.retry_delay)).await;
                    }
                }
                Ok(Err(SendError { error, .. })) => {
                    return Err(ForwardError::Broken {
                        site: name(),
                        source: error,
                    })
                }
                Err(_) => {
                    return Err(ForwardError::Timeout {
                        site: name(),
                        ms: avail.read_timeout,
                    })
                }
            }
        }
        target.mark_down(avail.failed_retry_timeout);
    }
    Err(ForwardError::Unreachable { site: name() })
}

type Attempt = Result<Result<Response<PooledBody>, SendError>, tokio::time::error::Elapsed>;

async fn timed(site: &SiteClient, target: &Target, req: Request<GatewayBody>) -> Attempt {
    let fut = target.endpoint.send(req);
    match u64::try_from(site.def.availability.read_timeout) {
        Ok(ms) => tokio::time::timeout(Duration::from_millis(ms), fut).await,
        Err(_) => Ok(fut.await),
    }
}

/// The first attempt's request: the cleaned head moved, not copied.
fn first_request(parts: Parts, uri: Uri, body: GatewayBody) -> Request<GatewayBody> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = parts.headers;
    req
}

/// A copy of the head, for sending a request without a body again.
fn head_of(parts: &Parts, uri: &Uri) -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri.clone();
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = parts.headers.clone();
    req
}

fn rebuild(template: &Request<()>) -> Request<GatewayBody> {
    let mut req = Request::new(crate::upstream::empty_body());
    *req.method_mut() = template.method().clone();
    *req.uri_mut() = template.uri().clone();
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = template.headers().clone();
    req
}

/// `Host`: the target's when the site says so, else the client's, else the target's (without
/// the scheme's default port).
fn set_host(
    site: &SiteClient,
    target: &Target,
    client_host: Option<&HeaderValue>,
    headers: &mut http::HeaderMap,
) {
    let host = if site.def.use_target_host_header {
        &target.host_header
    } else {
        client_host.unwrap_or(&target.default_host)
    };
    headers.insert(HOST, host.clone());
}
