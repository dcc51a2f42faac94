//! Browser login against the OpenID provider fixture without a browser: a cookie-keeping HTTP
//! client ([`Idp::browser_client`]) walks the authorization-code flow ([`Idp::login`]) and
//! RP-initiated logout ([`Idp::confirm_logout`]) the way a user would, submitting the provider's
//! own HTML forms (the dev-interaction login and consent pages, the logout confirmation).
//!
//! The client side of the protocol is here too, for tests that talk to the provider without the
//! gateway: [`AuthorizationRequest`] (PKCE S256, `state`, `nonce`), pushed authorization requests
//! (RFC 9126), the code exchange with any of the three client authentication methods
//! ([`ClientAuth`]), userinfo, ID-token verification and the end-session URL.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::html::first_form;
use super::{ClientKind, Idp};

/// Most requests one login or logout may take (a full login with both forms takes 7).
const MAX_STEPS: usize = 20;
/// How much of an unexpected answer's body an error message quotes.
const SNIPPET: usize = 400;
/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// 32 random bytes, base64url without padding (43 characters): a PKCE verifier, `state`,
/// `nonce` or `jti`.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// An authorization-code request: the parameters a relying party sends to the authorization
/// endpoint (or pushes first, with PAR), and the secrets it keeps for the callback and the code
/// exchange.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`; must be one of [`super::IdpOptions::redirect_uris`].
    pub redirect_uri: String,
    /// `scope`, space-separated.
    pub scope: String,
    /// `state`, echoed in the callback.
    pub state: String,
    /// `nonce`, echoed in the ID token.
    pub nonce: String,
    /// PKCE `code_verifier`; its S256 challenge is sent. `None` sends no `code_challenge`.
    pub code_verifier: Option<String>,
    /// More parameters, sent as they are (e.g. `prompt`, `resource`, `login_hint`).
    pub extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// A request with a random `state`, `nonce` and PKCE verifier.
    pub fn new(client_id: &str, redirect_uri: &str, scope: &str) -> Self {
        Self {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scope: scope.to_string(),
            state: random_token(),
            nonce: random_token(),
            code_verifier: Some(random_token()),
            extra: Vec::new(),
        }
    }

    /// The same request with one more parameter.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_string(), value.to_string()));
        self
    }

    /// The PKCE S256 challenge of [`AuthorizationRequest::code_verifier`].
    pub fn code_challenge(&self) -> Option<String> {
        self.code_verifier
            .as_deref()
            .map(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())))
    }

    /// All parameters, `response_type=code` first.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            ("response_type".to_string(), "code".to_string()),
            ("client_id".to_string(), self.client_id.clone()),
            ("redirect_uri".to_string(), self.redirect_uri.clone()),
            ("scope".to_string(), self.scope.clone()),
            ("state".to_string(), self.state.clone()),
            ("nonce".to_string(), self.nonce.clone()),
        ];
        if let Some(challenge) = self.code_challenge() {
            params.push(("code_challenge".to_string(), challenge));
            params.push(("code_challenge_method".to_string(), "S256".to_string()));
        }
        params.extend(self.extra.iter().cloned());
        params
    }
}

/// How a client authenticates at the token and PAR endpoints.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// A fixed client with a secret, by its registered method (`client_secret_basic` or
    /// `client_secret_post`).
    Secret(ClientKind),
    /// `private_key_jwt` (RFC 7523): `client_id`, `client_assertion_type` and this signed
    /// assertion in the form body. The provider accepts each assertion (`jti`) once.
    PrivateKeyJwt {
        /// The client id, e.g. [`super::WEB_JWT_ID`].
        client_id: String,
        /// The signed client assertion; see [`client_assertion_claims`].
        assertion: String,
    },
}

impl From<ClientKind> for ClientAuth {
    fn from(kind: ClientKind) -> Self {
        Self::Secret(kind)
    }
}

impl ClientAuth {
    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret(kind) => kind.id(),
            Self::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }
}

/// Claims of a `private_key_jwt` client assertion: `iss` = `sub` = the client id, `aud` (the
/// token endpoint or the issuer; oidc-provider takes either), a random `jti`, `iat` and an
/// `exp` one minute later.
pub fn client_assertion_claims(client_id: &str, audience: &str) -> Value {
    let now = crate::tokens::now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": random_token(),
        "iat": now,
        "exp": now + 60,
    })
}

/// The query parameters of a URL (e.g. the callback [`Idp::login`] returns: `code`, `state`,
/// `iss`); a repeated name keeps its last value.
pub fn query_params(url: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let url = Url::parse(url).map_err(|e| anyhow::anyhow!("not a URL ({e}): {url}"))?;
    Ok(url.query_pairs().into_owned().collect())
}

/// Where the driver's walk ended.
enum Exit {
    /// A redirect off the provider (or answering a logout confirmation).
    Redirect(String),
    /// A form posting off the provider (`response_mode=form_post`): its action and fields.
    Form {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// What the driver is doing, for its stop rule and its messages.
#[derive(Clone, Copy)]
enum Purpose<'a> {
    /// Log `login` in: stop at the redirect that leaves the provider (with `form_post`: at the
    /// self-submitting form that posts to the client).
    Login(&'a str, bool),
    /// Confirm a logout: stop at the redirect answering the confirmation.
    Logout,
}

impl Purpose<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Login(..) => "login",
            Self::Logout => "logout",
        }
    }
}

impl Idp {
    /// A new "browser": an HTTP client with its own cookie store that does not follow
    /// redirects, trusts the provider's CA (and nothing else) and resolves the issuer's host to
    /// 127.0.0.1.
    pub fn browser_client(&self) -> anyhow::Result<reqwest::Client> {
        self.browser_client_with(&[], false)
    }

    /// [`Idp::browser_client`] that also trusts the CAs in `extra_ca_pems` (PEM, one or more
    /// certificates each; e.g. the gateway's), and with `accept_invalid` any certificate at all.
    pub fn browser_client_with(
        &self,
        extra_ca_pems: &[&str],
        accept_invalid: bool,
    ) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        let own = (!self.ca_pem.is_empty()).then_some(self.ca_pem.as_str());
        for pem in own.iter().chain(extra_ca_pems) {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if accept_invalid {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if self.host.parse::<IpAddr>().is_err() {
            builder = builder.resolve(&self.host, SocketAddr::from(([127, 0, 0, 1], self.port)));
        }
        Ok(builder.build()?)
    }

    /// `authorization_endpoint` from discovery.
    pub fn authorization_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("authorization_endpoint")
    }

    /// `pushed_authorization_request_endpoint` from discovery.
    pub fn par_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("pushed_authorization_request_endpoint")
    }

    /// `userinfo_endpoint` from discovery.
    pub fn userinfo_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("userinfo_endpoint")
    }

    /// `end_session_endpoint` from discovery.
    pub fn end_session_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("end_session_endpoint")
    }

    /// The authorization endpoint with `request`'s parameters.
    pub fn authorize_url(&self, request: &AuthorizationRequest) -> anyhow::Result<String> {
        Ok(Url::parse_with_params(&self.authorization_endpoint()?, request.params())?.into())
    }

    /// Pushes `request` (RFC 9126) as `auth`; the answer holds `request_uri` and `expires_in`.
    pub async fn push_authorization_request(
        &self,
        auth: &ClientAuth,
        request: &AuthorizationRequest,
    ) -> anyhow::Result<Value> {
        self.post_form_as(&self.par_endpoint()?, auth, request.params())
            .await
    }

    /// The authorization endpoint with only `client_id` and a pushed request's `request_uri`.
    pub fn par_authorize_url(&self, client_id: &str, request_uri: &str) -> anyhow::Result<String> {
        let params = [("client_id", client_id), ("request_uri", request_uri)];
        Ok(Url::parse_with_params(&self.authorization_endpoint()?, params)?.into())
    }

    /// The end-session endpoint with the parameters that are given.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> anyhow::Result<String> {
        let params = [
            ("id_token_hint", id_token_hint),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
            ("state", state),
        ];
        let given = params.iter().filter_map(|(k, v)| v.map(|v| (*k, v)));
        Ok(Url::parse_with_params(&self.end_session_endpoint()?, given)?.into())
    }

    /// Exchanges an authorization code at the token endpoint as `auth`; the whole answer
    /// (`access_token`, `id_token`, `expires_in`, `scope`, `token_type`, and `refresh_token`
    /// when `offline_access` was granted). An error carries the provider's JSON answer.
    pub async fn exchange_code(
        &self,
        auth: &ClientAuth,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), redirect_uri.to_string()),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier".to_string(), verifier.to_string()));
        }
        self.post_form_as(&self.token_endpoint()?, auth, form).await
    }

    /// The userinfo endpoint's answer to `GET` with the bearer `access_token`.
    pub async fn userinfo(&self, access_token: &str) -> anyhow::Result<Value> {
        let url = self.userinfo_endpoint()?;
        let response = self.http.get(&url).bearer_auth(access_token).send().await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("GET {url} answered {status} (WWW-Authenticate: {challenge}): {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Verifies an ID token as a relying party would: signature by the provider's key named by
    /// `kid` (fetched afresh), `alg` RS256 or ES256, `iss` = the issuer, `aud` = `client_id`,
    /// `exp`, and `nonce` when one is given. Its claims.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> anyhow::Result<Value> {
        let header = jsonwebtoken::decode_header(id_token)?;
        let kid = header
            .kid
            .ok_or_else(|| anyhow::anyhow!("ID token header without kid"))?;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.jwks().await?)?;
        let jwk = jwks
            .find(&kid)
            .ok_or_else(|| anyhow::anyhow!("no key {kid} in the provider's JWKS"))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
        anyhow::ensure!(
            matches!(
                header.alg,
                jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::ES256
            ),
            "unexpected ID token alg {:?}",
            header.alg
        );
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)?.claims;
        if let Some(nonce) = nonce {
            anyhow::ensure!(
                claims["nonce"] == nonce,
                "ID token nonce {} is not {nonce}",
                claims["nonce"]
            );
        }
        Ok(claims)
    }

    /// Logs `login` in through the provider's pages, as a browser would with `browser` (from
    /// [`Idp::browser_client`]: cookies kept, redirects not followed).
    ///
    /// GETs `authorize_url` (plain parameters, or `client_id` + `request_uri` from PAR), follows
    /// the provider's redirects, fills in and submits the dev-interaction login form (`login` as
    /// the account id, any password) when it is shown, and the consent form when it is shown;
    /// when the browser already has a session (and a grant), neither is. Returns the redirect
    /// that leaves the provider, absolute and not requested: the client's `redirect_uri` with
    /// `code`, `state` and `iss`. An error names the step where the flow stopped and quotes the
    /// provider's answer, including a redirect to the client with `error`.
    pub async fn login(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        login: &str,
    ) -> anyhow::Result<String> {
        let Exit::Redirect(location) = self
            .drive(browser, authorize_url, Purpose::Login(login, false))
            .await?
        else {
            anyhow::bail!("login: the provider answered with a form post, not a redirect");
        };
        let params = query_params(&location)?;
        if let Some(error) = params.get("error") {
            anyhow::bail!(
                "login: the provider sent the browser back to the client with error={error} \
                 ({}): {location}",
                params
                    .get("error_description")
                    .map_or("no description", String::as_str)
            );
        }
        Ok(location)
    }

    /// Follows RP-initiated logout from `end_session_url` (see [`Idp::end_session_url`]) with
    /// `browser`: submits the confirmation form ("Yes, sign me out", which ends the whole
    /// provider session), or the self-submitting form the provider shows when the browser has
    /// no session. Returns the redirect that answers it, absolute and not requested: the
    /// `post_logout_redirect_uri` (with `state` when one was given), or the provider's own
    /// `/session/end/success` page without one.
    pub async fn confirm_logout(
        &self,
        browser: &reqwest::Client,
        end_session_url: &str,
    ) -> anyhow::Result<String> {
        match self
            .drive(browser, end_session_url, Purpose::Logout)
            .await?
        {
            Exit::Redirect(location) => Ok(location),
            Exit::Form { action, .. } => {
                anyhow::bail!("logout: the provider posts a form to {action} instead")
            }
        }
    }

    /// Like [`Idp::login`] for `response_mode=form_post`: returns the action (the client's
    /// `redirect_uri`) and fields (`code`, `state`, `iss`) of the provider's self-submitting form,
    /// not submitted.
    pub async fn login_form_post(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        login: &str,
    ) -> anyhow::Result<(String, Vec<(String, String)>)> {
        match self
            .drive(browser, authorize_url, Purpose::Login(login, true))
            .await?
        {
            Exit::Form { action, fields } => Ok((action, fields)),
            Exit::Redirect(location) => {
                anyhow::bail!("login: a redirect to {location}, not a form post")
            }
        }
    }

    /// The browser's walk: GET `start`, follow redirects within the provider, submit the forms
    /// of its pages, until [`Purpose`] says stop at a redirect.
    async fn drive(
        &self,
        browser: &reqwest::Client,
        start: &str,
        purpose: Purpose<'_>,
    ) -> anyhow::Result<Exit> {
        let what = purpose.name();
        let provider = Url::parse(&self.issuer)?;
        let mut url =
            Url::parse(start).map_err(|e| anyhow::anyhow!("{what}: bad start URL {start}: {e}"))?;
        let mut body: Option<Vec<(String, String)>> = None;
        let mut submitted = false;
        let mut trail: Vec<String> = Vec::new();
        for _ in 0..MAX_STEPS {
            let method = if body.is_some() { "POST" } else { "GET" };
            let request = match &body {
                Some(form) => browser.post(url.clone()).form(form),
                None => browser.get(url.clone()),
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => anyhow::bail!(
                    "{what} stopped at {method} {url}: {e:?}\nsteps: {}\n{}",
                    trail.join("; "),
                    self.logs()
                ),
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let Some(location) = location else {
                    anyhow::bail!(
                        "{what} stopped at {method} {url}: {status} without Location\nsteps: {}",
                        trail.join("; ")
                    );
                };
                let next = url.join(&location)?;
                trail.push(format!(
                    "{method} {} -> {status} {}",
                    short(&url, &provider),
                    short(&next, &provider)
                ));
                let leaves = next.origin() != provider.origin();
                if leaves || (submitted && matches!(purpose, Purpose::Logout)) {
                    return Ok(Exit::Redirect(next.into()));
                }
                // 307 and 308 repeat the request, body included; the others turn it into a GET.
                if !matches!(
                    status,
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                ) {
                    body = None;
                }
                url = next;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let form = if status.is_success() {
                first_form(&text)
            } else {
                None
            };
            let page = match &form {
                Some(f) if f.is_login => " (login form)",
                Some(_) => " (form)",
                None => "",
            };
            trail.push(format!(
                "{method} {} -> {status}{page}",
                short(&url, &provider)
            ));
            let here = short(&url, &provider);
            let stopped = |why: &str| {
                anyhow::anyhow!(
                    "{what} stopped at {method} {here}: {why}; the provider answered {status}: {}\
                     \nsteps: {}\n{}",
                    snippet(&text),
                    trail.join("; "),
                    self.logs()
                )
            };
            if !status.is_success() {
                return Err(stopped("an error instead of a page"));
            }
            let Some(form) = form else {
                return Err(stopped("no form on the page"));
            };
            let mut fields = form.fields;
            if form.is_login {
                let Purpose::Login(login, _) = purpose else {
                    return Err(stopped(
                        "a login form where a logout confirmation was expected",
                    ));
                };
                for field in &mut fields {
                    if field.name == "login" {
                        field.value = login.to_string();
                    } else if field.kind == "password" {
                        // Dev interactions take any password; the field is `required`.
                        field.value = "gatehouse-test-password".to_string();
                    }
                }
            }
            let action = url.join(&form.action)?;
            let pairs: Vec<(String, String)> =
                fields.into_iter().map(|f| (f.name, f.value)).collect();
            if action.origin() != provider.origin() {
                if let Purpose::Login(_, true) = purpose {
                    return Ok(Exit::Form {
                        action: action.into(),
                        fields: pairs,
                    });
                }
                return Err(stopped(&format!(
                    "the page's form posts to {action}, off the provider (response_mode=form_post?)"
                )));
            }
            url = action;
            if form.method == "get" {
                url.query_pairs_mut().clear().extend_pairs(&pairs);
                body = None;
            } else {
                body = Some(pairs);
            }
            submitted = true;
        }
        anyhow::bail!(
            "{what} did not end within {MAX_STEPS} requests\nsteps: {}",
            trail.join("; ")
        )
    }

    /// POSTs `form` to `url` with `auth`'s client authentication; the JSON answer.
    async fn post_form_as(
        &self,
        url: &str,
        auth: &ClientAuth,
        mut form: Vec<(String, String)>,
    ) -> anyhow::Result<Value> {
        let request = match auth {
            ClientAuth::Secret(kind) => {
                let borrowed: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                self.client_request(url, kind, borrowed)
            }
            ClientAuth::PrivateKeyJwt {
                client_id,
                assertion,
            } => {
                form.push(("client_id".to_string(), client_id.clone()));
                form.push((
                    "client_assertion_type".to_string(),
                    JWT_BEARER_ASSERTION.to_string(),
                ));
                form.push(("client_assertion".to_string(), assertion.clone()));
                self.http.post(url).form(&form)
            }
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("POST {url} answered {status}: {body}\n{}", self.logs());
        }
        Ok(serde_json::from_str(&body)?)
    }
}

/// A URL for the step trail, cut short: path and query on the provider, whole elsewhere.
fn short(url: &Url, provider: &Url) -> String {
    if url.origin() != provider.origin() {
        return cut(url.as_str(), 120);
    }
    let mut text = url.path().to_string();
    if let Some(query) = url.query() {
        text.push('?');
        text.push_str(query);
    }
    cut(&text, 120)
}

/// The first `max` characters of `text`, with `...` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// An answer's body for an error message: whitespace collapsed, cut short.
fn snippet(body: &str) -> String {
    cut(
        &body.split_whitespace().collect::<Vec<_>>().join(" "),
        SNIPPET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        let mut request = AuthorizationRequest::new("c", "http://localhost/cb", "openid");
        request.code_verifier = Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_string());
        assert_eq!(
            request.code_challenge().as_deref(),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        let params = request.params();
        assert!(params.contains(&("code_challenge_method".into(), "S256".into())));
        request.code_verifier = None;
        assert!(!request.params().iter().any(|(k, _)| k.starts_with("code_")));
        assert_eq!(random_token().len(), 43);
        assert_ne!(random_token(), random_token());
    }

    #[test]
    fn query_params_of_a_callback() {
        let params =
            query_params("http://localhost/cb?code=a%2Bb&state=s&iss=https%3A%2F%2Fx").unwrap();
        assert_eq!(params["code"], "a+b");
        assert_eq!(params["iss"], "https://x");
        assert!(query_params("not a url").is_err());
    }
}
