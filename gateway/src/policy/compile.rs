//! Compiles the rules, rule sets and rejection handlers of a validated document into the
//! policies of applications and resources.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_model::objects::{Policy, PolicyItem};
use gatehouse_model::rules::sets::{ElementType, SuccessCriteria, TypedHandler};
use gatehouse_model::rules::TypedRule;
use gatehouse_model::{ConfigDocument, Problems};
use http::{Method, StatusCode};

use super::checks::{Rows, TimeWindow, WebSocketCheck};
use super::cors::Cors;
use super::rate::RateLimit;
use super::rewrite::Processing;
use super::{AccessRule, Check, CompiledPolicy, CorsPolicy, Handler, Node, Policies};

/// Rule sets nested deeper than this are ignored (validation already refuses cycles).
const MAX_DEPTH: usize = 32;

#[derive(Debug)]
enum Compiled {
    Access(Arc<AccessRule>),
    Processing(Arc<Processing>),
}

/// Every rule and handler of a document, compiled once and shared by the policies using them.
#[derive(Debug)]
pub struct PolicyCompiler<'d> {
    doc: &'d ConfigDocument,
    rules: HashMap<u64, Compiled>,
}

impl<'d> PolicyCompiler<'d> {
    /// Compiles the document's rules; what only compiling finds (time zones) goes to `problems`.
    pub fn new(doc: &'d ConfigDocument, problems: &mut Problems) -> Self {
        let handlers: HashMap<u64, Arc<Handler>> = doc
            .rejection_handlers
            .iter()
            .filter_map(|h| Some((h.id, Arc::new(handler(h.typed().ok()?)))))
            .collect();
        let mut rules = HashMap::new();
        for (i, r) in doc.rules.iter().enumerate() {
            let Ok(typed) = r.typed() else { continue };
            let handler = typed
                .rejection_handler_id()
                .and_then(|id| handlers.get(&id).cloned());
            match compile_rule(r.id, &r.name, &typed, handler) {
                Ok(c) => {
                    rules.insert(r.id, c);
                }
                Err((field, why)) => {
                    problems.push(format!("rules[{i}].configuration.{field}"), why)
                }
            }
        }
        Self { doc, rules }
    }

    /// The web and API policies of an application or resource.
    pub fn policies(&self, policy: &Policy) -> Policies {
        Policies {
            web: self.policy(&policy.web),
            api: self.policy(&policy.api),
        }
    }

    fn policy(&self, items: &[PolicyItem]) -> CompiledPolicy {
        let mut out = CompiledPolicy::default();
        for item in items {
            let node = match item.kind.as_str() {
                "Rule" => self.rule_node(item.id, &mut out),
                _ => self.set_node(item.id, 0, &mut out),
            };
            out.access.extend(node);
        }
        out
    }

    fn rule_node(&self, id: u64, out: &mut CompiledPolicy) -> Option<Node> {
        match self.rules.get(&id)? {
            Compiled::Processing(p) => {
                // A rule reached twice (two sets listing it) still runs once.
                if !out.processing.iter().any(|q| Arc::ptr_eq(q, p)) {
                    out.processing.push(p.clone());
                }
                None
            }
            Compiled::Access(rule) => {
                match &rule.check {
                    Check::Cors(c) => {
                        out.cors = Some(CorsPolicy {
                            cors: c.clone(),
                            handler: rule.handler.clone(),
                        })
                    }
                    Check::Parameter(_) => out.needs_form = true,
                    _ => {}
                }
                Some(Node::Rule(rule.clone()))
            }
        }
    }

    fn set_node(&self, id: u64, depth: usize, out: &mut CompiledPolicy) -> Option<Node> {
        let set = self.doc.rule_sets.iter().find(|s| s.id == id)?;
        if depth > MAX_DEPTH {
            // Validation refuses this; should it ever get here, fail closed.
            return Some(Node::Rule(Arc::new(AccessRule {
                name: set.name.clone(),
                check: Check::Reject,
                negate: false,
                handler: None,
            })));
        }
        let children: Vec<Node> = set
            .policy
            .iter()
            .filter_map(|e| match set.element_type {
                ElementType::Rule => self.rule_node(*e, out),
                ElementType::RuleSet => self.set_node(*e, depth + 1, out),
            })
            .collect();
        // A set of processing rules only has no access-control part.
        (!children.is_empty()).then_some(Node::Set {
            all: set.success_criteria == SuccessCriteria::SuccessIfAllSucceed,
            children,
        })
    }
}

fn handler(typed: TypedHandler) -> Handler {
    match typed {
        TypedHandler::ErrorTemplate(t) => {
            let status = StatusCode::from_u16(t.response_code).unwrap_or(StatusCode::FORBIDDEN);
            Handler::Template {
                status,
                json: t.content_type == gatehouse_model::rules::sets::TemplateContentType::Json,
                message: t.message.unwrap_or_else(|| default_message(status).into()),
                template: t.template,
            }
        }
        TypedHandler::Redirect(r) => Handler::Redirect {
            status: StatusCode::from_u16(r.response_code).unwrap_or(StatusCode::FOUND),
            url: r.url,
        },
    }
}

/// The message of a gateway page for a status.
pub fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "Too many requests; try again later.",
        401 => "Authentication is required.",
        _ => "Access to this resource is denied.",
    }
}

fn access(name: &str, check: Check, negate: bool, handler: Option<Arc<Handler>>) -> Compiled {
    Compiled::Access(Arc::new(AccessRule {
        name: name.to_string(),
        check,
        negate,
        handler,
    }))
}

fn regex(pattern: &str) -> Result<regex::Regex, (String, String)> {
    regex::Regex::new(pattern).map_err(|e| ("mapFrom".into(), e.to_string()))
}

fn compile_rule(
    id: u64,
    name: &str,
    typed: &TypedRule,
    h: Option<Arc<Handler>>,
) -> Result<Compiled, (String, String)> {
    use gatehouse_model::validate::parse_cidr;
    Ok(match typed {
        TypedRule::NetworkRange(r) => access(
            name,
            Check::Network(
                r.cidr_notation
                    .to_vec()
                    .iter()
                    .filter_map(|c| parse_cidr(c))
                    .collect(),
            ),
            r.negate,
            h,
        ),
        TypedRule::TimeRange(r) => {
            let window = TimeWindow::compile(r).map_err(|e| ("timeZone".to_string(), e))?;
            access(name, Check::Time(window), r.negate, h)
        }
        TypedRule::HttpRequestHeader(r) => access(
            name,
            Check::Header(Rows::new(&r.headers, r.case_sensitive)),
            r.negate,
            h,
        ),
        TypedRule::HttpRequestParameter(r) => access(
            name,
            Check::Parameter(Rows::new(&r.parameters, r.case_sensitive)),
            r.negate,
            h,
        ),
        TypedRule::HttpMethod(r) => access(
            name,
            Check::Method(
                r.methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                    .collect(),
            ),
            r.negate,
            h,
        ),
        TypedRule::OAuthScope(r) | TypedRule::WebSessionScope(r) => access(
            name,
            Check::Scope(r.scope.split_whitespace().map(str::to_string).collect()),
            r.negate,
            h,
        ),
        TypedRule::OAuthAttribute(r) | TypedRule::WebSessionAttribute(r) => {
            access(name, Check::Attribute(r.attributes.clone()), r.negate, h)
        }
        TypedRule::OAuthClient(r) => access(name, Check::Client(r.client_ids.clone()), r.negate, h),
        TypedRule::RateLimiting(r) => {
            access(name, Check::Rate(RateLimit::compile(id, r)), false, h)
        }
        TypedRule::Cors(r) => access(name, Check::Cors(Arc::new(Cors::compile(r))), false, h),
        TypedRule::WebSocketHandshake(r) => {
            access(name, Check::WebSocket(WebSocketCheck::compile(r)), false, h)
        }
        TypedRule::Redirect(r) => access(
            name,
            Check::Redirect {
                status: StatusCode::from_u16(r.response_code).unwrap_or(StatusCode::FOUND),
                url: r.url.clone(),
            },
            false,
            h,
        ),
        TypedRule::Rejection(_) => access(name, Check::Reject, false, h),
        TypedRule::RewriteUrl(r) => Compiled::Processing(Arc::new(Processing::Url {
            from: regex(&r.map_from)?,
            to: r.map_to.clone(),
        })),
        TypedRule::RewriteResponseHeader(r) => {
            Compiled::Processing(Arc::new(Processing::ResponseHeader {
                from: regex(&r.map_from)?,
                to: r.map_to.clone(),
            }))
        }
        TypedRule::RewriteCookieDomain(r) => {
            Compiled::Processing(Arc::new(Processing::CookieDomain {
                server: r
                    .server_side_domain
                    .trim_start_matches('.')
                    .to_ascii_lowercase(),
                public: r.public_domain.clone(),
            }))
        }
        TypedRule::RewriteCookiePath(r) => Compiled::Processing(Arc::new(Processing::CookiePath {
            server: r.server_side_path.clone(),
            public: r.public_path.clone(),
        })),
    })
}
