//! Host redirects (`/redirects`): every request to a source host and port is sent to the same
//! path and query on the target, before any application is looked up.

use gatehouse_model::objects::AuditLevel;
use gatehouse_model::ConfigDocument;
use http::StatusCode;

/// One compiled redirect.
#[derive(Debug)]
struct HostRedirect {
    host: String,
    port: u16,
    base: String,
    status: StatusCode,
    audited: bool,
}

/// The redirects of a snapshot.
#[derive(Debug, Default)]
pub struct HostRedirects(Vec<HostRedirect>);

/// Where a redirected request goes.
#[derive(Debug)]
pub struct Redirected {
    /// The target URL (target origin plus the request's path and query).
    pub location: String,
    /// 3xx status.
    pub status: StatusCode,
    /// Access-log it.
    pub audited: bool,
}

impl HostRedirects {
    /// Compiles a document's redirects.
    pub fn compile(doc: &ConfigDocument) -> Self {
        Self(
            doc.redirects
                .iter()
                .map(|r| {
                    let scheme = if r.target.secure { "https" } else { "http" };
                    let default_port = if r.target.secure { 443 } else { 80 };
                    let port = if r.target.port == default_port {
                        String::new()
                    } else {
                        format!(":{}", r.target.port)
                    };
                    let target = if r.target.host.contains(':') {
                        format!("[{}]", r.target.host.trim_matches(['[', ']']))
                    } else {
                        r.target.host.clone()
                    };
                    HostRedirect {
                        host: r.source.host.to_ascii_lowercase(),
                        port: r.source.port,
                        base: format!("{scheme}://{target}{port}"),
                        status: StatusCode::from_u16(r.response_code)
                            .unwrap_or(StatusCode::MOVED_PERMANENTLY),
                        audited: r.audit_level == AuditLevel::On,
                    }
                })
                .collect(),
        )
    }

    /// The redirect for a request to `host:port` with `path_and_query` (as received).
    pub fn find(&self, host: &str, port: u16, path_and_query: &str) -> Option<Redirected> {
        let r = self.0.iter().find(|r| r.port == port && r.host == host)?;
        Some(Redirected {
            location: format!("{}{path_and_query}", r.base),
            status: r.status,
            audited: r.audited,
        })
    }
}
