//! Checks on the claims of a verified bearer token (`OAuthScope`, `OAuthAttribute`,
//! `OAuthClient`).

use gatehouse_model::rules::AttributeRow;
use serde_json::{Map, Value};

/// The token grants every scope in `wanted`: `scope` (space-separated, RFC 9068) or `scp` (list).
pub fn has_scopes(claims: &Map<String, Value>, wanted: &[String]) -> bool {
    let mut granted = Vec::new();
    for key in ["scope", "scp"] {
        match claims.get(key) {
            Some(Value::String(s)) => granted.extend(s.split_whitespace()),
            Some(Value::Array(list)) => granted.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    wanted.iter().all(|w| granted.contains(&w.as_str()))
}

/// Every row matches a claim; `.` walks into objects; a list matches when any value does.
pub fn attributes_match(claims: &Map<String, Value>, rows: &[AttributeRow]) -> bool {
    rows.iter().all(|row| {
        let mut path = row.name.split('.');
        let first = path.next().and_then(|k| claims.get(k));
        let value = path.fold(first, |v, k| v.and_then(|v| v.get(k)));
        match value {
            Some(Value::Array(list)) => list.iter().any(|v| scalar_eq(v, &row.value)),
            Some(v) => scalar_eq(v, &row.value),
            None => false,
        }
    })
}

/// The token's `client_id` or `azp` is one of `ids`.
pub fn client_matches(claims: &Map<String, Value>, ids: &[String]) -> bool {
    ["client_id", "azp"]
        .iter()
        .filter_map(|k| claims.get(*k).and_then(Value::as_str))
        .any(|id| ids.iter().any(|want| want == id))
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
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn scopes_read_scope_and_scp() {
        let c = map(json!({"scope": "read write"}));
        assert!(has_scopes(&c, &["read".into()]));
        assert!(has_scopes(&c, &["read".into(), "write".into()]));
        assert!(!has_scopes(&c, &["admin".into()]));
        assert!(has_scopes(
            &map(json!({"scp": ["admin"]})),
            &["admin".into()]
        ));
    }

    #[test]
    fn attribute_rows_walk_dots_and_match_any_value_of_a_list() {
        let c = map(json!({"realm_access": {"roles": ["user", "auditor"]}, "tier": 3}));
        let row = |name: &str, value: &str| {
            vec![AttributeRow {
                name: name.into(),
                value: value.into(),
            }]
        };
        assert!(attributes_match(&c, &row("realm_access.roles", "auditor")));
        assert!(attributes_match(&c, &row("tier", "3")));
        assert!(!attributes_match(&c, &row("realm_access.roles", "admin")));
        assert!(!attributes_match(&c, &row("missing", "x")));
    }

    #[test]
    fn clients_read_client_id_or_azp() {
        let c = map(json!({"azp": "web-app"}));
        assert!(client_matches(&c, &["web-app".into()]));
        assert!(!client_matches(&c, &["other".into()]));
    }
}
