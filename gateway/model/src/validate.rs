//! Semantic checks of a [`ConfigDocument`]: every problem is reported, with the path of the field.
//!
//! The engine's compile step runs these first; the admin node runs the same compile before it
//! stores anything, so a stored configuration always compiles.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::document::ConfigDocument;
use crate::objects::{Application, PatternType, Resource};
use crate::problem::Problems;

mod oauth;
mod rules;
mod websession;

/// Ids of the built-in trusted certificate groups: 1 trusts any certificate, 2 the system roots.
pub const BUILTIN_TRUST_ANY: u64 = 1;
/// Id of the built-in group that trusts the system's public roots.
pub const BUILTIN_SYSTEM_ROOTS: u64 = 2;

/// Largest object id (ids are signed 64-bit integers in the admin API, as in PingAccess).
pub const MAX_ID: u64 = i64::MAX as u64;

/// Validates a whole document; `Err` lists every problem found.
pub fn validate(doc: &ConfigDocument) -> Result<(), Problems> {
    let mut p = Problems::default();
    check_unique_ids(doc, &mut p);
    check_reserved(doc, &mut p);
    check_listeners(doc, &mut p);
    check_virtual_hosts(doc, &mut p);
    check_trust(doc, &mut p);
    check_sites(doc, &mut p);
    check_applications(doc, &mut p);
    check_resources(doc, &mut p);
    check_http_config(doc, &mut p);
    oauth::check(doc, &mut p);
    websession::check(doc, &mut p);
    rules::check(doc, &mut p);
    check_identity(doc, &mut p);
    p.into_result()
}

fn unique<I: Iterator<Item = u64>>(what: &str, ids: I, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if id == 0 || id > MAX_ID {
            p.push(
                format!("{what}[{i}].id"),
                format!("id must be an integer from 1 to {MAX_ID}"),
            );
        } else if !seen.insert(id) {
            p.push(format!("{what}[{i}].id"), format!("id {id} is used twice"));
        }
    }
}

fn check_unique_ids(doc: &ConfigDocument, p: &mut Problems) {
    unique(
        "engineListeners",
        doc.engine_listeners.iter().map(|o| o.id),
        p,
    );
    unique("virtualHosts", doc.virtual_hosts.iter().map(|o| o.id), p);
    unique("sites", doc.sites.iter().map(|o| o.id), p);
    unique("applications", doc.applications.iter().map(|o| o.id), p);
    unique("resources", doc.resources.iter().map(|o| o.id), p);
    unique("certificates", doc.certificates.iter().map(|o| o.id), p);
    unique("rules", doc.rules.iter().map(|o| o.id), p);
    unique("ruleSets", doc.rule_sets.iter().map(|o| o.id), p);
    unique(
        "rejectionHandlers",
        doc.rejection_handlers.iter().map(|o| o.id),
        p,
    );
    unique(
        "identityMappings",
        doc.identity_mappings.iter().map(|o| o.id),
        p,
    );
    unique(
        "trustedCertificateGroups",
        doc.trusted_certificate_groups.iter().map(|o| o.id),
        p,
    );
}

/// Checks a context-root-like path: `/`, or `/seg[/seg...]` with no trailing `/`, no wildcard.
pub fn context_root_problem(root: &str) -> Option<&'static str> {
    if !root.starts_with('/') {
        return Some("must start with '/'");
    }
    if root.len() > 1 && root.ends_with('/') {
        return Some("must not end with '/'");
    }
    if root.contains("//") {
        return Some("must not contain empty segments");
    }
    if root.contains(['*', '?', '#', '%', '\\', ';', ' ']) {
        return Some("must not contain '*', '?', '#', '%', '\\', ';' or spaces");
    }
    if root.split('/').any(|s| s == "." || s == "..") {
        return Some("must not contain '.' or '..' segments");
    }
    None
}

fn check_reserved(doc: &ConfigDocument, p: &mut Problems) {
    let root = &doc.reserved_application.context_root;
    if let Some(why) = context_root_problem(root) {
        p.push("reservedApplication.contextRoot", why);
    } else if root == "/" {
        p.push("reservedApplication.contextRoot", "must not be '/'");
    }
}

fn check_listeners(doc: &ConfigDocument, p: &mut Problems) {
    let mut ports = HashSet::new();
    for (i, l) in doc.engine_listeners.iter().enumerate() {
        if l.name.trim().is_empty() {
            p.push(format!("engineListeners[{i}].name"), "must not be empty");
        }
        if l.port == 0 {
            p.push(format!("engineListeners[{i}].port"), "must be 1-65535");
        } else if !ports.insert(l.port) {
            p.push(
                format!("engineListeners[{i}].port"),
                format!("port {} is used by another listener", l.port),
            );
        }
        check_group_ref(
            doc,
            l.trusted_certificate_group_id,
            &format!("engineListeners[{i}]"),
            p,
        );
    }
}

/// True for `*`, `*.example.com` or a plain host name / IP literal.
pub fn valid_virtual_host(host: &str) -> bool {
    if host == "*" {
        return true;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.parse::<IpAddr>().is_ok() && !host.starts_with('*') {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn check_virtual_hosts(doc: &ConfigDocument, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, v) in doc.virtual_hosts.iter().enumerate() {
        if !valid_virtual_host(&v.host) {
            p.push(
                format!("virtualHosts[{i}].host"),
                format!("'{}' is not a host name, '*.domain' or '*'", v.host),
            );
        }
        if v.port == 0 {
            p.push(format!("virtualHosts[{i}].port"), "must be 1-65535");
        }
        if !seen.insert((v.host.to_ascii_lowercase(), v.port)) {
            p.push(
                format!("virtualHosts[{i}].host"),
                format!("{}:{} is defined twice", v.host, v.port),
            );
        }
        check_group_ref(
            doc,
            v.trusted_certificate_group_id,
            &format!("virtualHosts[{i}]"),
            p,
        );
    }
}

pub(crate) fn check_group_ref(doc: &ConfigDocument, id: u64, at: &str, p: &mut Problems) {
    let builtin = id == 0 || id == BUILTIN_TRUST_ANY || id == BUILTIN_SYSTEM_ROOTS;
    if !builtin && !doc.trusted_certificate_groups.iter().any(|g| g.id == id) {
        p.push(
            format!("{at}.trustedCertificateGroupId"),
            format!("no trusted certificate group with id {id}"),
        );
    }
}

fn check_trust(doc: &ConfigDocument, p: &mut Problems) {
    for (i, g) in doc.trusted_certificate_groups.iter().enumerate() {
        if g.id == BUILTIN_TRUST_ANY || g.id == BUILTIN_SYSTEM_ROOTS {
            p.push(
                format!("trustedCertificateGroups[{i}].id"),
                "ids 1 and 2 are the built-in groups",
            );
        }
        for (j, c) in g.cert_ids.iter().enumerate() {
            if !doc.certificates.iter().any(|x| x.id == *c) {
                p.push(
                    format!("trustedCertificateGroups[{i}].certIds[{j}]"),
                    format!("no certificate with id {c}"),
                );
            }
        }
    }
    for (i, c) in doc.certificates.iter().enumerate() {
        if !c.file_data.contains("-----BEGIN CERTIFICATE-----") {
            p.push(
                format!("certificates[{i}].fileData"),
                "must be a PEM certificate",
            );
        }
    }
}

/// Splits `host:port` (IPv6 as `[::1]:443`); `None` when malformed.
pub fn split_target(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ok = !host.is_empty()
        && (host.parse::<IpAddr>().is_ok()
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    ok.then_some((host, port))
}

fn check_sites(doc: &ConfigDocument, p: &mut Problems) {
    for (i, s) in doc.sites.iter().enumerate() {
        if s.name.trim().is_empty() {
            p.push(format!("sites[{i}].name"), "must not be empty");
        }
        if s.targets.is_empty() {
            p.push(
                format!("sites[{i}].targets"),
                "needs at least one 'host:port'",
            );
        }
        for (j, t) in s.targets.iter().enumerate() {
            if split_target(t).is_none() {
                p.push(
                    format!("sites[{i}].targets[{j}]"),
                    format!("'{t}' is not 'host:port'"),
                );
            }
        }
        check_group_ref(
            doc,
            s.trusted_certificate_group_id,
            &format!("sites[{i}]"),
            p,
        );
        if s.availability.connect_timeout == 0 {
            p.push(
                format!("sites[{i}].availability.connectTimeout"),
                "must be > 0",
            );
        }
        if s.availability.read_timeout == 0 || s.availability.read_timeout < -1 {
            p.push(
                format!("sites[{i}].availability.readTimeout"),
                "must be > 0, or -1 for no limit",
            );
        }
        for (j, c) in s.availability.failure_http_status_codes.iter().enumerate() {
            if !(100..=599).contains(c) {
                p.push(
                    format!("sites[{i}].availability.failureHttpStatusCodes[{j}]"),
                    "must be an HTTP status (100-599)",
                );
            }
        }
    }
}

fn check_applications(doc: &ConfigDocument, p: &mut Problems) {
    let mut roots: HashMap<(u64, String), usize> = HashMap::new();
    for (i, a) in doc.applications.iter().enumerate() {
        let at = format!("applications[{i}]");
        check_application_refs(doc, a, &at, p);
        if let Some(why) = context_root_problem(&a.context_root) {
            p.push(format!("{at}.contextRoot"), why);
        }
        let reserved = &doc.reserved_application.context_root;
        if inside_reserved(&a.context_root, reserved, a.case_sensitive_path) {
            p.push(
                format!("{at}.contextRoot"),
                format!(
                    "'{}' is inside the reserved path '{reserved}'",
                    a.context_root
                ),
            );
        }
        for v in &a.virtual_host_ids {
            let key = (*v, a.context_root.to_ascii_lowercase());
            if let Some(other) = roots.insert(key, i) {
                let o = &doc.applications[other];
                let clash = o.context_root == a.context_root
                    || !o.case_sensitive_path
                    || !a.case_sensitive_path;
                if clash {
                    p.push(
                        format!("{at}.contextRoot"),
                        format!(
                            "virtual host {v} already has context root '{}' (application {})",
                            o.context_root, o.id
                        ),
                    );
                }
            }
        }
    }
}

/// True when `path` is the reserved path or below it (ignoring case unless `case_sensitive`).
fn inside_reserved(path: &str, reserved: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        segment_prefix(path, reserved)
    } else {
        segment_prefix(&path.to_ascii_lowercase(), &reserved.to_ascii_lowercase())
    }
}

/// True when a wildcard pattern names the reserved path or something below it: its literal part
/// (before the first `*`) lies inside the reserved path, compared segment by segment.
fn covers_reserved(pattern: &str, reserved: &str) -> bool {
    let literal = pattern.split('*').next().unwrap_or_default();
    let literal = literal.trim_end_matches('/');
    !literal.is_empty() && segment_prefix(literal, reserved)
}

/// True when `path` equals `prefix` or continues it at a segment boundary.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn check_application_refs(doc: &ConfigDocument, a: &Application, at: &str, p: &mut Problems) {
    if a.name.trim().is_empty() {
        p.push(format!("{at}.name"), "must not be empty");
    }
    if a.virtual_host_ids.is_empty() {
        p.push(
            format!("{at}.virtualHostIds"),
            "needs at least one virtual host",
        );
    }
    for (j, v) in a.virtual_host_ids.iter().enumerate() {
        if !doc.virtual_hosts.iter().any(|x| x.id == *v) {
            p.push(
                format!("{at}.virtualHostIds[{j}]"),
                format!("no virtual host with id {v}"),
            );
        }
    }
    if !doc.sites.iter().any(|s| s.id == a.site_id) {
        p.push(
            format!("{at}.siteId"),
            format!("no site with id {}", a.site_id),
        );
    }
    if a.web_session_id != 0 && !doc.web_sessions.iter().any(|w| w.id == a.web_session_id) {
        p.push(
            format!("{at}.webSessionId"),
            format!("no web session with id {}", a.web_session_id),
        );
    }
    oauth::check_application_validator(doc, a, at, p);
    for (kind, id) in [
        ("Web", a.identity_mapping_ids.web),
        ("API", a.identity_mapping_ids.api),
    ] {
        let found = doc.identity_mappings.iter().find(|m| m.id == id);
        if id != 0 && found.is_none() {
            p.push(
                format!("{at}.identityMappingIds.{kind}"),
                format!("no identity mapping with id {id}"),
            );
        }
        let session_token = found.is_some_and(|m| m.kind == "WebSessionAccessToken");
        if session_token && (kind == "API" || a.web_session_id == 0) {
            p.push(
                format!("{at}.identityMappingIds.{kind}"),
                "a WebSessionAccessToken mapping needs a web session (Web mapping of an \
                 application with a webSessionId)",
            );
        }
    }
    rules::check_policy(doc, &a.policy, at, p);
    for (j, r) in a.resource_order.iter().enumerate() {
        if !doc
            .resources
            .iter()
            .any(|x| x.id == *r && x.application_id == a.id)
        {
            p.push(
                format!("{at}.resourceOrder[{j}]"),
                format!("resource {r} is not a resource of application {}", a.id),
            );
        }
    }
}

fn check_identity(doc: &ConfigDocument, p: &mut Problems) {
    for (i, m) in doc.identity_mappings.iter().enumerate() {
        if m.name.trim().is_empty() {
            p.push(format!("identityMappings[{i}].name"), "must not be empty");
        }
        if let Err(why) = m.typed() {
            p.push(format!("identityMappings[{i}].type"), why);
        }
    }
    let atm = &doc.auth_token_management;
    if atm.signing_algorithm != "P-256" {
        p.push(
            "authTokenManagement.signingAlgorithm",
            "only 'P-256' (ES256) is supported",
        );
    }
    if !(1..=8760).contains(&atm.key_roll_period_in_hours) {
        p.push(
            "authTokenManagement.keyRollPeriodInHours",
            "between 1 and 8760",
        );
    }
}

fn check_resources(doc: &ConfigDocument, p: &mut Problems) {
    for (i, r) in doc.resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        let app = doc.applications.iter().find(|a| a.id == r.application_id);
        if app.is_none() {
            p.push(
                format!("{at}.applicationId"),
                format!("no application with id {}", r.application_id),
            );
        }
        check_resource(doc, r, app, &at, p);
    }
}

fn check_resource(
    doc: &ConfigDocument,
    r: &Resource,
    app: Option<&Application>,
    at: &str,
    p: &mut Problems,
) {
    if r.name.trim().is_empty() {
        p.push(format!("{at}.name"), "must not be empty");
    }
    if r.methods.is_empty() {
        p.push(format!("{at}.methods"), "needs '*' or at least one method");
    }
    for (j, m) in r.methods.iter().enumerate() {
        let token = !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if m != "*" && !token {
            p.push(
                format!("{at}.methods[{j}]"),
                format!("'{m}' is not an HTTP method"),
            );
        }
    }
    if r.path_patterns.is_empty() {
        p.push(format!("{at}.pathPatterns"), "needs at least one pattern");
    }
    let manual = app.is_some_and(|a| a.manual_ordering_enabled);
    for (j, pat) in r.path_patterns.iter().enumerate() {
        let path = format!("{at}.pathPatterns[{j}].pattern");
        match pat.kind {
            PatternType::Wildcard if !pat.pattern.starts_with('/') => {
                p.push(path, "must start with '/'");
            }
            PatternType::Regex if !manual => {
                p.push(
                    path,
                    "REGEX patterns need manualOrderingEnabled on the application",
                );
            }
            PatternType::Regex => {
                if let Err(e) = regex::Regex::new(&pat.pattern) {
                    p.push(path, format!("invalid regular expression: {e}"));
                }
            }
            PatternType::Wildcard => {}
        }
        let root_app = app.is_some_and(|a| a.context_root == "/");
        let reserved = &doc.reserved_application.context_root;
        if root_app && pat.kind == PatternType::Wildcard && covers_reserved(&pat.pattern, reserved)
        {
            p.push(
                format!("{at}.pathPatterns[{j}].pattern"),
                format!(
                    "'{}' would cover the reserved path '{reserved}'",
                    pat.pattern
                ),
            );
        }
    }
    rules::check_policy(doc, &r.policy, at, p);
}

/// Parses `a.b.c.d/n` or `v6/n` (a bare address is a host route).
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (
            a.trim().parse::<IpAddr>().ok()?,
            Some(l.trim().parse::<u8>().ok()?),
        ),
        None => (text.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn check_http_config(doc: &ConfigDocument, p: &mut Problems) {
    for (i, c) in doc.http_ip_source.trusted_proxies.iter().enumerate() {
        if parse_cidr(c).is_none() {
            p.push(
                format!("httpIpSource.trustedProxies[{i}]"),
                format!("'{c}' is not an IP address or CIDR"),
            );
        }
    }
    let names = doc
        .http_ip_source
        .header_name_list
        .iter()
        .chain(&doc.http_host_source.header_name_list)
        .chain(&doc.http_protocol_source.header_name);
    for name in names {
        if http_token(name).is_none() {
            p.push("httpConfig", format!("'{name}' is not a header name"));
        }
    }
    let u = &doc.unknown_resources;
    if !(200..=599).contains(&u.error_status_code) {
        p.push("unknownResources.errorStatusCode", "must be 200-599");
    }
}

fn http_token(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_naming_the_reserved_path_are_found_segment_by_segment() {
        for covering in ["/pa/*", "/pa*", "/pa/heartbeat*", "/pa"] {
            assert!(covers_reserved(covering, "/pa"), "{covering}");
        }
        for outside in ["/*", "/pages/*", "/pages*", "/p*", "/app/pa/*"] {
            assert!(!covers_reserved(outside, "/pa"), "{outside}");
        }
    }

    #[test]
    fn context_roots_inside_the_reserved_path_respect_case_sensitivity() {
        assert!(inside_reserved("/pa/x", "/pa", true));
        assert!(!inside_reserved("/PA", "/pa", true));
        assert!(inside_reserved("/PA", "/pa", false));
        assert!(inside_reserved("/Pa/Admin", "/pa", false));
        assert!(!inside_reserved("/pages", "/pa", false));
    }
}
