//! Access-control and processing policy (SPEC §6), compiled into the snapshot.
//!
//! An application and each resource carry a [`Policies`] (one [`CompiledPolicy`] for web
//! requests, one for API requests). Access control runs application first, then resource; the
//! first failure denies with the failing rule's rejection handler. Processing rules run after
//! access control, resource first, then application, on the request and again on the response.
//! Inside a rule set the success criteria concern access control only; processing rules listed
//! in a set always run, in order.

pub mod checks;
pub mod claims;
pub mod compile;
pub mod cors;
pub mod rate;
pub mod rewrite;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};

use crate::oauth::Identity;
use checks::{Rows, TimeWindow, WebSocketCheck};
use cors::Cors;
use rate::{RateLimit, RateLimiter};
use rewrite::Processing;

/// How a gateway-made rejection is answered (a `/rejectionHandlers` entry).
#[derive(Debug)]
pub enum Handler {
    /// A status and a page.
    Template {
        /// Status.
        status: StatusCode,
        /// JSON instead of HTML.
        json: bool,
        /// Message shown.
        message: String,
        /// Whole body with `${…}` placeholders.
        template: Option<String>,
    },
    /// A redirect.
    Redirect {
        /// 3xx status.
        status: StatusCode,
        /// Target.
        url: String,
    },
}

/// What an access-control rule checks.
#[derive(Debug)]
pub enum Check {
    /// Client IP inside one of the ranges.
    Network(Vec<(IpAddr, u8)>),
    /// Local time inside the window.
    Time(TimeWindow),
    /// Request headers match every row.
    Header(Rows),
    /// Query or form parameters match every row.
    Parameter(Rows),
    /// Method is one of these.
    Method(Vec<Method>),
    /// The token grants every scope.
    Scope(Vec<String>),
    /// Claims match every row.
    Attribute(Vec<gatehouse_model::rules::AttributeRow>),
    /// The token's client is one of these.
    Client(Vec<String>),
    /// A token bucket.
    Rate(RateLimit),
    /// Cross-origin requests come from an allowed origin.
    Cors(Arc<Cors>),
    /// WebSocket handshakes come from allowed origins with allowed subprotocols.
    WebSocket(WebSocketCheck),
    /// Always redirects.
    Redirect {
        /// 3xx status.
        status: StatusCode,
        /// Target.
        url: String,
    },
    /// Always rejects.
    Reject,
}

/// A compiled access-control rule.
#[derive(Debug)]
pub struct AccessRule {
    /// Rule name, for logs.
    pub name: String,
    /// What it checks.
    pub check: Check,
    /// Invert the outcome (only where it makes sense).
    pub negate: bool,
    /// The rule's rejection handler; `None`: the built-in default.
    pub handler: Option<Arc<Handler>>,
}

/// A node of an access-control policy: a rule, or a rule set of nodes.
#[derive(Debug)]
pub enum Node {
    /// One rule.
    Rule(Arc<AccessRule>),
    /// A rule set.
    Set {
        /// `SuccessIfAllSucceed` (else any one).
        all: bool,
        /// Elements in order.
        children: Vec<Node>,
    },
}

/// One policy list (web or API) of an application or a resource.
#[derive(Debug, Default)]
pub struct CompiledPolicy {
    /// Access-control nodes, all required.
    pub access: Vec<Node>,
    /// Processing rules in order.
    pub processing: Vec<Arc<Processing>>,
    /// The policy's `Cors` rule (preflights and response headers).
    pub cors: Option<CorsPolicy>,
    /// A rule reads form parameters (the body must be read first).
    pub needs_form: bool,
}

/// A policy's `Cors` rule with its rejection handler (for refused preflights).
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    /// The rule.
    pub cors: Arc<Cors>,
    /// Its rejection handler.
    pub handler: Option<Arc<Handler>>,
}

/// The web and API policies of an application or resource.
#[derive(Debug, Default)]
pub struct Policies {
    /// For web requests.
    pub web: CompiledPolicy,
    /// For API requests.
    pub api: CompiledPolicy,
}

impl Policies {
    /// The policy for a request kind.
    pub fn of(&self, api: bool) -> &CompiledPolicy {
        if api {
            &self.api
        } else {
            &self.web
        }
    }
}

/// Everything rules look at, borrowed from the request.
#[derive(Debug)]
pub struct Facts<'a> {
    /// Method.
    pub method: &'a Method,
    /// Request headers (as the client sent them).
    pub headers: &'a HeaderMap,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Url-encoded form body, when a rule needs it and the request has one.
    pub form: Option<&'a [u8]>,
    /// Effective client IP.
    pub client_ip: IpAddr,
    /// Verified bearer-token identity.
    pub identity: Option<&'a Identity>,
    /// Application id (rate limiting per application).
    pub app_id: u64,
    /// `scheme://host[:port]` of the request, for same-origin checks.
    pub own_origin: &'a str,
    /// Query and form parameters, decoded on first use.
    pub params: OnceCell<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
}

impl<'a> Facts<'a> {
    /// The decoded query and form parameters, in order (query first).
    pub fn parameters(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        self.params.get_or_init(|| {
            let query = self.query.map(str::as_bytes).unwrap_or_default();
            let form = self.form.unwrap_or_default();
            form_urlencoded::parse(query)
                .chain(form_urlencoded::parse(form))
                .collect()
        })
    }
}

/// How a denial is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Refused (`403` by default).
    Forbidden,
    /// Over a rate limit (`429` with `Retry-After` by default).
    RateLimited {
        /// Seconds until a request would be allowed.
        retry_after: u64,
    },
    /// Sent elsewhere by a `Redirect` rule.
    Redirect {
        /// 3xx status.
        status: StatusCode,
        /// Target.
        url: String,
    },
}

/// Why a request was denied, and how to answer it.
#[derive(Debug, thiserror::Error)]
#[error("denied by rule '{rule}'")]
pub struct Denial {
    /// Name of the failing rule.
    pub rule: String,
    /// The kind of answer.
    pub outcome: Outcome,
    /// The rule's rejection handler (`None`: built-in default).
    pub handler: Option<Arc<Handler>>,
    /// Short, safe explanation for the page (`$info`).
    pub info: String,
    /// The scope a failing `OAuthScope` rule requires (for `insufficient_scope`).
    pub scope: Option<String>,
    /// Realm of the application.
    pub realm: String,
    /// An API request (JSON default answer) rather than a web one (HTML).
    pub api: bool,
}

/// What the evaluation needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a> {
    /// Rate-limit buckets (engine-wide).
    pub limiter: &'a RateLimiter,
    /// Realm of the application.
    pub realm: &'a str,
    /// API request.
    pub api: bool,
}

/// A rule's verdict before `negate` and rejection handling.
enum Verdict {
    Pass,
    Fail(Outcome, String),
}

/// Runs a policy's access control; the first failing node denies.
pub fn evaluate(
    policy: &CompiledPolicy,
    facts: &Facts<'_>,
    e: Evaluation<'_>,
) -> Result<(), Box<Denial>> {
    policy
        .access
        .iter()
        .try_for_each(|n| eval_node(n, facts, e))
}

fn eval_node(node: &Node, facts: &Facts<'_>, e: Evaluation<'_>) -> Result<(), Box<Denial>> {
    match node {
        Node::Rule(rule) => eval_rule(rule, facts, e),
        Node::Set {
            all: true,
            children,
        } => children.iter().try_for_each(|n| eval_node(n, facts, e)),
        Node::Set {
            all: false,
            children,
        } => {
            let mut last = None;
            for n in children {
                match eval_node(n, facts, e) {
                    Ok(()) => return Ok(()),
                    Err(d) => last = Some(d),
                }
            }
            last.map_or(Ok(()), Err)
        }
    }
}

fn eval_rule(rule: &AccessRule, facts: &Facts<'_>, e: Evaluation<'_>) -> Result<(), Box<Denial>> {
    let verdict = verdict(&rule.check, facts, e);
    let (outcome, info) = match (verdict, rule.negate) {
        (Verdict::Pass, false) => return Ok(()),
        (Verdict::Fail(..), true) if !needs_identity_missing(&rule.check, facts) => return Ok(()),
        (Verdict::Fail(o, info), _) => (o, info),
        (Verdict::Pass, true) => (
            Outcome::Forbidden,
            "the request matches a denied pattern".into(),
        ),
    };
    let scope = match &rule.check {
        Check::Scope(s) if !rule.negate => Some(s.join(" ")),
        _ => None,
    };
    Err(Box::new(Denial {
        rule: rule.name.clone(),
        outcome,
        handler: rule.handler.clone(),
        info,
        scope,
        realm: e.realm.to_string(),
        api: e.api,
    }))
}

/// Without an identity a claims rule cannot pass, negated or not.
fn needs_identity_missing(check: &Check, facts: &Facts<'_>) -> bool {
    matches!(
        check,
        Check::Scope(_) | Check::Attribute(_) | Check::Client(_)
    ) && facts.identity.is_none()
}

fn forbid(passed: bool, info: &str) -> Verdict {
    if passed {
        Verdict::Pass
    } else {
        Verdict::Fail(Outcome::Forbidden, info.to_string())
    }
}

fn verdict(check: &Check, facts: &Facts<'_>, e: Evaluation<'_>) -> Verdict {
    let claims = facts.identity.map(|i| i.claims.as_ref());
    match check {
        Check::Network(nets) => forbid(
            nets.iter()
                .any(|(net, len)| crate::pipeline::forwarded::in_cidr(facts.client_ip, *net, *len)),
            "the client address is not allowed",
        ),
        Check::Time(w) => forbid(w.contains_now(), "not allowed at this time"),
        Check::Header(rows) => forbid(
            checks::headers_match(rows, facts.headers),
            "a required request header is missing or different",
        ),
        Check::Parameter(rows) => forbid(
            checks::parameters_match(rows, facts),
            "a required request parameter is missing or different",
        ),
        Check::Method(methods) => {
            forbid(methods.contains(facts.method), "the method is not allowed")
        }
        Check::Scope(s) => match claims {
            Some(c) if claims::has_scopes(c, s) => Verdict::Pass,
            _ => Verdict::Fail(
                Outcome::Forbidden,
                format!("insufficient scope: {}", s.join(" ")),
            ),
        },
        Check::Attribute(rows) => forbid(
            claims.is_some_and(|c| claims::attributes_match(c, rows)),
            "a required attribute is missing or different",
        ),
        Check::Client(ids) => forbid(
            claims.is_some_and(|c| claims::client_matches(c, ids)),
            "the client is not allowed",
        ),
        Check::Rate(limit) => match e.limiter.acquire(limit, facts) {
            Ok(()) => Verdict::Pass,
            Err(retry_after) => Verdict::Fail(
                Outcome::RateLimited { retry_after },
                "too many requests".into(),
            ),
        },
        Check::Cors(c) => forbid(
            c.request_allowed(facts.headers, facts.own_origin),
            "the origin is not allowed",
        ),
        Check::WebSocket(w) => forbid(
            w.allows(facts.headers, facts.own_origin),
            "the WebSocket handshake is not allowed",
        ),
        Check::Redirect { status, url } => Verdict::Fail(
            Outcome::Redirect {
                status: *status,
                url: url.clone(),
            },
            String::new(),
        ),
        Check::Reject => Verdict::Fail(Outcome::Forbidden, "access is denied".into()),
    }
}

#[cfg(test)]
mod tests;
