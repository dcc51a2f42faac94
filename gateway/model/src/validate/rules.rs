//! Checks of rules, rule sets, rejection handlers, the policies that reference them, global
//! unprotected resources and host redirects.

use std::collections::{HashMap, HashSet};

use super::{covers_reserved, valid_virtual_host};
use crate::document::ConfigDocument;
use crate::objects::{Policy, PolicyItem};
use crate::problem::Problems;
use crate::rules::sets::ElementType;
use crate::rules::{Rule, TypedRule};

/// Everything this module checks, except policies (checked where they appear).
pub(super) fn check(doc: &ConfigDocument, p: &mut Problems) {
    check_rules(doc, p);
    check_rule_sets(doc, p);
    check_handlers(doc, p);
    check_globals(doc, p);
    check_redirects(doc, p);
}

fn check_rules(doc: &ConfigDocument, p: &mut Problems) {
    for (i, r) in doc.rules.iter().enumerate() {
        if r.name.trim().is_empty() {
            p.push(format!("rules[{i}].name"), "must not be empty");
        }
        let typed = match r.typed() {
            Ok(t) => t,
            Err(why) => {
                p.push(format!("rules[{i}].type"), why);
                continue;
            }
        };
        for (field, why) in typed.problems() {
            p.push(format!("rules[{i}].configuration.{field}"), why);
        }
        if let Some(h) = typed.rejection_handler_id() {
            if !doc.rejection_handlers.iter().any(|x| x.id == h) {
                p.push(
                    format!("rules[{i}].configuration.rejectionHandlerId"),
                    format!("no rejection handler with id {h}"),
                );
            }
        } else if matches!(typed, TypedRule::Rejection(_)) {
            p.push(
                format!("rules[{i}].configuration.rejectionHandlerId"),
                "must name a rejection handler",
            );
        }
    }
}

fn check_rule_sets(doc: &ConfigDocument, p: &mut Problems) {
    for (i, s) in doc.rule_sets.iter().enumerate() {
        if s.name.trim().is_empty() {
            p.push(format!("ruleSets[{i}].name"), "must not be empty");
        }
        if s.policy.is_empty() {
            p.push(
                format!("ruleSets[{i}].policy"),
                "needs at least one element",
            );
        }
        for (j, id) in s.policy.iter().enumerate() {
            let found = match s.element_type {
                ElementType::Rule => doc.rules.iter().any(|r| r.id == *id),
                ElementType::RuleSet => doc.rule_sets.iter().any(|r| r.id == *id),
            };
            if !found {
                let what = match s.element_type {
                    ElementType::Rule => "rule",
                    ElementType::RuleSet => "rule set",
                };
                p.push(
                    format!("ruleSets[{i}].policy[{j}]"),
                    format!("no {what} with id {id}"),
                );
            }
        }
        if reaches_itself(doc, s.id) {
            p.push(
                format!("ruleSets[{i}].policy"),
                format!("rule set {} contains itself", s.id),
            );
        } else if height(doc, s.id, &mut HashMap::new()) > MAX_NESTING {
            p.push(
                format!("ruleSets[{i}].policy"),
                format!("rule sets nest more than {MAX_NESTING} levels deep"),
            );
        } else if expanded_size(doc, s.id, &mut HashMap::new()) > MAX_EXPANDED {
            p.push(
                format!("ruleSets[{i}].policy"),
                format!("expands to more than {MAX_EXPANDED} rules through nested rule sets"),
            );
        }
    }
}

/// Deepest nesting of rule sets the engine evaluates.
const MAX_NESTING: usize = 32;

/// Most rules one rule set may expand to (sets shared by several parents count each time).
const MAX_EXPANDED: usize = 10_000;

/// Rules reached from rule set `id`, counting shared sets once per use (memoised; call only on
/// sets without cycles).
fn expanded_size(doc: &ConfigDocument, id: u64, memo: &mut HashMap<u64, usize>) -> usize {
    if let Some(n) = memo.get(&id) {
        return *n;
    }
    let Some(set) = doc.rule_sets.iter().find(|s| s.id == id) else {
        return 0;
    };
    let n = match set.element_type {
        ElementType::Rule => set.policy.len(),
        ElementType::RuleSet => set.policy.iter().fold(0usize, |acc, c| {
            acc.saturating_add(expanded_size(doc, *c, memo))
        }),
    };
    memo.insert(id, n);
    n
}

/// Levels of rule sets below rule set `id` (memoised; call only on sets without cycles).
fn height(doc: &ConfigDocument, id: u64, memo: &mut HashMap<u64, usize>) -> usize {
    if let Some(h) = memo.get(&id) {
        return *h;
    }
    let h = children_sets(doc, id)
        .into_iter()
        .map(|c| height(doc, c, memo) + 1)
        .max()
        .unwrap_or(0);
    memo.insert(id, h);
    h
}

/// True when rule set `start` is reachable from its own elements.
fn reaches_itself(doc: &ConfigDocument, start: u64) -> bool {
    let mut seen = HashSet::new();
    let mut stack = children_sets(doc, start);
    while let Some(id) = stack.pop() {
        if id == start {
            return true;
        }
        if seen.insert(id) {
            stack.extend(children_sets(doc, id));
        }
    }
    false
}

fn children_sets(doc: &ConfigDocument, id: u64) -> Vec<u64> {
    doc.rule_sets
        .iter()
        .find(|s| s.id == id && s.element_type == ElementType::RuleSet)
        .map(|s| s.policy.clone())
        .unwrap_or_default()
}

fn check_handlers(doc: &ConfigDocument, p: &mut Problems) {
    for (i, h) in doc.rejection_handlers.iter().enumerate() {
        if h.name.trim().is_empty() {
            p.push(format!("rejectionHandlers[{i}].name"), "must not be empty");
        }
        match h.typed() {
            Ok(t) => {
                for (field, why) in t.problems() {
                    p.push(format!("rejectionHandlers[{i}].configuration.{field}"), why);
                }
            }
            Err(why) => p.push(format!("rejectionHandlers[{i}].type"), why),
        }
    }
}

/// The rules a policy list reaches, through rule sets, in order (each set once).
pub(super) fn rules_of<'d>(doc: &'d ConfigDocument, items: &[PolicyItem]) -> Vec<&'d Rule> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in items {
        match item.kind.as_str() {
            "Rule" => out.extend(doc.rules.iter().find(|r| r.id == item.id)),
            _ => collect_set(doc, item.id, &mut seen, &mut out),
        }
    }
    out
}

fn collect_set<'d>(
    doc: &'d ConfigDocument,
    id: u64,
    seen: &mut HashSet<u64>,
    out: &mut Vec<&'d Rule>,
) {
    let Some(set) = doc.rule_sets.iter().find(|s| s.id == id) else {
        return;
    };
    if !seen.insert(id) {
        return;
    }
    for e in &set.policy {
        match set.element_type {
            ElementType::Rule => out.extend(doc.rules.iter().find(|r| r.id == *e)),
            ElementType::RuleSet => collect_set(doc, *e, seen, out),
        }
    }
}

/// Checks an application's or resource's policy: references exist, OAuth rules only in `API`,
/// web-session rules only in `Web`,
/// at most one `Cors` rule per list.
pub(super) fn check_policy(doc: &ConfigDocument, policy: &Policy, at: &str, p: &mut Problems) {
    for (kind, items) in [("Web", &policy.web), ("API", &policy.api)] {
        for (j, item) in items.iter().enumerate() {
            let field = format!("{at}.policy.{kind}[{j}]");
            match item.kind.as_str() {
                "Rule" if doc.rules.iter().any(|r| r.id == item.id) => {}
                "Rule" => p.push(field, format!("no rule with id {}", item.id)),
                "RuleSet" if doc.rule_sets.iter().any(|r| r.id == item.id) => {}
                "RuleSet" => p.push(field, format!("no rule set with id {}", item.id)),
                other => p.push(
                    format!("{field}.type"),
                    format!("'{other}' is not 'Rule' or 'RuleSet'"),
                ),
            }
        }
        let rules = rules_of(doc, items);
        let typed: Vec<TypedRule> = rules.iter().filter_map(|r| r.typed().ok()).collect();
        if kind == "Web" {
            for r in rules
                .iter()
                .filter(|r| r.typed().is_ok_and(|t| t.needs_token()))
            {
                p.push(
                    format!("{at}.policy.Web"),
                    format!(
                        "rule '{}' checks a bearer token and can only be used in an API policy",
                        r.name
                    ),
                );
            }
        }
        if kind == "API" {
            for r in rules
                .iter()
                .filter(|r| r.typed().is_ok_and(|t| t.needs_session()))
            {
                p.push(
                    format!("{at}.policy.API"),
                    format!(
                        "rule '{}' checks a web session and can only be used in a Web policy",
                        r.name
                    ),
                );
            }
        }
        if typed
            .iter()
            .filter(|t| matches!(t, TypedRule::Cors(_)))
            .count()
            > 1
        {
            p.push(
                format!("{at}.policy.{kind}"),
                "at most one Cors rule per policy",
            );
        }
    }
}

fn check_globals(doc: &ConfigDocument, p: &mut Problems) {
    let mut ids = HashSet::new();
    let reserved = &doc.reserved_application.context_root;
    for (i, g) in doc.global_unprotected_resources.iter().enumerate() {
        let at = format!("globalUnprotectedResources[{i}]");
        if g.id.trim().is_empty() || !ids.insert(g.id.as_str()) {
            p.push(format!("{at}.id"), "must be a unique, non-empty string");
        }
        if g.name.trim().is_empty() {
            p.push(format!("{at}.name"), "must not be empty");
        }
        if !g.wildcard_path.starts_with('/') {
            p.push(format!("{at}.wildcardPath"), "must start with '/'");
        } else if covers_reserved(&g.wildcard_path, reserved) {
            p.push(
                format!("{at}.wildcardPath"),
                format!("would cover the reserved path '{reserved}'"),
            );
        }
    }
}

fn check_redirects(doc: &ConfigDocument, p: &mut Problems) {
    let mut ids = HashSet::new();
    let mut sources = HashSet::new();
    for (i, r) in doc.redirects.iter().enumerate() {
        let at = format!("redirects[{i}]");
        if r.id.trim().is_empty() || !ids.insert(r.id.as_str()) {
            p.push(format!("{at}.id"), "must be a unique, non-empty string");
        }
        for (field, host) in [
            ("source.host", &r.source.host),
            ("target.host", &r.target.host),
        ] {
            if host.contains('*') || !valid_virtual_host(host) {
                p.push(
                    format!("{at}.{field}"),
                    format!("'{host}' is not a host name"),
                );
            }
        }
        if ![301, 302, 307, 308].contains(&r.response_code) {
            p.push(format!("{at}.responseCode"), "must be 301, 302, 307 or 308");
        }
        let source = (r.source.host.to_ascii_lowercase(), r.source.port);
        if source == (r.target.host.to_ascii_lowercase(), r.target.port) {
            p.push(format!("{at}.target"), "redirects to itself");
        }
        if !sources.insert(source) {
            p.push(
                format!("{at}.source"),
                "another redirect has the same source",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::PolicyItem;
    use crate::rules::sets::RuleSet;
    use serde_json::json;

    fn doc() -> ConfigDocument {
        let rule = |id, kind: &str, c| Rule {
            id,
            name: format!("rule {id}"),
            kind: kind.into(),
            configuration: c,
        };
        ConfigDocument {
            rules: vec![
                rule(1, "HttpMethod", json!({"methods": ["GET"]})),
                rule(2, "OAuthScope", json!({"scope": "read"})),
                rule(3, "Cors", json!({"allowedOrigins": ["https://a.test"]})),
            ],
            rule_sets: vec![
                RuleSet {
                    id: 10,
                    name: "a".into(),
                    success_criteria: Default::default(),
                    element_type: ElementType::RuleSet,
                    policy: vec![11],
                },
                RuleSet {
                    id: 11,
                    name: "b".into(),
                    success_criteria: Default::default(),
                    element_type: ElementType::RuleSet,
                    policy: vec![10],
                },
            ],
            ..ConfigDocument::default()
        }
    }

    #[test]
    fn rule_set_cycles_are_found() {
        let mut p = Problems::default();
        check_rule_sets(&doc(), &mut p);
        assert_eq!(
            p.0.iter()
                .filter(|x| x.message.contains("contains itself"))
                .count(),
            2,
            "{p}"
        );
    }

    #[test]
    fn oauth_rules_are_refused_in_web_policies_and_cors_at_most_once() {
        let item = |id| PolicyItem {
            kind: "Rule".into(),
            id,
        };
        let policy = Policy {
            web: vec![item(1), item(2)],
            api: vec![item(3), item(3), item(2)],
        };
        let mut p = Problems::default();
        check_policy(&doc(), &policy, "applications[0]", &mut p);
        let text = p.to_string();
        assert!(
            text.contains("policy.Web: rule 'rule 2' checks a bearer token"),
            "{text}"
        );
        assert!(text.contains("policy.API: at most one Cors rule"), "{text}");
        assert_eq!(p.0.len(), 2, "{text}");
    }
}
