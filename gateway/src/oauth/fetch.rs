//! The gateway's own HTTP calls to the provider (discovery, JWKS, introspection): TLS verified
//! against a trusted certificate group, short timeouts, bounded response bodies.

use std::time::Duration;

use gatehouse_model::ConfigDocument;

use crate::upstream::trust::{self, TrustError};

/// Largest provider document accepted (discovery, JWKS, introspection answer).
const MAX_BODY: usize = 1024 * 1024;
/// Connect timeout of provider calls.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-call timeout of provider calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a provider call failed (logged; never shown to clients).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connection, TLS or timeout.
    #[error("{url}: {source}")]
    Transport {
        /// Where.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// A non-2xx answer.
    #[error("{url}: HTTP {status}")]
    Status {
        /// Where.
        url: String,
        /// Status code.
        status: u16,
    },
    /// Larger than [`MAX_BODY`].
    #[error("{url}: answer larger than {MAX_BODY} bytes")]
    TooLarge {
        /// Where.
        url: String,
    },
    /// Not the JSON expected.
    #[error("{url}: {reason}")]
    Invalid {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// An HTTP client for provider calls, trusting one certificate group.
pub fn client(doc: &ConfigDocument, group: u64) -> Result<reqwest::Client, TrustError> {
    let tls = trust::group_config(doc, group)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TrustError::BadGroup {
            id: group,
            reason: format!("HTTP client: {e}"),
        })
}

/// Sends a request and parses a bounded JSON answer.
pub async fn json<T: serde::de::DeserializeOwned>(
    req: reqwest::RequestBuilder,
    url: &str,
) -> Result<T, FetchError> {
    let transport = |source| FetchError::Transport {
        url: url.to_string(),
        source,
    };
    let mut resp = req
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: resp.status().as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
        url: url.to_string(),
        reason: e.to_string(),
    })
}
