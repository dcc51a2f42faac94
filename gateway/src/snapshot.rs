//! The configuration snapshot: a validated document compiled into the immutable form the hot
//! path reads (routing table, site pools, forwarding policy), swapped atomically.
//!
//! A request loads the current snapshot once and keeps it to the end, so a swap never changes
//! the rules under a request in flight; the old snapshot is freed when its last request ends.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use gatehouse_model::document::UnknownResources;
use gatehouse_model::{validate, ConfigDocument, Problems};
use tokio::sync::watch;

use crate::metrics::{AppMetrics, Metrics};
use crate::pipeline::forwarded::ForwardingPolicy;
use crate::route::resource::{ResourceMatcher, ResourceSpec};
use crate::route::trie::ContextTrie;
use crate::route::vhost::VhostTable;
use crate::route::{GlobalResources, RouteApp, RouteResource, RouteTable};
use crate::upstream::SiteClient;

/// A compiled, immutable configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// Configuration revision it was compiled from.
    pub revision: u64,
    /// When it was swapped in.
    pub loaded_at: SystemTime,
    /// The document itself (listeners, counts, export).
    pub doc: Arc<ConfigDocument>,
    /// Routing table.
    pub routes: RouteTable,
    /// Site clients, indexed by `RouteApp::site`.
    pub sites: Vec<Arc<SiteClient>>,
    /// Unknown-resource settings.
    pub unknown: UnknownResources,
    /// Which forwarded headers are believed.
    pub forwarding: ForwardingPolicy,
    /// Access token validators by id.
    pub validators: crate::oauth::Validators,
    /// Headers identity mappings produce (stripped from every client request).
    pub identity_headers: crate::identity::IdentityHeaders,
    /// Host redirects.
    pub redirects: crate::route::redirect::HostRedirects,
    /// Web sessions.
    pub web_sessions: crate::websession::compiled::WebSessions,
}

/// Validates and compiles a document. `previous` lends its site pools where sites are unchanged.
pub fn compile(
    doc: ConfigDocument,
    revision: u64,
    previous: Option<&Snapshot>,
    metrics: Option<&Metrics>,
) -> Result<Snapshot, Problems> {
    validate(&doc)?;
    let mut problems = Problems::default();
    let sites = compile_sites(&doc, previous, &mut problems);
    let routes = compile_routes(&doc, metrics, &mut problems);
    let forwarding = ForwardingPolicy::compile(&doc);
    let detached = Arc::default();
    let counters = metrics.map_or(&detached, |m| &m.jwks);
    let validators = crate::oauth::Validators::compile(
        &doc,
        previous.map(|p| &p.validators),
        counters,
        &mut problems,
    );
    let web_sessions = crate::websession::compiled::WebSessions::compile(
        &doc,
        validators.provider.as_ref(),
        counters,
    );
    problems.into_result()?;
    Ok(Snapshot {
        web_sessions,
        revision,
        loaded_at: SystemTime::now(),
        unknown: doc.unknown_resources.clone(),
        forwarding,
        validators,
        identity_headers: crate::identity::IdentityHeaders::of(&doc),
        redirects: crate::route::redirect::HostRedirects::compile(&doc),
        routes,
        sites,
        doc: Arc::new(doc),
    })
}

fn compile_sites(
    doc: &ConfigDocument,
    previous: Option<&Snapshot>,
    problems: &mut Problems,
) -> Vec<Arc<SiteClient>> {
    let mut out = Vec::with_capacity(doc.sites.len());
    for (i, site) in doc.sites.iter().enumerate() {
        let reused = previous
            .and_then(|p| p.sites.iter().find(|s| s.serves(doc, site)))
            .cloned();
        match reused.map_or_else(|| SiteClient::build(doc, site).map(Arc::new), Ok) {
            Ok(client) => out.push(client),
            Err(e) => problems.push(format!("sites[{i}].{}", e.field()), e.to_string()),
        }
    }
    out
}

fn compile_routes(
    doc: &ConfigDocument,
    metrics: Option<&Metrics>,
    problems: &mut Problems,
) -> RouteTable {
    let mut table = RouteTable {
        reserved: doc.reserved_application.context_root.clone(),
        vhosts: VhostTable::default(),
        roots: Vec::new(),
        apps: Vec::new(),
        globals: compile_globals(doc, problems),
    };
    let rules = crate::policy::compile::PolicyCompiler::new(doc, problems);
    for (i, v) in doc.virtual_hosts.iter().enumerate() {
        table.vhosts.insert(&v.host, v.port, i);
        table.roots.push(ContextTrie::default());
    }
    for (i, app) in doc
        .applications
        .iter()
        .enumerate()
        .filter(|(_, a)| a.enabled)
    {
        let Some(mut compiled) = compile_app(doc, app, i, &rules, problems) else {
            continue;
        };
        if let Some(m) = metrics {
            compiled.metrics = m.app(&app.name);
        }
        let slot = table.apps.len();
        for vid in &app.virtual_host_ids {
            if let Some(v) = doc.virtual_hosts.iter().position(|v| v.id == *vid) {
                table.roots[v].insert(&app.context_root, app.case_sensitive_path, slot);
            }
        }
        table.apps.push(compiled);
    }
    table
}

fn compile_app(
    doc: &ConfigDocument,
    app: &gatehouse_model::objects::Application,
    index: usize,
    rules: &crate::policy::compile::PolicyCompiler<'_>,
    problems: &mut Problems,
) -> Option<RouteApp> {
    let site = doc.sites.iter().position(|s| s.id == app.site_id)?;
    let mut resources = doc.resources_of(app.id);
    resources.retain(|r| r.enabled);
    if app.manual_ordering_enabled {
        let rank = |id: u64| {
            app.resource_order
                .iter()
                .position(|x| *x == id)
                .unwrap_or(usize::MAX)
        };
        resources.sort_by_key(|r| (rank(r.id), r.id));
    }
    let specs: Vec<ResourceSpec<'_>> = resources
        .iter()
        .enumerate()
        .map(|(index, r)| ResourceSpec {
            index,
            id: r.id,
            methods: &r.methods,
            patterns: r
                .path_patterns
                .iter()
                .map(|p| {
                    (
                        p.kind == gatehouse_model::objects::PatternType::Regex,
                        p.pattern.as_str(),
                    )
                })
                .collect(),
        })
        .collect();
    let matcher = match ResourceMatcher::compile(
        &specs,
        app.manual_ordering_enabled,
        !app.case_sensitive_path,
    ) {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!("applications[{index}]"), e.to_string());
            return None;
        }
    };
    Some(RouteApp {
        id: app.id,
        name: app.name.as_str().into(),
        context_root: app.context_root.clone(),
        case_sensitive: app.case_sensitive_path,
        allow_empty_segments: app.allow_empty_path_segments,
        kind: app.application_type,
        default_auth: app.default_auth_type,
        site,
        require_https: app.require_https,
        validator: app.access_validator_id,
        realm: app
            .realm
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| app.name.clone()),
        deploy_reserved: app.deploy_reserved_resources,
        policies: rules.policies(&app.policy),
        api_mapping: crate::identity::compile(doc, app.identity_mapping_ids.api),
        web_mapping: crate::identity::compile(doc, app.identity_mapping_ids.web),
        web_session: app.web_session_id,
        spa_support: app.spa_support_enabled,
        resources: resources
            .iter()
            .map(|r| RouteResource {
                id: r.id,
                name: r.name.as_str().into(),
                anonymous: r.anonymous,
                unprotected: r.unprotected,
                audited: r.audit_level == gatehouse_model::objects::AuditLevel::On,
                policies: rules.policies(&r.policy),
            })
            .collect(),
        matcher,
        metrics: AppMetrics::detached(),
    })
}

/// The enabled global unprotected resources: unprotected, no policy, matched case-sensitively
/// on the whole path.
fn compile_globals(doc: &ConfigDocument, problems: &mut Problems) -> GlobalResources {
    let enabled: Vec<_> = doc
        .global_unprotected_resources
        .iter()
        .filter(|g| g.enabled)
        .collect();
    let any = ["*".to_string()];
    let specs: Vec<ResourceSpec<'_>> = enabled
        .iter()
        .enumerate()
        .map(|(index, g)| ResourceSpec {
            index,
            id: index as u64,
            methods: &any,
            patterns: vec![(false, g.wildcard_path.as_str())],
        })
        .collect();
    let matcher = ResourceMatcher::compile(&specs, false, false).unwrap_or_else(|e| {
        problems.push("globalUnprotectedResources", e.to_string());
        ResourceMatcher::default()
    });
    GlobalResources {
        matcher,
        resources: enabled
            .iter()
            .map(|g| RouteResource {
                id: 0,
                name: format!("global unprotected: {}", g.name).into(),
                anonymous: false,
                unprotected: true,
                audited: g.audit_level == gatehouse_model::objects::AuditLevel::On,
                policies: Default::default(),
            })
            .collect(),
    }
}

/// The engine's current snapshot, swapped atomically; `None` until the first configuration.
#[derive(Debug)]
pub struct SnapshotHandle {
    current: ArcSwapOption<Snapshot>,
    changed: watch::Sender<u64>,
}

impl Default for SnapshotHandle {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            changed: watch::channel(0).0,
        }
    }
}

// === impl SnapshotHandle ===

impl SnapshotHandle {
    /// The current snapshot (one atomic load; no lock).
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// Swaps in a compiled snapshot; requests in flight keep the one they loaded.
    pub fn install(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let revision = snapshot.revision;
        let next = Arc::new(snapshot);
        self.current.store(Some(next.clone()));
        self.changed.send_replace(revision);
        next
    }

    /// Notified with the revision after every swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
