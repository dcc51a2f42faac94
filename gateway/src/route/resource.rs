//! Resource matching within an application: wildcard patterns ordered by specificity, or the
//! application's manual order (regex allowed).
//!
//! Specificity (automatic ordering), most specific first: longer literal text before the first
//! `*`; then fewer `*`; then more literal characters in all; then an explicit method list before
//! `*`; then the lower resource id.

use regex::Regex;

/// A compiled path pattern.
#[derive(Debug)]
enum Pattern {
    /// Literal pieces between `*`s; `anchored_end` is false when the pattern ends with `*`.
    Wildcard {
        pieces: Vec<Box<str>>,
        starts_star: bool,
        ends_star: bool,
    },
    /// A full-match regex.
    Regex(Regex),
}

/// One (pattern, resource) pair in matching order.
#[derive(Debug)]
struct Entry {
    pattern: Pattern,
    methods: Option<Vec<Box<str>>>,
    resource: usize,
}

/// The compiled resources of one application.
#[derive(Debug, Default)]
pub struct ResourceMatcher {
    entries: Vec<Entry>,
}

/// Input for compiling one resource.
#[derive(Debug, Clone)]
pub struct ResourceSpec<'a> {
    /// Index of the resource in the application's resource list.
    pub index: usize,
    /// Resource id (tie-breaker).
    pub id: u64,
    /// Methods (`*` for any).
    pub methods: &'a [String],
    /// `(is_regex, pattern)` pairs.
    pub patterns: Vec<(bool, &'a str)>,
}

/// Why a resource could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A regex that does not compile.
    #[error("invalid regular expression '{pattern}': {source}")]
    Regex {
        /// Pattern text.
        pattern: String,
        /// Cause.
        #[source]
        source: regex::Error,
    },
}

// === impl ResourceMatcher ===

impl ResourceMatcher {
    /// Compiles resources; `manual` keeps the given order, else specificity order.
    pub fn compile(
        specs: &[ResourceSpec<'_>],
        manual: bool,
        fold_case: bool,
    ) -> Result<Self, ResourceError> {
        let mut keyed = Vec::new();
        for spec in specs {
            for (n, (is_regex, text)) in spec.patterns.iter().enumerate() {
                let pattern = compile_pattern(text, *is_regex, fold_case)?;
                let methods = methods_of(spec.methods);
                let key = specificity(text, methods.is_some(), spec.id, n);
                keyed.push((
                    key,
                    Entry {
                        pattern,
                        methods,
                        resource: spec.index,
                    },
                ));
            }
        }
        if !manual {
            keyed.sort_by_key(|k| k.0);
        }
        Ok(Self {
            entries: keyed.into_iter().map(|(_, e)| e).collect(),
        })
    }

    /// The resource matching `path` (relative to the context root; lower-cased by the caller
    /// when the application is case-insensitive) and `method`.
    pub fn find(&self, path: &str, method: &str) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| method_matches(e.methods.as_deref(), method) && e.pattern.matches(path))
            .map(|e| e.resource)
    }
}

fn methods_of(methods: &[String]) -> Option<Vec<Box<str>>> {
    if methods.iter().any(|m| m == "*") {
        None
    } else {
        Some(
            methods
                .iter()
                .map(|m| m.to_ascii_uppercase().into())
                .collect(),
        )
    }
}

fn method_matches(methods: Option<&[Box<str>]>, method: &str) -> bool {
    methods.is_none_or(|list| list.iter().any(|m| m.eq_ignore_ascii_case(method)))
}

type SpecificityKey = (
    std::cmp::Reverse<usize>,
    usize,
    std::cmp::Reverse<usize>,
    bool,
    u64,
    usize,
);

fn specificity(text: &str, explicit_methods: bool, id: u64, n: usize) -> SpecificityKey {
    let prefix = text.find('*').unwrap_or(text.len());
    let stars = text.matches('*').count();
    let literal = text.len() - stars;
    (
        std::cmp::Reverse(prefix),
        stars,
        std::cmp::Reverse(literal),
        !explicit_methods,
        id,
        n,
    )
}

fn compile_pattern(text: &str, is_regex: bool, fold_case: bool) -> Result<Pattern, ResourceError> {
    if is_regex {
        let anchored = format!("{}^(?:{text})$", if fold_case { "(?i)" } else { "" });
        return Regex::new(&anchored)
            .map(Pattern::Regex)
            .map_err(|source| ResourceError::Regex {
                pattern: text.to_string(),
                source,
            });
    }
    let text = if fold_case {
        text.to_ascii_lowercase()
    } else {
        text.to_string()
    };
    Ok(Pattern::Wildcard {
        pieces: text
            .split('*')
            .filter(|p| !p.is_empty())
            .map(Box::from)
            .collect(),
        starts_star: text.starts_with('*'),
        ends_star: text.ends_with('*'),
    })
}

// === impl Pattern ===

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Regex(re) => re.is_match(path),
            Pattern::Wildcard {
                pieces,
                starts_star,
                ends_star,
            } => glob(pieces, *starts_star, *ends_star, path),
        }
    }
}

/// Matches `*`-separated literal pieces against the whole of `text`.
fn glob(pieces: &[Box<str>], starts_star: bool, ends_star: bool, text: &str) -> bool {
    if pieces.is_empty() {
        return starts_star || text.is_empty();
    }
    let mut rest = text;
    for (i, piece) in pieces.iter().enumerate() {
        let first = i == 0;
        let last = i == pieces.len() - 1;
        if first && !starts_star {
            match rest.strip_prefix(piece.as_ref()) {
                Some(r) => rest = r,
                None => return false,
            }
            if last {
                return ends_star || rest.is_empty();
            }
            continue;
        }
        if last && !ends_star {
            return rest.len() >= piece.len() && rest.ends_with(piece.as_ref());
        }
        match rest.find(piece.as_ref()) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    ends_star || rest.is_empty()
}

#[cfg(test)]
mod tests;
