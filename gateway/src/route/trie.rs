//! Context-root lookup: a trie over path segments, so the cost depends on the path's depth,
//! never on the number of applications.

use std::collections::HashMap;

/// Index of an application in the compiled table.
pub type AppIndex = usize;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    app: Option<AppIndex>,
}

/// Context roots of one virtual host, case-sensitive and case-insensitive ones apart.
#[derive(Debug, Default)]
pub struct ContextTrie {
    sensitive: Node,
    insensitive: Node,
}

/// A context-root match: the application and how many path bytes its root covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootMatch {
    /// The application.
    pub app: AppIndex,
    /// Length in bytes of the matched context root within the path (0 for `/`).
    pub root_len: usize,
    /// Number of segments the root has.
    depth: usize,
    sensitive: bool,
}

// === impl ContextTrie ===

impl ContextTrie {
    /// Adds an application's context root (`/` or `/a/b`).
    pub fn insert(&mut self, root: &str, case_sensitive: bool, app: AppIndex) {
        let mut node = if case_sensitive {
            &mut self.sensitive
        } else {
            &mut self.insensitive
        };
        for seg in root.split('/').filter(|s| !s.is_empty()) {
            let key: Box<str> = if case_sensitive {
                seg.into()
            } else {
                seg.to_ascii_lowercase().into()
            };
            node = node.children.entry(key).or_default();
        }
        node.app = Some(app);
    }

    /// The longest context root that is a segment prefix of `path` (a normalised path).
    pub fn find(&self, path: &str) -> Option<RootMatch> {
        let a = walk(&self.sensitive, path, true);
        let b = walk(&self.insensitive, path, false);
        match (a, b) {
            (Some(x), Some(y)) if y.depth > x.depth => Some(y),
            (Some(x), _) => Some(x),
            (None, y) => y,
        }
    }
}

fn walk(root: &Node, path: &str, sensitive: bool) -> Option<RootMatch> {
    let mut node = root;
    let mut best = node.app.map(|app| RootMatch {
        app,
        root_len: 0,
        depth: 0,
        sensitive,
    });
    let mut offset = 0;
    let mut depth = 0;
    for seg in path.split('/') {
        let start = offset;
        offset += seg.len() + 1;
        if seg.is_empty() {
            continue;
        }
        let key = super::fold_case(seg, sensitive);
        match node.children.get(key.as_ref()) {
            Some(next) => node = next,
            None => break,
        }
        depth += 1;
        if let Some(app) = node.app {
            best = Some(RootMatch {
                app,
                root_len: start + seg.len(),
                depth,
                sensitive,
            });
        }
    }
    best.filter(|m| m.sensitive == sensitive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_root_on_segment_boundary() {
        let mut t = ContextTrie::default();
        t.insert("/", false, 0);
        t.insert("/app", false, 1);
        t.insert("/app/sub", false, 2);
        assert_eq!(t.find("/app").map(|m| m.app), Some(1));
        assert_eq!(t.find("/app/x").map(|m| (m.app, m.root_len)), Some((1, 4)));
        assert_eq!(
            t.find("/app/sub/y").map(|m| (m.app, m.root_len)),
            Some((2, 8))
        );
        assert_eq!(t.find("/apple").map(|m| m.app), Some(0));
        assert_eq!(t.find("/APP/x").map(|m| m.app), Some(1));
    }

    #[test]
    fn case_sensitive_roots_match_exactly() {
        let mut t = ContextTrie::default();
        t.insert("/App", true, 0);
        assert_eq!(t.find("/App/x").map(|m| m.app), Some(0));
        assert_eq!(t.find("/app/x"), None);
    }
}
