//! Settings of the processing rules, which change the request or the response instead of
//! deciding: `RewriteUrl`, `RewriteResponseHeader`, `RewriteCookieDomain`, `RewriteCookiePath`.

use serde::Deserialize;

use super::problem_if;

/// `RewriteUrl` (on the normalised request path) and `RewriteResponseHeader` (on `Location`,
/// `Content-Location` and `URI`): the first match of `mapFrom` is replaced by `mapTo`
/// (`$1`, `${name}` refer to groups).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteRule {
    /// Regular expression.
    pub map_from: String,
    /// Replacement.
    pub map_to: String,
}

/// `RewriteCookieDomain`: `Domain=<serverSideDomain>` in `Set-Cookie` becomes `publicDomain`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CookieDomainRule {
    /// The domain the backend sets.
    pub server_side_domain: String,
    /// The domain clients see.
    pub public_domain: String,
}

/// `RewriteCookiePath`: a `Path=` at or below `serverSidePath` in `Set-Cookie` is moved below
/// `publicPath`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CookiePathRule {
    /// The path the backend sets.
    pub server_side_path: String,
    /// The path clients see.
    pub public_path: String,
}

impl RewriteRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        match regex::Regex::new(&self.map_from) {
            Ok(_) => Vec::new(),
            Err(e) => vec![("mapFrom".into(), format!("invalid regular expression: {e}"))],
        }
    }
}

fn domain_ok(d: &str) -> bool {
    let d = d.strip_prefix('.').unwrap_or(d);
    !d.is_empty()
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl CookieDomainRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = problem_if(
            !domain_ok(&self.server_side_domain),
            "serverSideDomain",
            "must be a domain name",
        );
        out.extend(problem_if(
            !domain_ok(&self.public_domain),
            "publicDomain",
            "must be a domain name",
        ));
        out
    }
}

impl CookiePathRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let bad = |p: &str| !p.starts_with('/') || p.contains([';', ' ']);
        let mut out = problem_if(
            bad(&self.server_side_path),
            "serverSidePath",
            "must be a path starting with '/'",
        );
        out.extend(problem_if(
            bad(&self.public_path),
            "publicPath",
            "must be a path starting with '/'",
        ));
        out
    }
}
