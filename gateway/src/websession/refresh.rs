//! `enableRefreshUser`: a session's attributes read again from the provider's userinfo endpoint
//! with the session's access token, every `refreshUserInfoClaimsInterval` seconds.

use serde_json::{Map, Value};

use super::compiled::CompiledWebSession;
use super::session::Session;
use crate::oauth::fetch::{self, FetchError};

/// What a refresh found.
#[derive(Debug)]
pub enum Outcome {
    /// New attributes (userinfo over the ones from the login).
    Refreshed(Map<String, Value>),
    /// The provider no longer accepts the session's access token: the session ends.
    Revoked,
    /// The provider could not be asked: the attributes are kept, it is tried again later.
    Unavailable,
}

/// Reads userinfo for `session`.
pub async fn user_info(ws: &CompiledWebSession, session: &Session) -> Outcome {
    let Some((token, _)) = &session.access_token else {
        return Outcome::Revoked;
    };
    let url = match ws.provider.metadata().await {
        Ok(meta) => match meta.userinfo_endpoint.clone() {
            Some(u) => u,
            None => return Outcome::Unavailable,
        },
        Err(_) => return Outcome::Unavailable,
    };
    let req = ws.provider.client().get(&url).bearer_auth(token);
    match fetch::json::<Map<String, Value>>(req, &url).await {
        Ok(info) if info.get("sub").and_then(Value::as_str) == Some(session.sub.as_str()) => {
            let mut attrs = session.attrs.clone();
            for (k, v) in info {
                if k != "sub" {
                    attrs.insert(k, v);
                }
            }
            Outcome::Refreshed(attrs)
        }
        Ok(_) => Outcome::Revoked,
        Err(FetchError::Status {
            status: 401 | 403, ..
        }) => Outcome::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "userinfo refresh failed; attributes kept");
            Outcome::Unavailable
        }
    }
}
