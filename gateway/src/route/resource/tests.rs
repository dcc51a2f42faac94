use super::*;

fn spec<'a>(index: usize, id: u64, methods: &'a [String], pats: &[&'a str]) -> ResourceSpec<'a> {
    ResourceSpec {
        index,
        id,
        methods,
        patterns: pats.iter().map(|p| (false, *p)).collect(),
    }
}

#[test]
fn glob_matches_whole_text() {
    let m = |pat: &str, text: &str| {
        let p = compile_pattern(pat, false, false).unwrap();
        p.matches(text)
    };
    assert!(m("/*", "/anything/at/all"));
    assert!(m("/*", "/"));
    assert!(m("/api/*/items", "/api/v1/items"));
    assert!(!m("/api/*/items", "/api/v1/items/2"));
    assert!(m("/app/", "/app/"));
    assert!(!m("/app/", "/app/x"));
    assert!(m("*.css", "/a/b.css"));
    assert!(!m("/a*b", "/a"));
    assert!(m("/a*b*c", "/aXbYc"));
    assert!(!m("/a*b*c", "/aXbY"));
}

#[test]
fn most_specific_pattern_wins() {
    let any = vec!["*".to_string()];
    let get = vec!["GET".to_string()];
    let specs = vec![
        spec(0, 1, &any, &["/*"]),
        spec(1, 2, &any, &["/api/*"]),
        spec(2, 3, &any, &["/api/public/*"]),
        spec(3, 4, &get, &["/api/*"]),
    ];
    let m = ResourceMatcher::compile(&specs, false, false).unwrap();
    assert_eq!(m.find("/api/public/x", "GET"), Some(2));
    assert_eq!(m.find("/api/x", "GET"), Some(3), "explicit method beats *");
    assert_eq!(m.find("/api/x", "POST"), Some(1));
    assert_eq!(m.find("/other", "GET"), Some(0));
}

#[test]
fn manual_order_keeps_first_match_and_regex_is_anchored() {
    let any = vec!["*".to_string()];
    let specs = vec![
        ResourceSpec {
            index: 0,
            id: 1,
            methods: &any,
            patterns: vec![(true, "/items/[0-9]+")],
        },
        spec(1, 2, &any, &["/*"]),
    ];
    let m = ResourceMatcher::compile(&specs, true, false).unwrap();
    assert_eq!(m.find("/items/42", "GET"), Some(0));
    assert_eq!(
        m.find("/items/42/x", "GET"),
        Some(1),
        "regex must match the whole path"
    );
}
