//! Checks of the OAuth objects: provider, authorization server, JWT validators and the
//! applications that use them.

use std::collections::HashSet;

use super::check_group_ref;
use crate::document::ConfigDocument;
use crate::oauth::{INTROSPECTION_VALIDATOR, SUPPORTED_ALGORITHMS};
use crate::objects::{Application, ApplicationType};
use crate::problem::Problems;

/// Longest clock leeway a validator may allow.
const MAX_LEEWAY_SECONDS: u64 = 300;

pub(super) fn check(doc: &ConfigDocument, p: &mut Problems) {
    if let Some(provider) = &doc.oidc_provider {
        if let Some(why) = url_problem(&provider.issuer) {
            p.push("oidcProvider.issuer", why);
        }
        check_group_ref(
            doc,
            provider.trusted_certificate_group_id,
            "oidcProvider",
            p,
        );
    }
    if let Some(server) = &doc.oauth_auth_server {
        match &server.introspection_endpoint {
            Some(url) => {
                if let Some(why) = url_problem(url) {
                    p.push("oauthAuthServer.introspectionEndpoint", why);
                }
            }
            None if doc.oidc_provider.is_none() => p.push(
                "oauthAuthServer.introspectionEndpoint",
                "needed when no oidcProvider is configured to discover it from",
            ),
            None => {}
        }
        if server.client_credentials.client_id.trim().is_empty() {
            p.push(
                "oauthAuthServer.clientCredentials.clientId",
                "must not be empty",
            );
        }
        check_group_ref(
            doc,
            server.trusted_certificate_group_id,
            "oauthAuthServer",
            p,
        );
    }
    check_validators(doc, p);
    check_admin_oauth(doc, p);
}

fn check_admin_oauth(doc: &ConfigDocument, p: &mut Problems) {
    let a = &doc.admin_o_auth;
    if !doc.admin_basic.enabled && !a.enabled {
        p.push(
            "adminBasic.enabled",
            "Basic can be turned off only while bearer tokens (adminOAuth) are enabled: \
             nobody could log in to the admin API",
        );
    }
    if !a.enabled {
        return;
    }
    match a.access_validator_id {
        0 => p.push(
            "adminOAuth.accessValidatorId",
            "needed when enabled (1 for introspection, or a validator id)",
        ),
        INTROSPECTION_VALIDATOR if doc.oauth_auth_server.is_none() => p.push(
            "adminOAuth.accessValidatorId",
            "introspection (1) needs oauthAuthServer to be configured",
        ),
        INTROSPECTION_VALIDATOR => {}
        id if !doc.access_token_validators.iter().any(|v| v.id == id) => p.push(
            "adminOAuth.accessValidatorId",
            format!("no access token validator with id {id}"),
        ),
        _ => {}
    }
    if a.required_scope.trim().is_empty() {
        p.push("adminOAuth.requiredScope", "must name a scope");
    }
    if a.role_claim.trim().is_empty() {
        p.push("adminOAuth.roleClaim", "must name a claim");
    }
    if a.administrator_values.is_empty() && a.auditor_values.is_empty() {
        p.push(
            "adminOAuth.administratorValues",
            "no claim value grants a role",
        );
    }
}

fn check_validators(doc: &ConfigDocument, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, v) in doc.access_token_validators.iter().enumerate() {
        let at = format!("accessTokenValidators[{i}]");
        if v.id <= INTROSPECTION_VALIDATOR {
            p.push(format!("{at}.id"), "ids start at 2 (1 means introspection)");
        } else if !seen.insert(v.id) {
            p.push(format!("{at}.id"), format!("id {} is used twice", v.id));
        }
        let c = &v.configuration;
        let cfg = format!("{at}.configuration");
        match c.jwks_url.as_deref() {
            Some(path) if path.starts_with('/') && doc.oidc_provider.is_none() => p.push(
                format!("{cfg}.jwksUrl"),
                "a path needs an oidcProvider to resolve it against",
            ),
            Some(path) if path.starts_with('/') => {}
            Some(url) => {
                if let Some(why) = url_problem(url) {
                    p.push(format!("{cfg}.jwksUrl"), why);
                }
            }
            None if doc.oidc_provider.is_none() => p.push(
                format!("{cfg}.jwksUrl"),
                "needed when no oidcProvider is configured to discover it from",
            ),
            None => {}
        }
        if c.issuer.is_none() && doc.oidc_provider.is_none() {
            p.push(
                format!("{cfg}.issuer"),
                "needed when no oidcProvider is configured",
            );
        }
        if c.audience.trim().is_empty() {
            p.push(format!("{cfg}.audience"), "must not be empty");
        }
        if c.allowed_algorithms.is_empty() {
            p.push(
                format!("{cfg}.allowedAlgorithms"),
                "needs at least one algorithm",
            );
        }
        for (j, alg) in c.allowed_algorithms.iter().enumerate() {
            if !SUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                p.push(
                    format!("{cfg}.allowedAlgorithms[{j}]"),
                    format!(
                        "'{alg}' is not accepted; use one of {}",
                        SUPPORTED_ALGORITHMS.join(", ")
                    ),
                );
            }
        }
        if c.leeway_seconds > MAX_LEEWAY_SECONDS {
            p.push(
                format!("{cfg}.leewaySeconds"),
                format!("at most {MAX_LEEWAY_SECONDS} seconds"),
            );
        }
        check_group_ref(doc, c.trusted_certificate_group_id, &cfg, p);
    }
}

/// An application's `accessValidatorId` names introspection (1), a validator, or nothing (0);
/// API and Dynamic applications need one.
pub(super) fn check_application_validator(
    doc: &ConfigDocument,
    a: &Application,
    at: &str,
    p: &mut Problems,
) {
    let id = a.access_validator_id;
    let field = format!("{at}.accessValidatorId");
    match id {
        0 if a.application_type != ApplicationType::Web => p.push(
            field,
            "API and Dynamic applications need a validator (1 for introspection, or a validator id)",
        ),
        0 => {}
        INTROSPECTION_VALIDATOR if doc.oauth_auth_server.is_none() => p.push(
            field,
            "introspection (1) needs oauthAuthServer to be configured",
        ),
        INTROSPECTION_VALIDATOR => {}
        _ if !doc.access_token_validators.iter().any(|v| v.id == id) => {
            p.push(field, format!("no access token validator with id {id}"))
        }
        _ => {}
    }
}

/// Why a configured URL is unusable, if it is.
fn url_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        None => Some("must be an absolute http:// or https:// URL"),
        Some(r) if r.is_empty() || r.starts_with('/') => Some("has no host"),
        Some(r) if r.contains(char::is_whitespace) => Some("must not contain spaces"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::load_toml;

    fn problems(toml: &str) -> Vec<String> {
        match load_toml(toml) {
            Ok(_) => Vec::new(),
            Err(crate::TomlError::Invalid(list)) => list.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    const BASE: &str = r#"
[[virtualHosts]]
id = 1
host = "*"
port = 3000

[[sites]]
id = 1
name = "s"
targets = ["127.0.0.1:8080"]

[[applications]]
id = 1
name = "api"
contextRoot = "/api"
virtualHostIds = [1]
siteId = 1
applicationType = "API"
accessValidatorId = 2
"#;

    #[test]
    fn a_validator_with_its_own_issuer_and_url_needs_no_provider() {
        let toml = format!(
            "{BASE}\n[[accessTokenValidators]]\nid = 2\nname = \"v\"\n\
             [accessTokenValidators.configuration]\njwksUrl = \"https://idp.example/jwks\"\n\
             issuer = \"https://idp.example\"\naudience = \"api\"\n"
        );
        assert_eq!(problems(&toml), Vec::<String>::new());
    }

    #[test]
    fn every_validator_problem_is_listed() {
        let toml = format!(
            "{BASE}\n[[accessTokenValidators]]\nid = 1\nname = \"v\"\n\
             [accessTokenValidators.configuration]\njwksUrl = \"/keys\"\naudience = \"\"\n\
             allowedAlgorithms = [\"HS256\", \"none\", \"RS256\"]\nleewaySeconds = 900\n"
        );
        let found = problems(&toml);
        for expected in [
            "accessTokenValidators[0].id: ids start at 2",
            "configuration.jwksUrl: a path needs an oidcProvider",
            "configuration.issuer: needed when no oidcProvider",
            "configuration.audience: must not be empty",
            "allowedAlgorithms[0]: 'HS256' is not accepted",
            "allowedAlgorithms[1]: 'none' is not accepted",
            "configuration.leewaySeconds: at most 300",
            "applications[0].accessValidatorId: no access token validator with id 2",
        ] {
            assert!(
                found.iter().any(|f| f.contains(expected)),
                "missing '{expected}' in {found:#?}"
            );
        }
        assert_eq!(found.len(), 8, "{found:#?}");
    }

    #[test]
    fn api_applications_need_a_validator_and_introspection_needs_a_server() {
        let none = BASE.replace("accessValidatorId = 2", "");
        assert!(problems(&none)
            .iter()
            .any(|f| f.contains("API and Dynamic applications need a validator")));
        let introspection = BASE.replace("accessValidatorId = 2", "accessValidatorId = 1");
        assert!(problems(&introspection)
            .iter()
            .any(|f| f.contains("introspection (1) needs oauthAuthServer")));
        let with_server = format!(
            "{introspection}\n[oauthAuthServer]\nintrospectionEndpoint = \"https://idp/introspect\"\n\
             [oauthAuthServer.clientCredentials]\nclientId = \"gw\"\nclientSecret = \"s\"\n"
        );
        assert_eq!(problems(&with_server), Vec::<String>::new());
    }
}
