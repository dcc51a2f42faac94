//! Access-control policy (SPEC §6): the rules of an application, then of the resource, run on
//! every request against the request's identity (from the token cache or fresh); the first rule
//! that fails denies the request.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_model::objects::Policy;
use gatehouse_model::rules::{AttributeRow, TypedRule};
use gatehouse_model::ConfigDocument;
use serde_json::Value;

use crate::oauth::Identity;

/// A compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Rule name, for logs.
    pub name: String,
    /// What it checks.
    pub rule: TypedRule,
}

/// Why a request was denied.
#[derive(Debug, thiserror::Error)]
#[error("denied by rule '{rule}'")]
pub struct Denial {
    /// Name of the failing rule.
    pub rule: String,
    /// The scope a failing `OAuthScope` rule requires (for `insufficient_scope`).
    pub scope: Option<String>,
    /// Realm of the application.
    pub realm: String,
}

/// Every rule of a document, by id.
pub fn compile_rules(doc: &ConfigDocument) -> HashMap<u64, Arc<CompiledRule>> {
    doc.rules
        .iter()
        .filter_map(|r| {
            let rule = r.typed().ok()?;
            Some((
                r.id,
                Arc::new(CompiledRule {
                    name: r.name.clone(),
                    rule,
                }),
            ))
        })
        .collect()
}

/// The API rules a policy lists, in order.
pub fn api_rules(
    policy: &Policy,
    rules: &HashMap<u64, Arc<CompiledRule>>,
) -> Vec<Arc<CompiledRule>> {
    policy
        .api
        .iter()
        .filter(|item| item.kind == "Rule")
        .filter_map(|item| rules.get(&item.id).cloned())
        .collect()
}

/// Runs `rules` in order; the first failure denies.
pub fn evaluate(
    rules: &[Arc<CompiledRule>],
    identity: Option<&Identity>,
    realm: &str,
) -> Result<(), Denial> {
    for r in rules {
        if !passes(&r.rule, identity) {
            let scope = match &r.rule {
                TypedRule::OAuthScope(s) if !s.negate => Some(s.scope.clone()),
                _ => None,
            };
            return Err(Denial {
                rule: r.name.clone(),
                scope,
                realm: realm.to_string(),
            });
        }
    }
    Ok(())
}

fn passes(rule: &TypedRule, identity: Option<&Identity>) -> bool {
    let claims = identity.map(|i| i.claims.as_ref());
    let (matched, negate) = match rule {
        TypedRule::OAuthScope(s) => (
            claims.is_some_and(|c| {
                let granted = scopes(c);
                s.scope
                    .split_whitespace()
                    .all(|want| granted.contains(&want))
            }),
            s.negate,
        ),
        TypedRule::OAuthAttribute(a) => (
            claims.is_some_and(|c| a.attributes.iter().all(|row| row_matches(c, row))),
            a.negate,
        ),
        TypedRule::OAuthClient(cl) => (
            claims.is_some_and(|c| {
                ["client_id", "azp"]
                    .iter()
                    .filter_map(|k| c.get(*k).and_then(Value::as_str))
                    .any(|id| cl.client_ids.iter().any(|want| want == id))
            }),
            cl.negate,
        ),
    };
    // Without an identity an OAuth rule cannot pass, negated or not.
    identity.is_some() && matched != negate
}

/// Scopes granted by a token: `scope` (space-separated, RFC 8693/9068) or `scp` (list).
fn scopes(claims: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for key in ["scope", "scp"] {
        match claims.get(key) {
            Some(Value::String(s)) => out.extend(s.split_whitespace()),
            Some(Value::Array(list)) => out.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

fn row_matches(claims: &serde_json::Map<String, Value>, row: &AttributeRow) -> bool {
    let mut path = row.name.split('.');
    let first = path.next().and_then(|k| claims.get(k));
    let value = path.fold(first, |v, k| v.and_then(|v| v.get(k)));
    match value {
        Some(Value::Array(list)) => list.iter().any(|v| scalar_eq(v, &row.value)),
        Some(v) => scalar_eq(v, &row.value),
        None => false,
    }
}

fn scalar_eq(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => n.to_string() == want,
        Value::Bool(b) => b.to_string() == want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_model::rules::{AttributeRule, ClientRule, ScopeRule};
    use serde_json::json;

    fn identity(claims: Value) -> Identity {
        let map = claims.as_object().cloned().unwrap_or_default();
        Identity::new("s".into(), map, None)
    }

    fn rule(r: TypedRule) -> Vec<Arc<CompiledRule>> {
        vec![Arc::new(CompiledRule {
            name: "r".into(),
            rule: r,
        })]
    }

    fn scope(s: &str, negate: bool) -> TypedRule {
        TypedRule::OAuthScope(ScopeRule {
            scope: s.into(),
            negate,
            rejection_handler_id: None,
        })
    }

    #[test]
    fn scope_rules_read_scope_and_scp_and_negate() {
        let id = identity(json!({"scope": "read write"}));
        assert!(evaluate(&rule(scope("read", false)), Some(&id), "r").is_ok());
        assert!(evaluate(&rule(scope("read write", false)), Some(&id), "r").is_ok());
        let denied = evaluate(&rule(scope("admin", false)), Some(&id), "r").unwrap_err();
        assert_eq!(denied.scope.as_deref(), Some("admin"));
        assert!(evaluate(&rule(scope("admin", true)), Some(&id), "r").is_ok());
        let scp = identity(json!({"scp": ["admin"]}));
        assert!(evaluate(&rule(scope("admin", false)), Some(&scp), "r").is_ok());
        assert!(
            evaluate(&rule(scope("admin", true)), None, "r").is_err(),
            "no identity never passes"
        );
    }

    #[test]
    fn attribute_rows_walk_dots_and_match_any_value_of_a_list() {
        let id = identity(json!({"realm_access": {"roles": ["user", "auditor"]}, "tier": 3}));
        let rows = |name: &str, value: &str| {
            TypedRule::OAuthAttribute(AttributeRule {
                attributes: vec![AttributeRow {
                    name: name.into(),
                    value: value.into(),
                }],
                negate: false,
                rejection_handler_id: None,
            })
        };
        assert!(evaluate(&rule(rows("realm_access.roles", "auditor")), Some(&id), "r").is_ok());
        assert!(evaluate(&rule(rows("tier", "3")), Some(&id), "r").is_ok());
        assert!(evaluate(&rule(rows("realm_access.roles", "admin")), Some(&id), "r").is_err());
        assert!(evaluate(&rule(rows("missing", "x")), Some(&id), "r").is_err());
    }

    #[test]
    fn client_rules_read_client_id_or_azp() {
        let client = |ids: &[&str]| {
            TypedRule::OAuthClient(ClientRule {
                client_ids: ids.iter().map(|s| s.to_string()).collect(),
                negate: false,
                rejection_handler_id: None,
            })
        };
        let azp = identity(json!({"azp": "web-app"}));
        assert!(evaluate(&rule(client(&["web-app"])), Some(&azp), "r").is_ok());
        assert!(evaluate(&rule(client(&["other"])), Some(&azp), "r").is_err());
    }
}
