//! OpenID provider discovery: `<issuer>/.well-known/openid-configuration`, fetched when first
//! needed, kept for an hour, and kept longer if a refresh fails. The answer's `issuer` must equal
//! the configured issuer exactly (OpenID Connect Discovery §4.3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use serde::Deserialize;

use super::fetch::{self, FetchError};

/// How long discovered metadata is used before it is fetched again.
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// The provider metadata Gatehouse uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Issuer (equal to the configured one).
    pub issuer: String,
    /// Key set of the provider.
    pub jwks_uri: Option<String>,
    /// RFC 7662 endpoint.
    pub introspection_endpoint: Option<String>,
    /// Authorization endpoint (web sessions).
    pub authorization_endpoint: Option<String>,
    /// Token endpoint (web sessions).
    pub token_endpoint: Option<String>,
    /// Userinfo endpoint (web sessions).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RP-initiated logout (web sessions, `useSlo`).
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// RFC 9126 pushed authorization requests (web sessions).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
}

/// The discovered metadata of one provider.
#[derive(Debug)]
pub struct Discovery {
    issuer: String,
    client: reqwest::Client,
    current: ArcSwapOption<(Instant, Arc<Metadata>)>,
    refresh: tokio::sync::Mutex<()>,
}

impl Discovery {
    /// Discovery for `issuer` over `client`; nothing is fetched yet.
    pub fn new(issuer: String, client: reqwest::Client) -> Self {
        Self {
            issuer,
            client,
            current: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The HTTP client that trusts the provider's certificate group (also used for the
    /// provider's JWKS).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Current metadata: cached, or fetched (one fetch at a time).
    pub async fn metadata(&self) -> Result<Arc<Metadata>, FetchError> {
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        match self.fetch().await {
            Ok(m) => {
                let m = Arc::new(m);
                self.current
                    .store(Some(Arc::new((Instant::now(), m.clone()))));
                Ok(m)
            }
            Err(e) => match self.current.load_full() {
                Some(stale) => {
                    tracing::warn!("provider discovery failed, keeping the last metadata: {e}");
                    Ok(stale.1.clone())
                }
                None => Err(e),
            },
        }
    }

    fn fresh(&self) -> Option<Arc<Metadata>> {
        self.current
            .load()
            .as_ref()
            .filter(|c| c.0.elapsed() < METADATA_MAX_AGE)
            .map(|c| c.1.clone())
    }

    async fn fetch(&self) -> Result<Metadata, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let meta: Metadata = fetch::json(self.client.get(&url), &url).await?;
        if meta.issuer != self.issuer {
            return Err(FetchError::Invalid {
                url,
                reason: format!(
                    "issuer '{}' does not equal the configured '{}'",
                    meta.issuer, self.issuer
                ),
            });
        }
        Ok(meta)
    }
}
