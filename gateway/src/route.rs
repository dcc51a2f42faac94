//! Routing (SPEC §5.1): reserved path, virtual host, application (longest context root) and
//! resource, on the normalised path.

pub mod redirect;
pub mod resource;
pub mod trie;
pub mod vhost;

use std::borrow::Cow;
use std::sync::Arc;

use gatehouse_model::objects::ApplicationType;

use crate::metrics::AppMetrics;
use crate::path::{normalize, PathError};
use crate::props::PathSettings;
use resource::ResourceMatcher;
use trie::{AppIndex, ContextTrie};
use vhost::VhostTable;

/// A compiled resource: what later stages need to know.
#[derive(Debug)]
pub struct RouteResource {
    /// Resource id (0 for the implicit root resource).
    pub id: u64,
    /// Name, for logs.
    pub name: Arc<str>,
    /// Rules run, authentication optional.
    pub anonymous: bool,
    /// No authentication, no access-control rules.
    pub unprotected: bool,
    /// Written to the access log.
    pub audited: bool,
    /// Web and API policies of the resource (access control after the application's,
    /// processing before the application's).
    pub policies: crate::policy::Policies,
}

/// A compiled application.
#[derive(Debug)]
pub struct RouteApp {
    /// Application id.
    pub id: u64,
    /// Name, for logs and metrics.
    pub name: Arc<str>,
    /// Context root (`/` or `/a/b`).
    pub context_root: String,
    /// Match case-sensitively.
    pub case_sensitive: bool,
    /// Keep `//` segments.
    pub allow_empty_segments: bool,
    /// Web, API or Dynamic.
    pub kind: ApplicationType,
    /// Dynamic applications: how a request without a bearer token is handled.
    pub default_auth: ApplicationType,
    /// Index of the site in the snapshot.
    pub site: usize,
    /// Refuse plain HTTP.
    pub require_https: bool,
    /// `accessValidatorId`: 0 none, 1 introspection, else a JWT validator id.
    pub validator: u64,
    /// OAuth realm for `WWW-Authenticate` (the configured realm, else the application name).
    pub realm: String,
    /// Web and API policies of the application.
    pub policies: crate::policy::Policies,
    /// Identity mapping for API requests.
    pub api_mapping: Option<std::sync::Arc<crate::identity::CompiledMapping>>,
    /// Identity mapping for web requests.
    pub web_mapping: Option<std::sync::Arc<crate::identity::CompiledMapping>>,
    /// Web session browsers log in with (0: none).
    pub web_session: u64,
    /// Answer XHR/JSON requests without a session with `401` instead of a redirect.
    pub spa_support: bool,
    /// Reserved endpoints also under the context root.
    pub deploy_reserved: bool,
    /// Resources in definition order.
    pub resources: Vec<RouteResource>,
    /// Compiled matcher.
    pub matcher: ResourceMatcher,
    /// Metric handles.
    pub metrics: AppMetrics,
}

/// The whole routing table of a snapshot.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Virtual hosts.
    pub vhosts: VhostTable,
    /// Context roots per virtual host index.
    pub roots: Vec<ContextTrie>,
    /// Applications (disabled ones are not in the tries).
    pub apps: Vec<RouteApp>,
    /// Reserved path (`/pa`).
    pub reserved: String,
    /// Global unprotected resources, matched on the whole path before an application's own.
    pub globals: GlobalResources,
}

/// The global unprotected resources (`/globalUnprotectedResources`) of a snapshot.
#[derive(Debug, Default)]
pub struct GlobalResources {
    /// Matcher over the whole normalised path.
    pub matcher: ResourceMatcher,
    /// One unprotected resource per entry, indexed by the matcher.
    pub resources: Vec<RouteResource>,
}

/// What a request routes to.
#[derive(Debug)]
pub enum Route<'s, 'r> {
    /// A reserved endpoint; `endpoint` is the path below the reserved root (e.g. `/heartbeat.ping`).
    Reserved {
        /// Path below the reserved root.
        endpoint: Cow<'r, str>,
    },
    /// An application resource.
    App {
        /// The application.
        app: &'s RouteApp,
        /// The matched resource.
        resource: &'s RouteResource,
        /// Normalised path for policy and upstream.
        path: Cow<'r, str>,
    },
    /// No virtual host, application or resource matched.
    Unknown {
        /// Normalised path (for logs).
        path: Cow<'r, str>,
    },
}

/// The request facts routing needs.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'r> {
    /// Lower-case effective host, without port.
    pub host: &'r str,
    /// Effective port.
    pub port: u16,
    /// Raw path from the request line.
    pub raw_path: &'r str,
    /// Method.
    pub method: &'r str,
}

// === impl RouteTable ===

impl RouteTable {
    /// Routes a request. Errors are path refusals (`400`).
    pub fn select<'s, 'r>(
        &'s self,
        input: RouteInput<'r>,
        settings: PathSettings,
    ) -> Result<Route<'s, 'r>, PathError> {
        let path = normalize(input.raw_path, settings, false)?;
        if let Some(endpoint) = below(&path, &self.reserved) {
            return Ok(Route::Reserved {
                endpoint: Cow::Owned(endpoint.to_string()),
            });
        }
        let Some(vhost) = self.vhosts.find(input.host, input.port) else {
            return Ok(Route::Unknown { path });
        };
        let Some(found) = self.roots.get(vhost).and_then(|t| t.find(&path)) else {
            return Ok(Route::Unknown { path });
        };
        let app = &self.apps[found.app];
        let (path, root_len) =
            self.app_path(app, input.raw_path, settings, path, found.root_len)?;
        let rest = match &path[root_len..] {
            "" => "/",
            r => r,
        };
        if app.deploy_reserved {
            if let Some(endpoint) = below(rest, &self.reserved) {
                return Ok(Route::Reserved {
                    endpoint: Cow::Owned(endpoint.to_string()),
                });
            }
        }
        if let Some(g) = self.globals.matcher.find(&path, input.method) {
            return Ok(Route::App {
                app,
                resource: &self.globals.resources[g],
                path,
            });
        }
        let folded = fold_case(rest, app.case_sensitive);
        match app.matcher.find(&folded, input.method) {
            Some(r) => Ok(Route::App {
                app,
                resource: &app.resources[r],
                path,
            }),
            None => Ok(Route::Unknown { path }),
        }
    }

    /// For applications that keep empty segments, the path re-normalised without collapsing.
    fn app_path<'r>(
        &self,
        app: &RouteApp,
        raw: &'r str,
        settings: PathSettings,
        collapsed: Cow<'r, str>,
        root_len: usize,
    ) -> Result<(Cow<'r, str>, usize), PathError> {
        if !app.allow_empty_segments {
            return Ok((collapsed, root_len));
        }
        let kept = normalize(raw, settings, true)?;
        let root_bytes = &collapsed[..root_len];
        let on_boundary = kept.get(..root_len).is_some_and(|p| {
            p.eq_ignore_ascii_case(root_bytes)
                && matches!(kept.as_bytes().get(root_len), None | Some(b'/'))
        });
        if on_boundary {
            Ok((kept, root_len))
        } else {
            Ok((collapsed, root_len))
        }
    }

    /// Number of enabled applications.
    pub fn app_count(&self) -> usize {
        self.apps.len()
    }
}

/// The part of `path` below `root` (`/x` for `/pa/x`, `/` for `/pa`), if `path` is inside it.
fn below<'p>(path: &'p str, root: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(root)?;
    match rest {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

/// Index type re-exported for the snapshot compiler.
pub type AppSlot = AppIndex;

/// `text` lower-cased unless matching is case-sensitive; borrowed when nothing changes.
pub(crate) fn fold_case(text: &str, case_sensitive: bool) -> Cow<'_, str> {
    if case_sensitive || !text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_ascii_lowercase())
    }
}
