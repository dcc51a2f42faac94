//! Access-control policy cost through `policy::evaluate`, with the request facts built per request:
//!
//! - `policy_eval/{1,10,50}`: 1, 10 and 50 rules that all pass, so evaluation walks every rule.
//!   They cycle through `NetworkRange`, `HttpMethod`, `HttpRequestHeader` (a `*` wildcard),
//!   `HttpRequestParameter` (query), `TimeRange`, `OAuthScope` and `OAuthAttribute`;
//! - `policy_rule/<type>`: one passing rule of each of those types alone;
//! - `policy_rule_set/any_of_10`: one `SuccessIfAnyOneSucceeds` set of 10 rules where only the
//!   last passes (nine denials built and dropped);
//! - `policy_rate_limit/{subject,ip}`: one `RateLimiting` rule whose burst is so large that every
//!   request passes (beyond the one-hour window validation accepts; the compiler does not
//!   re-check), per subject (the default) and per client IP.

use std::hint::black_box;
use std::net::IpAddr;

use anyhow::{anyhow, bail};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_gateway::oauth::Identity;
use gatehouse_gateway::policy::compile::PolicyCompiler;
use gatehouse_gateway::policy::rate::RateLimiter;
use gatehouse_gateway::policy::{evaluate, CompiledPolicy, Evaluation, Facts, Node};
use gatehouse_model::objects::{Policy, PolicyItem};
use gatehouse_model::rules::sets::{ElementType, RuleSet, SuccessCriteria};
use gatehouse_model::rules::Rule;
use gatehouse_model::{ConfigDocument, Problems};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

/// The rule types of the passing mix, in the order they cycle.
const MIX: [&str; 7] = [
    "NetworkRange",
    "HttpMethod",
    "HttpRequestHeader",
    "HttpRequestParameter",
    "TimeRange",
    "OAuthScope",
    "OAuthAttribute",
];

/// The configuration of a rule of type `kind` that the benchmark request passes (or fails).
fn configuration(kind: &str, pass: bool) -> anyhow::Result<Value> {
    Ok(match (kind, pass) {
        // The client is in the last range: every range is tried.
        ("NetworkRange", true) => json!({"cidrNotation":
            ["10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32", "192.168.0.0/16"]}),
        ("NetworkRange", false) => json!({"cidrNotation":
            ["10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32", "100.64.0.0/10"]}),
        ("HttpMethod", true) => json!({"methods": ["POST", "PUT", "GET"]}),
        ("HttpMethod", false) => json!({"methods": ["DELETE", "PATCH"]}),
        ("HttpRequestHeader", true) => {
            json!({"headers": [{"name": "User-Agent", "value": "Mozilla/5.0*Firefox/*"}]})
        }
        ("HttpRequestHeader", false) => {
            json!({"headers": [{"name": "User-Agent", "value": "curl/*"}]})
        }
        ("HttpRequestParameter", true) => {
            json!({"parameters": [{"name": "tenant", "value": "acme"}]})
        }
        ("HttpRequestParameter", false) => {
            json!({"parameters": [{"name": "tenant", "value": "globex"}]})
        }
        ("TimeRange", true) => {
            json!({"startTime": "00:00", "endTime": "24:00", "timeZone": "Europe/Paris"})
        }
        ("OAuthScope", true) => json!({"scope": "orders:read"}),
        ("OAuthScope", false) => json!({"scope": "orders:admin"}),
        ("OAuthAttribute", true) => {
            json!({"attributes": [{"name": "realm_access.roles", "value": "auditor"}]})
        }
        ("OAuthAttribute", false) => {
            json!({"attributes": [{"name": "realm_access.roles", "value": "admin"}]})
        }
        _ => bail!(
            "no {} configuration for {kind}",
            if pass { "passing" } else { "failing" }
        ),
    })
}

fn rule(id: u64, kind: &str, configuration: Value) -> Rule {
    Rule {
        id,
        name: format!("{kind} {id}"),
        kind: kind.to_string(),
        configuration,
    }
}

fn item(kind: &str, id: u64) -> PolicyItem {
    PolicyItem {
        kind: kind.to_string(),
        id,
    }
}

/// Compiles `doc` and returns the API policy made of `items`, refusing any compile problem.
fn compile(doc: &ConfigDocument, items: Vec<PolicyItem>) -> anyhow::Result<CompiledPolicy> {
    let mut problems = Problems::default();
    let compiler = PolicyCompiler::new(doc, &mut problems);
    if !problems.is_empty() {
        bail!("the rules do not compile: {problems:?}");
    }
    for (i, r) in doc.rules.iter().enumerate() {
        let problems = r.typed().map_err(|e| anyhow!(e))?.problems();
        if !problems.is_empty() && r.kind != "RateLimiting" {
            bail!("rules[{i}] is invalid: {problems:?}");
        }
    }
    let policy = Policy {
        web: Vec::new(),
        api: items,
    };
    Ok(compiler.policies(&policy).api)
}

/// A policy of `n` passing rules cycling through [`MIX`].
fn passing_policy(n: usize) -> anyhow::Result<CompiledPolicy> {
    let mut doc = ConfigDocument::default();
    for (i, kind) in MIX.iter().cycle().take(n).enumerate() {
        doc.rules
            .push(rule(i as u64 + 1, kind, configuration(kind, true)?));
    }
    let items = doc.rules.iter().map(|r| item("Rule", r.id)).collect();
    let policy = compile(&doc, items)?;
    if policy.access.len() != n {
        bail!("{n} rules compiled into {} nodes", policy.access.len());
    }
    Ok(policy)
}

/// One `SuccessIfAnyOneSucceeds` set of `n` rules: `n - 1` failing ones, then a passing one.
fn any_of_policy(n: usize) -> anyhow::Result<CompiledPolicy> {
    // `TimeRange` has no failing configuration that holds at every hour of every day.
    let failing = MIX.iter().filter(|k| **k != "TimeRange").cycle();
    let mut doc = ConfigDocument::default();
    for (i, kind) in failing.take(n - 1).enumerate() {
        doc.rules
            .push(rule(i as u64 + 1, kind, configuration(kind, false)?));
    }
    doc.rules.push(rule(
        n as u64,
        "OAuthScope",
        configuration("OAuthScope", true)?,
    ));
    doc.rule_sets.push(RuleSet {
        id: 1000,
        name: "any of".into(),
        success_criteria: SuccessCriteria::SuccessIfAnyOneSucceeds,
        element_type: ElementType::Rule,
        policy: doc.rules.iter().map(|r| r.id).collect(),
    });
    let policy = compile(&doc, vec![item("RuleSet", 1000)])?;
    match policy.access.as_slice() {
        [Node::Set {
            all: false,
            children,
        }] if children.len() == n => Ok(policy),
        other => bail!("the rule set compiled into {other:?}"),
    }
}

/// One `RateLimiting` rule no request exhausts (a bucket of 10^12 requests, 1 ms each).
fn rate_policy(granularity: &str) -> anyhow::Result<CompiledPolicy> {
    let mut doc = ConfigDocument::default();
    doc.rules.push(rule(
        1,
        "RateLimiting",
        json!({"maxBurstRequests": 1_000_000_000_000u64, "requestIntervalMs": 1,
               "policyGranularity": granularity}),
    ));
    compile(&doc, vec![item("Rule", 1)])
}

fn policy_benches(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("policy benches skipped, set-up failed: {e:#}");
    }
}

fn run(c: &mut Criterion) -> anyhow::Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("app.example.com"));
    headers.insert(
        "user-agent",
        HeaderValue::from_static(
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ),
    );
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer abc.def.ghi"),
    );
    headers.insert(
        "x-request-id",
        HeaderValue::from_static("5f0c6c1e-9f1a-4d1b"),
    );
    let method = Method::GET;
    let claims = json!({
        "sub": "alice",
        "iss": "https://idp.example.com",
        "aud": "orders",
        "client_id": "web-app",
        "scope": "openid profile orders:read orders:write",
        "realm_access": {"roles": ["user", "auditor"]},
        "tier": 3,
    });
    let Value::Object(claims) = claims else {
        bail!("the claims are not an object");
    };
    let identity = Identity::new("alice".into(), claims, None);
    // Built per request, as the pipeline does (parameters are decoded once per request).
    let new_facts = || Facts {
        method: &method,
        headers: &headers,
        query: Some("tenant=acme&page=2&sort=created_at"),
        form: None,
        client_ip: IpAddr::from([192, 168, 1, 20]),
        identity: Some(&identity),
        app_id: 7,
        own_origin: "https://app.example.com",
        params: Default::default(),
    };
    let facts = new_facts();
    let limiter = RateLimiter::default();
    let eval = Evaluation {
        limiter: &limiter,
        realm: "bench",
        api: true,
    };
    let passes = |policy: &CompiledPolicy, what: &str| match evaluate(policy, &facts, eval) {
        Ok(()) => Ok(()),
        Err(d) => Err(anyhow!("{what}: denied by '{}': {}", d.rule, d.info)),
    };

    let mut group = c.benchmark_group("policy_eval");
    for n in [1usize, 10, 50] {
        let policy = passing_policy(n)?;
        passes(&policy, &format!("{n} rules"))?;
        group.bench_with_input(BenchmarkId::from_parameter(n), &policy, |b, policy| {
            b.iter(|| black_box(evaluate(black_box(policy), black_box(&new_facts()), eval).is_ok()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("policy_rule");
    for kind in MIX {
        let mut doc = ConfigDocument::default();
        doc.rules.push(rule(1, kind, configuration(kind, true)?));
        let policy = compile(&doc, vec![item("Rule", 1)])?;
        passes(&policy, kind)?;
        group.bench_with_input(BenchmarkId::from_parameter(kind), &policy, |b, policy| {
            b.iter(|| black_box(evaluate(black_box(policy), black_box(&new_facts()), eval).is_ok()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("policy_rule_set");
    let policy = any_of_policy(10)?;
    passes(&policy, "rule set")?;
    group.bench_function("any_of_10", |b| {
        b.iter(|| black_box(evaluate(black_box(&policy), black_box(&new_facts()), eval).is_ok()))
    });
    group.finish();

    let mut group = c.benchmark_group("policy_rate_limit");
    let mut denied = 0u64;
    for (name, granularity) in [("subject", "Subject"), ("ip", "IP")] {
        let policy = rate_policy(granularity)?;
        passes(&policy, "rate limit")?;
        group.bench_function(name, |b| {
            b.iter(|| {
                let allowed = evaluate(black_box(&policy), black_box(&new_facts()), eval).is_ok();
                denied += u64::from(!allowed);
                black_box(allowed)
            })
        });
    }
    group.finish();
    if denied > 0 {
        eprintln!("warning: the rate limit denied {denied} requests; its numbers include denials");
    }
    Ok(())
}

criterion_group!(benches, policy_benches);
criterion_main!(benches);
