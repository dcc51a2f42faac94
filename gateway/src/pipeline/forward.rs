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
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;

use crate::upstream::{GatewayBody, SiteClient, Target};

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
        source: hyper_util::client::legacy::Error,
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

/// Sends a request to a site with failover; returns the backend's response head and streaming body.
pub async fn send(site: &SiteClient, out: Outgoing) -> Result<Response<Incoming>, ForwardError> {
    let avail = &site.def.availability;
    let Outgoing {
        parts,
        path_and_query,
        client_host,
        body,
        replayable,
    } = out;
    let head = Head {
        parts,
        path_and_query,
        client_host,
    };
    let mut body = Some(body);
    let name = || site.def.name.clone();
    let targets = site.attempt_order();
    let last_target = targets.len().saturating_sub(1);
    for (t_index, target) in targets.into_iter().enumerate() {
        for attempt in 0..=avail.max_retries {
            let b = match (replayable, body.take()) {
                (true, _) => empty(),
                (false, Some(b)) => b,
                (false, None) => return Err(ForwardError::Unreachable { site: name() }),
            };
            let req = build(site, target, &head, b)?;
            match timed(site, req).await {
                Ok(Ok(resp)) => {
                    let failing = avail
                        .failure_http_status_codes
                        .contains(&resp.status().as_u16());
                    if !failing {
                        target.mark_up();
                        return Ok(resp);
                    }
                    target.mark_down(avail.failed_retry_timeout);
                    if replayable && t_index < last_target {
                        break;
                    }
                    // Nowhere left to try (or the body is spent): the failure answer is passed on.
                    return Ok(resp);
                }
                Ok(Err(e)) if e.is_connect() => {
                    tracing::warn!(site = %site.def.name, target = %target.authority, attempt, "connect failed: {e}");
                    if !replayable {
                        target.mark_down(avail.failed_retry_timeout);
                        return Err(ForwardError::Unreachable { site: name() });
                    }
                    if attempt < avail.max_retries {
                        tokio::time::sleep(Duration::from_millis(avail.retry_delay)).await;
                    }
                }
                Ok(Err(source)) => {
                    return Err(ForwardError::Broken {
                        site: name(),
                        source,
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

type Attempt = Result<
    Result<Response<Incoming>, hyper_util::client::legacy::Error>,
    tokio::time::error::Elapsed,
>;

async fn timed(site: &SiteClient, req: Request<GatewayBody>) -> Attempt {
    let fut = site.client.request(req);
    match u64::try_from(site.def.availability.read_timeout) {
        Ok(ms) => tokio::time::timeout(Duration::from_millis(ms), fut).await,
        Err(_) => Ok(fut.await),
    }
}

fn empty() -> GatewayBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// The parts of an outgoing request reused across attempts.
struct Head {
    parts: Parts,
    path_and_query: String,
    client_host: Option<HeaderValue>,
}

fn build(
    site: &SiteClient,
    target: &Target,
    out: &Head,
    body: GatewayBody,
) -> Result<Request<GatewayBody>, ForwardError> {
    let uri: Uri = format!(
        "{}://{}{}",
        site.scheme, target.authority, out.path_and_query
    )
    .parse()
    .map_err(|_| ForwardError::BadUri)?;
    let mut req = Request::new(body);
    *req.method_mut() = out.parts.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = out.parts.headers.clone();
    let host = if site.def.use_target_host_header {
        Some(target.host_header.clone())
    } else {
        out.client_host.clone()
    };
    if let Some(h) = host {
        req.headers_mut().insert(HOST, h);
    }
    Ok(req)
}
