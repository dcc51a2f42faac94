//! Checks of web sessions and web-session management: names usable in a cookie, a client that
//! can authenticate, sane timeouts, and a provider to log in with.

use crate::websession::{CredentialsType, SameSite, WebSession};
use crate::{ConfigDocument, Problems};

fn is_cookie_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Every problem of `webSessions` and `webSessionManagement`.
pub(super) fn check(doc: &ConfigDocument, p: &mut Problems) {
    let m = &doc.web_session_management;
    if !is_cookie_token(&m.cookie_name) {
        p.push(
            "webSessionManagement.cookieName",
            "1 to 64 letters, digits, '-' or '_'",
        );
    }
    if m.issuer.trim().is_empty() {
        p.push("webSessionManagement.issuer", "must not be empty");
    }
    if m.signing_algorithm != "P-256" {
        p.push(
            "webSessionManagement.signingAlgorithm",
            "only P-256 is supported",
        );
    }
    if m.encryption_algorithm != "A128CBC-HS256" {
        p.push(
            "webSessionManagement.encryptionAlgorithm",
            "only A128CBC-HS256 is supported",
        );
    }
    if !(1..=8760).contains(&m.key_roll_period_in_hours) {
        p.push("webSessionManagement.keyRollPeriodInHours", "1 to 8760");
    }
    if !(1..=60).contains(&m.nonce_cookie_time_to_live_in_minutes) {
        p.push(
            "webSessionManagement.nonceCookieTimeToLiveInMinutes",
            "1 to 60",
        );
    }
    if m.update_token_window_in_seconds > 3600 {
        p.push(
            "webSessionManagement.updateTokenWindowInSeconds",
            "0 to 3600",
        );
    }
    for (i, ws) in doc.web_sessions.iter().enumerate() {
        check_one(doc, ws, &format!("webSessions[{i}]"), p);
        if doc.web_sessions[..i]
            .iter()
            .any(|o| o.audience.eq_ignore_ascii_case(&ws.audience))
        {
            p.push(
                format!("webSessions[{i}].audience"),
                "another web session has this audience (they would share a cookie)",
            );
        }
    }
}

fn check_one(doc: &ConfigDocument, ws: &WebSession, at: &str, p: &mut Problems) {
    if ws.id == 0 {
        p.push(format!("{at}.id"), "must be positive");
    }
    if ws.name.trim().is_empty() {
        p.push(format!("{at}.name"), "must not be empty");
    }
    if !is_cookie_token(&ws.audience) {
        p.push(
            format!("{at}.audience"),
            "1 to 64 letters, digits, '-' or '_' (it names the cookie)",
        );
    }
    let c = &ws.client_credentials;
    if c.client_id.trim().is_empty() {
        p.push(
            format!("{at}.clientCredentials.clientId"),
            "must not be empty",
        );
    }
    if c.credentials_type == CredentialsType::Secret && c.client_secret.is_none() {
        p.push(
            format!("{at}.clientCredentials.clientSecret"),
            "needed with credentialsType SECRET",
        );
    }
    if ws.session_timeout_in_minutes == 0 || ws.session_timeout_in_minutes > 525_600 {
        p.push(format!("{at}.sessionTimeoutInMinutes"), "1 to 525600");
    }
    if ws.idle_timeout_in_minutes == 0 || ws.idle_timeout_in_minutes > ws.session_timeout_in_minutes
    {
        p.push(
            format!("{at}.idleTimeoutInMinutes"),
            "1 to sessionTimeoutInMinutes",
        );
    }
    if ws.same_site == SameSite::None && !ws.secure_cookie {
        p.push(
            format!("{at}.sameSite"),
            "None needs secureCookie (browsers drop such cookies otherwise)",
        );
    }
    if let Some(domain) = &ws.cookie_domain {
        let d = domain.trim_start_matches('.');
        if d.is_empty()
            || !d
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        {
            p.push(format!("{at}.cookieDomain"), "must be a domain name");
        }
    }
    for (j, s) in ws.scopes.iter().enumerate() {
        if s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\')
        {
            p.push(format!("{at}.scopes[{j}]"), "one scope, no spaces");
        }
    }
    if ws.enable_refresh_user && ws.refresh_user_info_claims_interval == 0 {
        p.push(
            format!("{at}.refreshUserInfoClaimsInterval"),
            "must be positive",
        );
    }
    if doc.oidc_provider.is_none() {
        p.push(
            at.to_string(),
            "web sessions log in with the OpenID provider: configure oidcProvider",
        );
    }
}
