//! A client of the admin API (`/pa-admin-api/v3`) over real HTTPS, as automation would use it.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Basic credentials plus the XSRF header on every call.
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

/// Status and JSON body (`Null` when empty or not JSON).
pub type Reply = (StatusCode, Value);

impl AdminClient {
    /// A client of the API at `https://127.0.0.1:<port>/pa-admin-api/v3`.
    pub fn new(port: u16, user: &str, password: &str) -> Self {
        Self {
            base: format!("https://127.0.0.1:{port}/pa-admin-api/v3"),
            user: user.into(),
            password: password.into(),
            http: crate::client::https(&[]),
        }
    }

    /// The same API as another user.
    pub fn as_user(&self, user: &str, password: &str) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
            ..self.clone()
        }
    }

    /// A request builder with credentials and the XSRF header.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-XSRF-Header", "Gatehouse")
    }

    /// Sends and reads the JSON answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.request(Method::DELETE, path)).await
    }
}
