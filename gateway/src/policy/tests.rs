//! Evaluation order, rule sets, negation and rejection of compiled policies.

use gatehouse_model::objects::{Policy, PolicyItem};
use gatehouse_model::rules::sets::{ElementType, RejectionHandler, RuleSet, SuccessCriteria};
use gatehouse_model::rules::Rule;
use gatehouse_model::{ConfigDocument, Problems};
use http::{HeaderMap, Method};
use serde_json::{json, Value};

use super::compile::PolicyCompiler;
use super::rate::RateLimiter;
use super::*;

fn rule(id: u64, kind: &str, configuration: Value) -> Rule {
    Rule {
        id,
        name: format!("rule {id}"),
        kind: kind.into(),
        configuration,
    }
}

fn set(id: u64, all: bool, element_type: ElementType, policy: &[u64]) -> RuleSet {
    RuleSet {
        id,
        name: format!("set {id}"),
        success_criteria: if all {
            SuccessCriteria::SuccessIfAllSucceed
        } else {
            SuccessCriteria::SuccessIfAnyOneSucceeds
        },
        element_type,
        policy: policy.to_vec(),
    }
}

/// Rules 1 (GET only), 2 (POST only), 3 (from 10.0.0.0/8), 4 (not from 10.0.0.0/8, negated),
/// 5 (rejection with handler 9), 6 (rewrite), 7 (header X-Team: blue*).
fn doc() -> ConfigDocument {
    ConfigDocument {
        rules: vec![
            rule(1, "HttpMethod", json!({"methods": ["GET"]})),
            rule(2, "HttpMethod", json!({"methods": ["POST"]})),
            rule(
                3,
                "NetworkRange",
                json!({"cidrNotation": ["10.0.0.0/8", "2001:db8::/32"]}),
            ),
            rule(
                4,
                "NetworkRange",
                json!({"cidrNotation": "10.0.0.0/8", "negate": true}),
            ),
            rule(5, "Rejection", json!({"rejectionHandlerId": 9})),
            rule(6, "RewriteUrl", json!({"mapFrom": "^/a", "mapTo": "/b"})),
            rule(
                7,
                "HttpRequestHeader",
                json!({"headers": [{"name": "x-team", "value": "blue*"}]}),
            ),
        ],
        rule_sets: vec![
            set(20, false, ElementType::Rule, &[2, 6, 1]),
            set(21, true, ElementType::Rule, &[1, 3]),
            set(22, false, ElementType::RuleSet, &[21, 20]),
        ],
        rejection_handlers: vec![RejectionHandler {
            id: 9,
            name: "teapot".into(),
            kind: "ErrorTemplate".into(),
            configuration: json!({"responseCode": 418, "contentType": "JSON"}),
        }],
        ..ConfigDocument::default()
    }
}

fn policy(items: &[(&str, u64)]) -> CompiledPolicy {
    let doc = doc();
    let mut problems = Problems::default();
    let compiler = PolicyCompiler::new(&doc, &mut problems);
    assert!(problems.is_empty(), "{problems}");
    let api = items
        .iter()
        .map(|(kind, id)| PolicyItem {
            kind: kind.to_string(),
            id: *id,
        })
        .collect();
    compiler
        .policies(&Policy {
            web: Vec::new(),
            api,
        })
        .api
}

fn run(
    p: &CompiledPolicy,
    method: Method,
    ip: &str,
    headers: HeaderMap,
) -> Result<(), Box<Denial>> {
    let limiter = RateLimiter::new(16);
    let facts = Facts {
        method: &method,
        headers: &headers,
        query: None,
        form: None,
        client_ip: ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        identity: None,
        app_id: 1,
        own_origin: "https://gw.test",
        params: Default::default(),
    };
    evaluate(
        p,
        &facts,
        Evaluation {
            limiter: &limiter,
            realm: "r",
            api: true,
        },
    )
}

#[test]
fn the_first_failing_rule_denies_in_order() {
    let p = policy(&[("Rule", 1), ("Rule", 3)]);
    assert!(run(&p, Method::GET, "10.1.2.3", HeaderMap::new()).is_ok());
    let d = run(&p, Method::POST, "192.0.2.1", HeaderMap::new()).unwrap_err();
    assert_eq!(d.rule, "rule 1", "method is checked before the network");
    let d = run(&p, Method::GET, "192.0.2.1", HeaderMap::new()).unwrap_err();
    assert_eq!(d.rule, "rule 3");
    assert!(
        run(&p, Method::GET, "2001:db8::7", HeaderMap::new()).is_ok(),
        "IPv6 ranges"
    );
}

#[test]
fn negate_inverts_the_outcome() {
    let p = policy(&[("Rule", 4)]);
    assert!(run(&p, Method::GET, "192.0.2.1", HeaderMap::new()).is_ok());
    assert!(run(&p, Method::GET, "10.0.0.1", HeaderMap::new()).is_err());
}

#[test]
fn any_sets_pass_on_one_success_and_processing_rules_are_collected() {
    let p = policy(&[("RuleSet", 20)]);
    assert_eq!(
        p.processing.len(),
        1,
        "the rewrite in the set always applies"
    );
    assert!(run(&p, Method::GET, "192.0.2.1", HeaderMap::new()).is_ok());
    assert!(run(&p, Method::POST, "192.0.2.1", HeaderMap::new()).is_ok());
    let d = run(&p, Method::PUT, "192.0.2.1", HeaderMap::new()).unwrap_err();
    assert_eq!(d.rule, "rule 1", "an Any set answers with its last failure");
}

#[test]
fn nested_sets_combine_all_and_any() {
    // 22 = Any(21 = All(GET, 10/8), 20 = Any(POST, GET)) — i.e. GET or POST from anywhere.
    let p = policy(&[("RuleSet", 22)]);
    assert!(run(&p, Method::GET, "10.0.0.1", HeaderMap::new()).is_ok());
    assert!(run(&p, Method::POST, "192.0.2.1", HeaderMap::new()).is_ok());
    assert!(run(&p, Method::DELETE, "10.0.0.1", HeaderMap::new()).is_err());
    let all = policy(&[("RuleSet", 21)]);
    assert!(run(&all, Method::GET, "192.0.2.1", HeaderMap::new()).is_err());
}

#[test]
fn rejection_rules_carry_their_handler_and_headers_match_wildcards() {
    let p = policy(&[("Rule", 5)]);
    let d = run(&p, Method::GET, "10.0.0.1", HeaderMap::new()).unwrap_err();
    assert!(matches!(
        d.handler.as_deref(),
        Some(Handler::Template { status, json: true, .. }) if status.as_u16() == 418
    ));
    let p = policy(&[("Rule", 7)]);
    let mut h = HeaderMap::new();
    h.insert("X-Team", http::HeaderValue::from_static("BlueBirds"));
    assert!(
        run(&p, Method::GET, "10.0.0.1", h).is_ok(),
        "values fold case by default"
    );
    assert!(run(&p, Method::GET, "10.0.0.1", HeaderMap::new()).is_err());
}
