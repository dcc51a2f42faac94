//! Loading the startup TOML document: syntax and type errors, then semantic problems, each with
//! the line it points at.

use std::fmt;

use toml_edit::{ImDocument, Item, Value};

use crate::document::ConfigDocument;
use crate::problem::Problem;
use crate::validate::validate;

/// One located problem of a TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedProblem {
    /// 1-based line, when the field could be found.
    pub line: Option<usize>,
    /// The problem.
    pub problem: Problem,
}

/// Why a TOML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TomlError {
    /// Not TOML, or a field of the wrong type or name.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// Parser message.
        message: String,
    },
    /// Well-formed, but the configuration is invalid (every problem).
    #[error("{}", render_list(.0))]
    Invalid(Vec<LocatedProblem>),
}

fn render_list(list: &[LocatedProblem]) -> String {
    list.iter()
        .map(|lp| lp.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for LocatedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

impl TomlError {
    /// One line per problem, each prefixed with `file:line:`.
    pub fn render(&self, file: &str) -> String {
        match self {
            TomlError::Syntax { line, message } => format!("{file}:{line}: {message}"),
            TomlError::Invalid(list) => list
                .iter()
                .map(|lp| match lp.line {
                    Some(line) => format!("{file}:{line}: {}", lp.problem),
                    None => format!("{file}: {}", lp.problem),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Parses and validates a startup TOML document.
pub fn load_toml(text: &str) -> Result<ConfigDocument, TomlError> {
    let doc: ConfigDocument = toml::from_str(text).map_err(|e| TomlError::Syntax {
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    if let Err(problems) = validate(&doc) {
        let index = ImDocument::parse(text.to_string()).ok();
        let located = problems
            .0
            .into_iter()
            .map(|problem| LocatedProblem {
                line: index
                    .as_ref()
                    .and_then(|d| locate(d, &problem.path))
                    .map(|off| line_of(text, off)),
                problem,
            })
            .collect();
        return Err(TomlError::Invalid(located));
    }
    Ok(doc)
}

/// Serialises a document as TOML (the inverse of [`load_toml`]).
pub fn to_toml(doc: &ConfigDocument) -> Result<String, toml::ser::Error> {
    toml::to_string_pretty(doc)
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(n) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(n));
            }
        }
    }
    out
}

/// A position while walking the document.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Item(&'a Item),
    Value(&'a Value),
}

/// Byte offset of the deepest part of `path` present in the document.
fn locate(doc: &ImDocument<String>, path: &str) -> Option<usize> {
    let mut best = None;
    let mut node = Node::Table(doc.as_table());
    for step in steps(path) {
        match walk(node, &step) {
            Some((next, span)) => {
                if span.is_some() {
                    best = span;
                }
                node = next;
            }
            None => break,
        }
    }
    best
}

fn walk<'a>(node: Node<'a>, step: &Step<'_>) -> Option<(Node<'a>, Option<usize>)> {
    match (node, step) {
        (Node::Table(t), Step::Key(k)) => {
            let span = t.key(k).and_then(|key| key.span()).map(|s| s.start);
            Some((Node::Item(t.get(k)?), span))
        }
        (Node::Item(Item::Table(t)), s) => walk(Node::Table(t), s),
        (Node::Item(Item::ArrayOfTables(a)), Step::Index(i)) => {
            let t = a.get(*i)?;
            Some((Node::Table(t), t.span().map(|s| s.start)))
        }
        (Node::Item(Item::Value(v)), s) => walk(Node::Value(v), s),
        (Node::Value(Value::InlineTable(t)), Step::Key(k)) => {
            let span = t.key(k).and_then(|key| key.span()).map(|s| s.start);
            Some((Node::Value(t.get(k)?), span))
        }
        (Node::Value(Value::Array(a)), Step::Index(i)) => {
            let v = a.get(*i)?;
            Some((Node::Value(v), v.span().map(|s| s.start)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[engineListeners]]
id = 1
name = "l"
port = 3000

[[virtualHosts]]
id = 1
host = "*.example.com"
port = 3000

[[sites]]
id = 1
name = "s"
targets = ["backend:8080", "[::1]:8443"]

[[applications]]
id = 1
name = "a"
contextRoot = "/app"
virtualHostIds = [1]
siteId = 1
"#;

    #[test]
    fn a_valid_document_round_trips_through_toml() {
        let doc = load_toml(GOOD).unwrap();
        assert_eq!(doc.applications[0].context_root, "/app");
        assert!(doc.engine_listeners[0].secure, "secure defaults to true");
        let text = to_toml(&doc).unwrap();
        assert_eq!(load_toml(&text).unwrap(), doc);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let bad = GOOD
            .replace("contextRoot = \"/app\"", "contextRoot = \"/pa/x\"")
            .replace("siteId = 1", "siteId = 5")
            .replace("\"backend:8080\"", "\"backend\"");
        let TomlError::Invalid(list) = load_toml(&bad).unwrap_err() else {
            panic!("expected validation problems");
        };
        let render: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(list.len(), 3, "{render:?}");
        assert!(
            render.contains(
                &"line 15: sites[0].targets[0]: 'backend' is not 'host:port'".to_string()
            ),
            "{render:?}"
        );
        assert!(
            render
                .iter()
                .any(|r| r.starts_with("line 20: applications[0].contextRoot")),
            "{render:?}"
        );
        assert!(
            render
                .iter()
                .any(|r| r.starts_with("line 22: applications[0].siteId")),
            "{render:?}"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_line() {
        let err =
            load_toml("[[sites]]\nid = 1\nname = \"s\"\ntargets = []\nbogus = 1\n").unwrap_err();
        assert!(matches!(err, TomlError::Syntax { line: 5, .. }), "{err}");
        let err = load_toml("[[engineListeners]]\nid = \"one\"\n").unwrap_err();
        assert!(matches!(err, TomlError::Syntax { line: 2, .. }), "{err}");
    }

    #[test]
    fn duplicate_context_roots_and_regex_without_manual_order_are_refused() {
        let doc = format!(
            "{GOOD}\n[[applications]]\nid = 2\nname = \"b\"\ncontextRoot = \"/APP\"\nvirtualHostIds = [1]\nsiteId = 1\n\
             [[resources]]\nid = 1\napplicationId = 1\nname = \"r\"\npathPatterns = [{{ type = \"REGEX\", pattern = \"/x\" }}]\n"
        );
        let TomlError::Invalid(list) = load_toml(&doc).unwrap_err() else {
            panic!("expected problems");
        };
        let text = list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("already has context root '/app'"), "{text}");
        assert!(
            text.contains("REGEX patterns need manualOrderingEnabled"),
            "{text}"
        );
    }
}
