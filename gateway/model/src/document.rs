//! The whole configuration document: the `data` of `/config/export`, and the startup TOML.

use serde::{Deserialize, Serialize};

use crate::objects::{
    Application, Certificate, EngineListener, Resource, Site, TrustedCertificateGroup, VirtualHost,
};

/// The reserved path singleton (`/applications/reserved`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReservedApplication {
    /// Root of the engine's own endpoints.
    #[serde(default = "ReservedApplication::default_root")]
    pub context_root: String,
}

impl ReservedApplication {
    fn default_root() -> String {
        "/pa".into()
    }
}

impl Default for ReservedApplication {
    fn default() -> Self {
        Self {
            context_root: Self::default_root(),
        }
    }
}

/// Content type of gateway-made error pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ErrorContentType {
    /// Follow the request's `Accept` (HTML for browsers, JSON for APIs).
    #[default]
    Negotiate,
    /// Always HTML.
    Html,
    /// Always JSON.
    Json,
    /// Always plain text.
    Text,
}

/// Unknown-resource answer (`/unknownResources/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnknownResources {
    /// Status code (403 by default).
    #[serde(default = "UnknownResources::default_status")]
    pub error_status_code: u16,
    /// Content type.
    #[serde(default)]
    pub error_content_type: ErrorContentType,
    /// Optional message shown on the page instead of the default.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl UnknownResources {
    fn default_status() -> u16 {
        403
    }
}

impl Default for UnknownResources {
    fn default() -> Self {
        Self {
            error_status_code: 403,
            error_content_type: ErrorContentType::Negotiate,
            error_message: None,
        }
    }
}

/// Which value of a list header to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListValueLocation {
    /// The first (left-most) value.
    First,
    /// The last (right-most) value: the one the nearest proxy added.
    #[default]
    Last,
}

/// Client-IP source (`/httpConfig/request/ipSource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpSource {
    /// Headers to read the client IP from, in order (empty: the peer address).
    #[serde(default)]
    pub header_name_list: Vec<String>,
    /// Which value of a list to use.
    #[serde(default)]
    pub list_value_location: ListValueLocation,
    /// Use the peer address when no header gives a valid IP.
    #[serde(default = "yes")]
    pub fallback_to_last_hop_ip: bool,
    /// Peers (CIDRs) whose forwarded headers are believed; empty: any peer.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl Default for IpSource {
    fn default() -> Self {
        Self {
            header_name_list: Vec::new(),
            list_value_location: ListValueLocation::default(),
            fallback_to_last_hop_ip: true,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Host source (`/httpConfig/request/hostSource`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSource {
    /// Headers giving the original host, before `Host` (empty: `Host` only).
    #[serde(default)]
    pub header_name_list: Vec<String>,
    /// Which value of a list to use.
    #[serde(default)]
    pub list_value_location: ListValueLocation,
}

/// Protocol source (`/httpConfig/request/protocolSource`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtocolSource {
    /// Header giving the original scheme (unset: the listener's).
    #[serde(default)]
    pub header_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// The whole runtime configuration, as exported and as written in the startup TOML.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigDocument {
    /// Engine listeners.
    #[serde(default)]
    pub engine_listeners: Vec<EngineListener>,
    /// Virtual hosts.
    #[serde(default)]
    pub virtual_hosts: Vec<VirtualHost>,
    /// Sites (backends).
    #[serde(default)]
    pub sites: Vec<Site>,
    /// Applications.
    #[serde(default)]
    pub applications: Vec<Application>,
    /// Resources of all applications (each names its `applicationId`).
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Trusted CA certificates.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// Trusted certificate groups.
    #[serde(default)]
    pub trusted_certificate_groups: Vec<TrustedCertificateGroup>,
    /// Reserved path.
    #[serde(default)]
    pub reserved_application: ReservedApplication,
    /// Unknown-resource answer.
    #[serde(default)]
    pub unknown_resources: UnknownResources,
    /// Client IP source.
    #[serde(default)]
    pub http_ip_source: IpSource,
    /// Host source.
    #[serde(default)]
    pub http_host_source: HostSource,
    /// Protocol source.
    #[serde(default)]
    pub http_protocol_source: ProtocolSource,
    /// The OpenID provider (token provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_provider: Option<crate::oauth::OidcProvider>,
    /// The authorization server used for introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_auth_server: Option<crate::oauth::AuthServer>,
    /// Local JWT validators.
    #[serde(default)]
    pub access_token_validators: Vec<crate::oauth::AccessTokenValidator>,
    /// Access-control rules.
    #[serde(default)]
    pub rules: Vec<crate::rules::Rule>,
    /// Rule sets.
    #[serde(default)]
    pub rule_sets: Vec<crate::rules::sets::RuleSet>,
    /// Rejection handlers.
    #[serde(default)]
    pub rejection_handlers: Vec<crate::rules::sets::RejectionHandler>,
    /// Paths every application serves without authentication or access control.
    #[serde(default)]
    pub global_unprotected_resources: Vec<crate::global::GlobalUnprotectedResource>,
    /// Host-level redirects.
    #[serde(default)]
    pub redirects: Vec<crate::global::HostRedirect>,
    /// Identity mappings.
    #[serde(default)]
    pub identity_mappings: Vec<crate::identity::IdentityMapping>,
    /// The key that signs JWT identity mappings.
    #[serde(default)]
    pub auth_token_management: crate::identity::AuthTokenManagement,
    /// Bearer tokens on the admin API (`/auth/oauth`).
    #[serde(default)]
    pub admin_o_auth: crate::oauth::AdminOAuth,
    /// Web sessions.
    #[serde(default)]
    pub web_sessions: Vec<crate::websession::WebSession>,
    /// Web-session cookie name, issuer and keys.
    #[serde(default)]
    pub web_session_management: crate::websession::WebSessionManagement,
    /// HTTP Basic on the admin API (`/auth/basic`).
    #[serde(default)]
    pub admin_basic: crate::oauth::AdminBasic,
}

impl ConfigDocument {
    /// The embedded default: the `Default Engine Listener` (3000, HTTPS) and the virtual host
    /// `localhost:3000`, no applications.
    pub fn embedded_default() -> Self {
        Self {
            engine_listeners: vec![EngineListener {
                id: 1,
                name: "Default Engine Listener".into(),
                port: 3000,
                secure: true,
                trusted_certificate_group_id: 0,
            }],
            virtual_hosts: vec![VirtualHost {
                id: 1,
                host: "localhost".into(),
                port: 3000,
                key_pair_id: 0,
                trusted_certificate_group_id: 0,
            }],
            ..Self::default()
        }
    }

    /// Resources of an application; the implicit `Root Resource` when none is listed.
    pub fn resources_of(&self, application_id: u64) -> Vec<Resource> {
        let listed: Vec<Resource> = self
            .resources
            .iter()
            .filter(|r| r.application_id == application_id)
            .cloned()
            .collect();
        if listed.is_empty() {
            vec![Resource::root_for(application_id, 0)]
        } else {
            listed
        }
    }
}
