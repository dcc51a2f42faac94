//! The configuration objects, with the admin API's camelCase field names and PingAccess defaults.

use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}
fn minus_one() -> i64 {
    -1
}

/// An engine listener: a port the engine serves (`/engineListeners`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineListener {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// TCP port.
    pub port: u16,
    /// HTTPS (true) or plain HTTP.
    #[serde(default = "yes")]
    pub secure: bool,
    /// Trusted certificate group for client certificates (0: none).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
}

/// A virtual host (`/virtualhosts`): `host` is exact, `*.domain` or `*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualHost {
    /// Object id.
    pub id: u64,
    /// Host name, `*.example.com` or `*`.
    pub host: String,
    /// Port the host is reached on (the `Host` header's port, or the scheme default).
    pub port: u16,
    /// Key pair served by SNI for this host (0: the listener's).
    #[serde(default)]
    pub key_pair_id: u64,
    /// Trusted certificate group for client certificates (0: none).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
}

/// Availability settings of a site (PingAccess's on-demand availability profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Availability {
    /// Connect timeout, ms.
    #[serde(default = "Availability::default_connect")]
    pub connect_timeout: u64,
    /// Time to wait for the response head, ms; -1 waits forever.
    #[serde(default = "minus_one")]
    pub read_timeout: i64,
    /// Attempts on one target after the first failure.
    #[serde(default = "Availability::default_retries")]
    pub max_retries: u32,
    /// Pause between retries, ms.
    #[serde(default = "Availability::default_retry_delay")]
    pub retry_delay: u64,
    /// Seconds a failed target is skipped before it is tried again.
    #[serde(default = "Availability::default_failed_retry")]
    pub failed_retry_timeout: u64,
    /// Response statuses that count as a failed target.
    #[serde(default)]
    pub failure_http_status_codes: Vec<u16>,
}

impl Availability {
    fn default_connect() -> u64 {
        10_000
    }
    fn default_retries() -> u32 {
        2
    }
    fn default_retry_delay() -> u64 {
        250
    }
    fn default_failed_retry() -> u64 {
        60
    }
}

impl Default for Availability {
    fn default() -> Self {
        Self {
            connect_timeout: Self::default_connect(),
            read_timeout: -1,
            max_retries: Self::default_retries(),
            retry_delay: Self::default_retry_delay(),
            failed_retry_timeout: Self::default_failed_retry(),
            failure_http_status_codes: Vec::new(),
        }
    }
}

/// How a site spreads requests over its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum LoadBalancingType {
    /// First available target, in order; the next one only when it fails.
    #[default]
    FirstAvailable,
    /// Rotate over available targets.
    RoundRobin,
}

/// Load-balancing strategy of a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancing {
    /// Strategy.
    #[serde(rename = "type", default)]
    pub kind: LoadBalancingType,
    /// RoundRobin only: pin a browser to a target with a cookie.
    #[serde(default)]
    pub sticky_session_enabled: bool,
    /// Name of the sticky cookie.
    #[serde(default = "LoadBalancing::default_cookie")]
    pub cookie_name: String,
}

impl LoadBalancing {
    fn default_cookie() -> String {
        "PA_S".into()
    }
}

impl Default for LoadBalancing {
    fn default() -> Self {
        Self {
            kind: LoadBalancingType::default(),
            sticky_session_enabled: false,
            cookie_name: Self::default_cookie(),
        }
    }
}

/// A backend (`/sites`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Site {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// `host:port` targets.
    pub targets: Vec<String>,
    /// HTTPS to the targets.
    #[serde(default)]
    pub secure: bool,
    /// Trust anchors for target TLS (0: the system roots).
    #[serde(default)]
    pub trusted_certificate_group_id: u64,
    /// Accept any certificate name (chain still verified).
    #[serde(default)]
    pub skip_hostname_verification: bool,
    /// Name to verify instead of the target host.
    #[serde(default)]
    pub expected_hostname: Option<String>,
    /// Send `Host: <target>` instead of the client's host.
    #[serde(default)]
    pub use_target_host_header: bool,
    /// Idle time of pooled connections, ms (0: 90 s).
    #[serde(default)]
    pub keep_alive_timeout: u64,
    /// Most pooled idle connections per target (-1: unlimited).
    #[serde(default = "minus_one")]
    pub max_connections: i64,
    /// Most concurrent WebSockets to this site (-1: unlimited).
    #[serde(default = "minus_one")]
    pub max_web_socket_connections: i64,
    /// Forward the PA session cookie to the site.
    #[serde(default = "yes")]
    pub send_pa_cookie: bool,
    /// Load-balancing strategy.
    #[serde(default)]
    pub load_balancing_strategy: LoadBalancing,
    /// Timeouts, retries and failover.
    #[serde(default)]
    pub availability: Availability,
}

/// Application type.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum ApplicationType {
    /// Browser application (web session).
    #[default]
    Web,
    /// API application (bearer tokens).
    #[serde(rename = "API")]
    Api,
    /// Both: bearer token if present, else web session.
    Dynamic,
}

/// A reference from a policy to a rule or rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyItem {
    /// `Rule` or `RuleSet`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Rule or rule set id.
    pub id: u64,
}

/// Web and API policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rules for web requests.
    #[serde(rename = "Web", default)]
    pub web: Vec<PolicyItem>,
    /// Rules for API requests.
    #[serde(rename = "API", default)]
    pub api: Vec<PolicyItem>,
}

impl Policy {
    /// True when neither list has an item.
    pub fn is_empty(&self) -> bool {
        self.web.is_empty() && self.api.is_empty()
    }
}

/// Identity mapping per request kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityMappingIds {
    /// Mapping for web requests (0: none).
    #[serde(rename = "Web", default)]
    pub web: u64,
    /// Mapping for API requests (0: none).
    #[serde(rename = "API", default)]
    pub api: u64,
}

/// An application (`/applications`): a context root on virtual hosts, proxied to a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Disabled applications answer as unknown resources.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `/` or `/a/b` (no trailing `/`, no wildcard).
    pub context_root: String,
    /// Match paths case-sensitively.
    #[serde(default)]
    pub case_sensitive_path: bool,
    /// Keep `//` segments.
    #[serde(default)]
    pub allow_empty_path_segments: bool,
    /// Virtual hosts the application answers on.
    pub virtual_host_ids: Vec<u64>,
    /// `Web`, `API` or `Dynamic`.
    #[serde(default)]
    pub application_type: ApplicationType,
    /// Dynamic applications: mode when the request carries no token.
    #[serde(default)]
    pub default_auth_type: ApplicationType,
    /// Backend site.
    pub site_id: u64,
    /// Web session (0: unprotected web application).
    #[serde(default)]
    pub web_session_id: u64,
    /// 0 none, 1 introspection, else an access token validator id.
    #[serde(default)]
    pub access_validator_id: u64,
    /// Identity mappings.
    #[serde(default)]
    pub identity_mapping_ids: IdentityMappingIds,
    /// Application policy.
    #[serde(default)]
    pub policy: Policy,
    /// Answer browsers' XHR with 401 instead of a redirect.
    #[serde(default = "yes")]
    pub spa_support_enabled: bool,
    /// Refuse plain HTTP (`requireHTTPS`, spelt as in the PingAccess admin API).
    #[serde(default, rename = "requireHTTPS")]
    pub require_https: bool,
    /// OAuth realm for `WWW-Authenticate`.
    #[serde(default)]
    pub realm: Option<String>,
    /// Resources are matched in `resourceOrder` (regex allowed).
    #[serde(default)]
    pub manual_ordering_enabled: bool,
    /// Resource ids, in matching order (manual ordering).
    #[serde(default)]
    pub resource_order: Vec<u64>,
    /// Also serve the reserved endpoints under `<contextRoot><reserved>`.
    #[serde(default)]
    pub deploy_reserved_resources: bool,
}

/// Path pattern kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PatternType {
    /// `*` matches any run of characters.
    #[default]
    Wildcard,
    /// A full-match regular expression (manual ordering only).
    Regex,
}

/// A resource path pattern, relative to the context root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathPattern {
    /// Pattern kind.
    #[serde(rename = "type", default)]
    pub kind: PatternType,
    /// Pattern text, starting with `/`.
    pub pattern: String,
}

/// Audit level of a resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuditLevel {
    /// Requests are written to the access log.
    #[default]
    On,
    /// Requests are not written to the access log.
    Off,
}

/// A resource of an application (`/applications/{id}/resources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resource {
    /// Object id.
    pub id: u64,
    /// Owning application.
    pub application_id: u64,
    /// Display name.
    pub name: String,
    /// Disabled resources do not match.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// HTTP methods, or `*`.
    #[serde(default = "Resource::any_method")]
    pub methods: Vec<String>,
    /// Path patterns relative to the context root.
    pub path_patterns: Vec<PathPattern>,
    /// Rules run, authentication optional.
    #[serde(default)]
    pub anonymous: bool,
    /// No authentication and no access-control rules.
    #[serde(default)]
    pub unprotected: bool,
    /// Resource policy.
    #[serde(default)]
    pub policy: Policy,
    /// Access log on or off.
    #[serde(default)]
    pub audit_level: AuditLevel,
}

impl Resource {
    fn any_method() -> Vec<String> {
        vec!["*".into()]
    }

    /// The implicit `Root Resource` (`/*`, any method) of an application.
    pub fn root_for(application_id: u64, id: u64) -> Self {
        Self {
            id,
            application_id,
            name: "Root Resource".into(),
            enabled: true,
            methods: Self::any_method(),
            path_patterns: vec![PathPattern {
                kind: PatternType::Wildcard,
                pattern: "/*".into(),
            }],
            anonymous: false,
            unprotected: false,
            policy: Policy::default(),
            audit_level: AuditLevel::On,
        }
    }
}

/// A trusted CA certificate (`/certificates`), PEM text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// Object id.
    pub id: u64,
    /// Display name.
    pub alias: String,
    /// PEM-encoded certificate.
    pub file_data: String,
}

/// A group of trusted certificates (`/trustedCertificateGroups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedCertificateGroup {
    /// Object id (1 and 2 are built in).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Certificates in the group.
    #[serde(default)]
    pub cert_ids: Vec<u64>,
    /// Also trust the system's public roots.
    #[serde(default)]
    pub use_java_trust_store: bool,
    /// Trust any certificate (testing only).
    #[serde(default)]
    pub ignore_all_certificate_errors: bool,
}
