//! Authentication stage (SPEC §5.3, API part): which requests need a bearer token, and checking
//! it through the application's validator and the engine's verified-token cache.
//!
//! - `unprotected` resources skip authentication;
//! - `API` applications need `Authorization: Bearer`; an `anonymous` resource lets a request
//!   without a token through, but a token that is sent must be valid;
//! - `Dynamic` applications take the API path when a bearer token is sent, and otherwise follow
//!   `defaultAuthType` (`API`: a token is required);
//! - `Web` applications are handled by web sessions (not here).

use std::sync::Arc;

use gatehouse_model::objects::ApplicationType;
use http::HeaderMap;

use crate::engine::Engine;
use crate::oauth::cache::{TokenCache, TokenKey};
use crate::oauth::{bearer_token, Identity, TokenError};
use crate::route::{RouteApp, RouteResource};
use crate::snapshot::Snapshot;

/// A refused bearer token, with what the `WWW-Authenticate` challenge needs.
#[derive(Debug, thiserror::Error)]
#[error("bearer authentication failed: {error}")]
pub struct AuthError {
    /// Why.
    pub error: TokenError,
    /// Realm of the application.
    pub realm: String,
}

/// An API request that passed authentication: its identity, or none on an anonymous resource.
#[derive(Debug)]
pub struct ApiRequest {
    /// The verified identity.
    pub identity: Option<Arc<Identity>>,
}

/// True when a request to `app` is an API request (bearer token, API policy): always for `API`
/// applications, never for `Web`, and for `Dynamic` ones when a bearer token is sent or
/// `defaultAuthType` is `API`.
pub fn is_api_request(app: &RouteApp, headers: &HeaderMap) -> bool {
    match app.kind {
        ApplicationType::Api => true,
        ApplicationType::Dynamic => {
            bearer_token(headers).is_some() || app.default_auth == ApplicationType::Api
        }
        ApplicationType::Web => false,
    }
}

/// Authenticates a routed request. `None`: not an API request (unprotected resource, or a web
/// request); otherwise the API request's identity (absent on an anonymous resource).
///
/// A token already in the verified-token cache costs a hash and a lookup here; only a miss
/// builds the (large) verification future, boxed, so hits do not carry or copy it.
pub async fn authenticate(
    engine: &Engine,
    snap: &Snapshot,
    app: &RouteApp,
    resource: &RouteResource,
    headers: &HeaderMap,
) -> Result<Option<ApiRequest>, AuthError> {
    if resource.unprotected {
        return Ok(None);
    }
    if !is_api_request(app, headers) {
        return Ok(None);
    }
    let token = bearer_token(headers);
    let refuse = |error| AuthError {
        error,
        realm: app.realm.clone(),
    };
    let Some(token) = token else {
        return if resource.anonymous {
            Ok(Some(ApiRequest { identity: None }))
        } else {
            Err(refuse(TokenError::Missing))
        };
    };
    let Some(validator) = snap.validators.get(app.validator) else {
        tracing::error!(
            application = %app.name,
            validator = app.validator,
            "no usable access token validator; refusing"
        );
        return Err(refuse(TokenError::Unavailable));
    };
    let caches = validator.caches();
    let key = TokenCache::key(validator.instance(), token);
    let cached = if caches {
        engine.tokens.lookup(&key).await
    } else {
        None
    };
    let identity = match cached {
        Some(identity) => identity,
        None => Box::pin(verify(engine, &validator, token, key, caches))
            .await
            .map_err(refuse)?,
    };
    Ok(Some(ApiRequest {
        identity: Some(identity),
    }))
}

/// A token not found in the cache: verified (and cached, one verification for concurrent
/// requests with the same token) or, for a validator that does not cache, verified each time.
async fn verify(
    engine: &Engine,
    validator: &crate::oauth::TokenValidator,
    token: &str,
    key: TokenKey,
    caches: bool,
) -> Result<Arc<Identity>, TokenError> {
    let verify = async {
        let mut identity = validator.validate(token).await?;
        identity.cache_key = key;
        Ok(identity)
    };
    if caches {
        engine.tokens.get_or_verify(key, verify).await
    } else {
        verify.await.map(Arc::new)
    }
}
