//! Objects that apply across applications: global unprotected resources
//! (`/globalUnprotectedResources`) and host redirects (`/redirects`). Their ids are strings, as
//! in PingAccess.

use serde::{Deserialize, Serialize};

use crate::objects::AuditLevel;

/// A path pattern every application serves without authentication or access control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalUnprotectedResource {
    /// Object id (a string).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Pattern on the whole normalised request path (`/favicon.ico`, `/static/*`).
    pub wildcard_path: String,
    /// Disabled entries are ignored.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Access-log requests it serves.
    #[serde(default)]
    pub audit_level: AuditLevel,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A host and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPort {
    /// Host name (lower-case match).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The redirect target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectTarget {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `https` (default) or `http`.
    #[serde(default = "yes")]
    pub secure: bool,
}

/// Every request to `source` is redirected to the same path and query on `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostRedirect {
    /// Object id (a string).
    pub id: String,
    /// Requests to this host and port…
    pub source: HostPort,
    /// …go here.
    pub target: RedirectTarget,
    /// 301 (default), 302, 307 or 308.
    #[serde(default = "HostRedirect::default_code")]
    pub response_code: u16,
    /// Access-log redirected requests.
    #[serde(default)]
    pub audit_level: AuditLevel,
}

impl HostRedirect {
    fn default_code() -> u16 {
        301
    }
}

fn yes() -> bool {
    true
}
