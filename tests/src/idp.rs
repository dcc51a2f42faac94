//! A real OpenID provider for the end-to-end tests: the certified `oidc-provider` npm package,
//! run by Node.js from `tests/fixtures/oidc-provider/server.js` over HTTPS on 127.0.0.1, with a
//! throw-away CA.
//!
//! [`Idp::start`] installs the npm packages when needed (`npm ci`, once, under a file lock shared
//! by every test thread and test process), starts the provider and waits until it is ready. The
//! clients, secrets and resource indicators are fixed; see the fixture's README.md.
//!
//! - A client-credentials token requested with `resource` = [`RESOURCE_URI`] is a JWT signed
//!   with RS256 (with [`RESOURCE_URI_ES`]: ES256), `aud` = the resource, scopes [`SCOPES`].
//! - Without `resource` (or with [`RESOURCE_URI_OPAQUE`]) it is opaque and introspectable;
//!   revoked, it introspects as `{"active": false}`. JWTs cannot be introspected (400
//!   `unsupported_token_type`).
//! - Browser login (authorization code + PKCE, PAR, userinfo, RP-initiated logout) is driven
//!   over plain HTTP by [`login`]: [`Idp::browser_client`], [`Idp::login`],
//!   [`Idp::confirm_logout`].

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::pki::TestCa;
use crate::{free_port, wait};

mod html;
pub mod login;
pub use login::{query_params, AuthorizationRequest, ClientAuth};

/// Client id of the confidential client-credentials client that authenticates with HTTP Basic
/// (`client_secret_basic`).
pub const CC_BASIC_ID: &str = "gatehouse-cc";
/// Secret of [`CC_BASIC_ID`].
pub const CC_BASIC_SECRET: &str = "gatehouse-cc-secret";
/// Client id of the client-credentials client that authenticates in the form body
/// (`client_secret_post`).
pub const CC_POST_ID: &str = "gatehouse-cc-post";
/// Secret of [`CC_POST_ID`].
pub const CC_POST_SECRET: &str = "gatehouse-cc-post-secret";
/// Client id of the resource server (the gateway) at the introspection and revocation
/// endpoints, `client_secret_basic`.
pub const RS_BASIC_ID: &str = "gatehouse-rs";
/// Secret of [`RS_BASIC_ID`].
pub const RS_BASIC_SECRET: &str = "gatehouse-rs-secret";
/// Client id of the resource server, `client_secret_post`.
pub const RS_POST_ID: &str = "gatehouse-rs-post";
/// Secret of [`RS_POST_ID`].
pub const RS_POST_SECRET: &str = "gatehouse-rs-post-secret";
/// Client id for browser login (authorization code + PKCE), `client_secret_basic`; its redirect
/// URIs are [`IdpOptions::redirect_uris`].
pub const WEB_ID: &str = "gatehouse-web";
/// Secret of [`WEB_ID`].
pub const WEB_SECRET: &str = "gatehouse-web-secret";
/// Client id for browser login that authenticates at the token endpoint in the form body
/// (`client_secret_post`); same redirect URIs as [`WEB_ID`].
pub const WEB_POST_ID: &str = "gatehouse-web-post";
/// Secret of [`WEB_POST_ID`].
pub const WEB_POST_SECRET: &str = "gatehouse-web-post-secret";
/// Client id for browser login that authenticates with `private_key_jwt` (ES256 client
/// assertions, keys from [`IdpOptions::web_jwks_uri`]); it exists only when that is set.
pub const WEB_JWT_ID: &str = "gatehouse-web-jwt";
/// Default redirect URI of the browser-login clients.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost/pa/oidc/cb";
/// Default post-logout redirect URI of the browser-login clients.
pub const DEFAULT_POST_LOGOUT_REDIRECT_URI: &str = "http://localhost/";

/// Resource indicator whose access tokens are JWTs signed with RS256.
pub const RESOURCE_URI: &str = "https://api.gatehouse.test";
/// Resource indicator whose access tokens are JWTs signed with ES256.
pub const RESOURCE_URI_ES: &str = "https://api-es.gatehouse.test";
/// Resource indicator whose access tokens are opaque (introspectable, with `aud`).
pub const RESOURCE_URI_OPAQUE: &str = "https://api-opaque.gatehouse.test";
/// Scopes the resource indicators grant.
pub const SCOPES: &str = "read write";
/// `kid` of the provider's RS256 signing key.
pub const KID_RS256: &str = "gatehouse-test-rs256";
/// `kid` of the provider's ES256 signing key.
pub const KID_ES256: &str = "gatehouse-test-es256";

/// Longest wait for the provider to listen, once the packages are installed.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Longest wait for `npm ci` (and for another process's `npm ci`).
const INSTALL_DEADLINE: Duration = Duration::from_secs(600);
/// Lowest Node.js version (major, minor) oidc-provider 9 runs on (it calls `URL.parse`).
const NODE_MIN: (u32, u32) = (20, 18);
/// Written into `node_modules/` after a successful `npm ci`: the hash of the manifests.
const STAMP_FILE: &str = ".gatehouse-install-stamp";

/// How a client authenticates to the provider's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic` with the url-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// The provider's fixed clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// [`CC_BASIC_ID`]: client credentials, `client_secret_basic`.
    ClientCredentialsBasic,
    /// [`CC_POST_ID`]: client credentials, `client_secret_post`.
    ClientCredentialsPost,
    /// [`RS_BASIC_ID`]: the resource server, `client_secret_basic`.
    ResourceServerBasic,
    /// [`RS_POST_ID`]: the resource server, `client_secret_post`.
    ResourceServerPost,
    /// [`WEB_ID`]: authorization code + PKCE (and client credentials), `client_secret_basic`.
    Web,
    /// [`WEB_POST_ID`]: authorization code + PKCE, `client_secret_post`.
    WebPost,
}

impl ClientKind {
    /// The client id.
    pub fn id(&self) -> &'static str {
        match self {
            Self::ClientCredentialsBasic => CC_BASIC_ID,
            Self::ClientCredentialsPost => CC_POST_ID,
            Self::ResourceServerBasic => RS_BASIC_ID,
            Self::ResourceServerPost => RS_POST_ID,
            Self::Web => WEB_ID,
            Self::WebPost => WEB_POST_ID,
        }
    }

    /// The client secret.
    pub fn secret(&self) -> &'static str {
        match self {
            Self::ClientCredentialsBasic => CC_BASIC_SECRET,
            Self::ClientCredentialsPost => CC_POST_SECRET,
            Self::ResourceServerBasic => RS_BASIC_SECRET,
            Self::ResourceServerPost => RS_POST_SECRET,
            Self::Web => WEB_SECRET,
            Self::WebPost => WEB_POST_SECRET,
        }
    }

    /// The one authentication method the provider accepts from this client.
    pub fn auth_method(&self) -> AuthMethod {
        match self {
            Self::ClientCredentialsPost | Self::ResourceServerPost | Self::WebPost => {
                AuthMethod::ClientSecretPost
            }
            Self::ClientCredentialsBasic | Self::ResourceServerBasic | Self::Web => {
                AuthMethod::ClientSecretBasic
            }
        }
    }
}

/// How to start the provider.
#[derive(Clone, Debug)]
pub struct IdpOptions {
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl: u64,
    /// Redirect URIs of the browser-login clients ([`WEB_ID`], [`WEB_POST_ID`],
    /// [`WEB_JWT_ID`]).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs of the browser-login clients (RP-initiated logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// `jwks_uri` of [`WEB_JWT_ID`], where the provider fetches the keys that verify its
    /// client assertions; `None` leaves that client out.
    pub web_jwks_uri: Option<String>,
    /// Serve HTTPS with a leaf of a new [`TestCa`] (`false`: plain HTTP, `http://` issuer).
    pub tls: bool,
    /// Host of the issuer URL: `localhost` or `127.0.0.1` (both are in the certificate; either
    /// way the provider listens on 127.0.0.1 only).
    pub host: String,
}

impl Default for IdpOptions {
    fn default() -> Self {
        Self {
            access_token_ttl: 600,
            redirect_uris: vec![DEFAULT_REDIRECT_URI.to_string()],
            post_logout_redirect_uris: vec![DEFAULT_POST_LOGOUT_REDIRECT_URI.to_string()],
            web_jwks_uri: None,
            tls: true,
            host: "localhost".to_string(),
        }
    }
}

/// A running provider; the node process is killed on drop.
pub struct Idp {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    issuer: String,
    host: String,
    ca_pem: String,
    http: reqwest::Client,
    discovery: Value,
}

/// The fixture directory (`tests/fixtures/oidc-provider`).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc-provider")
}

impl Idp {
    /// Installs the npm packages if needed, starts the provider and waits until its discovery
    /// document answers with the expected issuer.
    pub async fn start(opts: IdpOptions) -> anyhow::Result<Idp> {
        ensure_installed().await?;
        let fixture = fixture_dir();
        let dir = tempfile::tempdir()?;
        let port = free_port();
        anyhow::ensure!(port != 0, "no free port on 127.0.0.1");
        let scheme = if opts.tls { "https" } else { "http" };
        let issuer = format!("{scheme}://{}:{port}", opts.host);

        let mut cmd = Command::new("node");
        cmd.arg(fixture.join("server.js"))
            .current_dir(&fixture)
            .env("PORT", port.to_string())
            .env("ISSUER", &issuer)
            .env("ACCESS_TOKEN_TTL", opts.access_token_ttl.to_string())
            .env("REDIRECT_URIS", opts.redirect_uris.join(","))
            .env(
                "POST_LOGOUT_REDIRECT_URIS",
                opts.post_logout_redirect_uris.join(","),
            )
            .env("RESOURCE_URI", RESOURCE_URI)
            .env("RESOURCE_URI_ES", RESOURCE_URI_ES)
            .env("RESOURCE_URI_OPAQUE", RESOURCE_URI_OPAQUE)
            .env("RESOURCE_SCOPE", SCOPES)
            .env_remove("WEB_JWKS_URI")
            .env_remove("TLS_CERT")
            .env_remove("TLS_KEY")
            .env_remove("DEBUG");
        if let Some(uri) = &opts.web_jwks_uri {
            cmd.env("WEB_JWKS_URI", uri);
        }
        let mut ca_pem = String::new();
        if opts.tls {
            let ca = TestCa::new("gatehouse-test-idp-ca")?;
            let leaf = ca.leaf(&["localhost", "127.0.0.1"])?;
            let cert_path = dir.path().join("idp-cert.pem");
            let key_path = dir.path().join("idp-key.pem");
            std::fs::write(&cert_path, &leaf.cert_pem)?;
            std::fs::write(&key_path, &leaf.key_pem)?;
            std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem)?;
            cmd.env("TLS_CERT", &cert_path).env("TLS_KEY", &key_path);
            ca_pem = ca.cert_pem;
        }
        let stdout = std::fs::File::create(dir.path().join("stdout.log"))?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| node_spawn_error("node", &e))?;

        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if opts.tls {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?);
        }
        if opts.host.parse::<IpAddr>().is_err() {
            http = http.resolve(&opts.host, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let mut idp = Idp {
            child,
            dir,
            port,
            issuer,
            host: opts.host.clone(),
            ca_pem,
            http: http.build()?,
            discovery: Value::Null,
        };
        idp.wait_ready().await?;
        Ok(idp)
    }

    /// Waits for `READY <issuer>` on stdout, failing early (with the logs) if node exits, then
    /// reads the discovery document.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let stdout_path = self.dir.path().join("stdout.log");
        let ready_line = format!("READY {}", self.issuer);
        let child = &mut self.child;
        let outcome = wait::until("the OpenID provider's READY line", START_DEADLINE, || {
            let exited = child.try_wait();
            let ready = std::fs::read_to_string(&stdout_path)
                .map(|out| out.lines().any(|l| l == ready_line))
                .unwrap_or(false);
            async move {
                match exited {
                    Ok(Some(status)) => Some(Err(format!("node exited with {status}"))),
                    Err(e) => Some(Err(format!("cannot poll the node process: {e}"))),
                    Ok(None) if ready => Some(Ok(())),
                    Ok(None) => None,
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => anyhow::bail!("OpenID provider did not start: {why}\n{}", self.logs()),
            Err(e) => anyhow::bail!("{e}\n{}", self.logs()),
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery = self.get_json(&url).await?;
        anyhow::ensure!(
            discovery["issuer"] == self.issuer.as_str(),
            "discovery names issuer {} instead of {}",
            discovery["issuer"],
            self.issuer
        );
        self.discovery = discovery;
        Ok(())
    }

    /// The issuer identifier, e.g. `https://localhost:40123` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port the provider listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PEM of the CA that signed the provider's certificate (empty with plain HTTP): what the
    /// gateway must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Path of a file holding [`Idp::ca_pem`] (with TLS).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The discovery document, as read at start.
    pub fn discovery(&self) -> &Value {
        &self.discovery
    }

    /// A URL from the discovery document, e.g. `endpoint("token_endpoint")`.
    pub fn endpoint(&self, name: &str) -> anyhow::Result<String> {
        self.discovery[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("discovery document has no {name}"))
    }

    /// `jwks_uri` from discovery.
    pub fn jwks_uri(&self) -> anyhow::Result<String> {
        self.endpoint("jwks_uri")
    }

    /// `token_endpoint` from discovery.
    pub fn token_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("token_endpoint")
    }

    /// `introspection_endpoint` from discovery.
    pub fn introspection_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("introspection_endpoint")
    }

    /// `revocation_endpoint` from discovery.
    pub fn revocation_endpoint(&self) -> anyhow::Result<String> {
        self.endpoint("revocation_endpoint")
    }

    /// An HTTP client that trusts [`Idp::ca_pem`] and resolves the issuer's host to 127.0.0.1;
    /// it does not follow redirects.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's public keys (`jwks_uri`).
    pub async fn jwks(&self) -> anyhow::Result<Value> {
        self.get_json(&self.jwks_uri()?).await
    }

    /// The token endpoint's whole JSON answer to a client-credentials request (`access_token`,
    /// `expires_in`, `scope`, `token_type`). Empty `scope` sends none.
    pub async fn client_credentials_response(
        &self,
        client: &ClientKind,
        resource: Option<&str>,
        scope: &str,
    ) -> anyhow::Result<Value> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        self.post_form(&self.token_endpoint()?, client, form).await
    }

    /// A client-credentials access token: a JWT with `resource` = [`RESOURCE_URI`] or
    /// [`RESOURCE_URI_ES`], opaque without `resource` or with [`RESOURCE_URI_OPAQUE`].
    pub async fn client_credentials_token(
        &self,
        client: &ClientKind,
        resource: Option<&str>,
        scope: &str,
    ) -> anyhow::Result<String> {
        let body = self
            .client_credentials_response(client, resource, scope)
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("token response without access_token: {body}"))
    }

    /// RFC 7662 introspection as [`ClientKind::ResourceServerBasic`].
    pub async fn introspect(&self, token: &str) -> anyhow::Result<Value> {
        self.introspect_as(&ClientKind::ResourceServerBasic, token)
            .await
    }

    /// RFC 7662 introspection as `client` (any client may introspect any token).
    pub async fn introspect_as(&self, client: &ClientKind, token: &str) -> anyhow::Result<Value> {
        let form = vec![("token", token)];
        self.post_form(&self.introspection_endpoint()?, client, form)
            .await
    }

    /// RFC 7009 revocation as [`ClientKind::ResourceServerBasic`].
    pub async fn revoke(&self, token: &str) -> anyhow::Result<()> {
        self.revoke_as(&ClientKind::ResourceServerBasic, token)
            .await
    }

    /// RFC 7009 revocation as `client` (the resource-server clients and the token's own client
    /// may revoke it).
    pub async fn revoke_as(&self, client: &ClientKind, token: &str) -> anyhow::Result<()> {
        let form = vec![("token", token)];
        let url = self.revocation_endpoint()?;
        let response = self.client_request(&url, client, form).send().await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("revocation answered {status}: {body}\n{}", self.logs());
        }
        Ok(())
    }

    /// Everything node wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Everything node wrote to stderr so far (oidc-provider's warnings and errors).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Both logs, labelled, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- oidc-provider stdout ---\n{}--- oidc-provider stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    fn client_request(
        &self,
        url: &str,
        client: &ClientKind,
        mut form: Vec<(&str, &str)>,
    ) -> reqwest::RequestBuilder {
        let request = self.http.post(url);
        match client.auth_method() {
            AuthMethod::ClientSecretBasic => request
                .basic_auth(
                    form_urlencode(client.id()),
                    Some(form_urlencode(client.secret())),
                )
                .form(&form),
            AuthMethod::ClientSecretPost => {
                form.push(("client_id", client.id()));
                form.push(("client_secret", client.secret()));
                request.form(&form)
            }
        }
    }

    async fn post_form(
        &self,
        url: &str,
        client: &ClientKind,
        form: Vec<(&str, &str)>,
    ) -> anyhow::Result<Value> {
        let response = self.client_request(url, client, form).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("POST {url} answered {status}: {body}\n{}", self.logs());
        }
        Ok(serde_json::from_str(&body)?)
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let response = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => anyhow::bail!("GET {url}: {e:?}\n{}", self.logs()),
        };
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("GET {url} answered {status}: {body}\n{}", self.logs());
        }
        Ok(serde_json::from_str(&body)?)
    }
}

/// The header and claims of a compact JWS, not verified.
pub fn decode_jwt_unverified(token: &str) -> anyhow::Result<(Value, Value)> {
    let parts: Vec<&str> = token.split('.').collect();
    anyhow::ensure!(
        parts.len() == 3,
        "not a compact JWS ({} parts)",
        parts.len()
    );
    let header = serde_json::from_slice(&base64url_decode(parts[0])?)?;
    let claims = serde_json::from_slice(&base64url_decode(parts[1])?)?;
    Ok((header, claims))
}

/// Unpadded base64url (RFC 4648 §5), as in JWS.
fn base64url_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => anyhow::bail!("invalid base64url character {:?}", char::from(c)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` encoding of a client id or secret, as RFC 6749 §2.3.1
/// asks before HTTP Basic.
fn form_urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Makes sure `node_modules` of the fixture matches its `package-lock.json`, running `npm ci`
/// if not. Test threads and processes take turns through an OS file lock (released by the
/// kernel if a process dies), so only one installs and the others then see the fresh stamp.
pub async fn ensure_installed() -> anyhow::Result<()> {
    check_node().await?;
    let dir = fixture_dir();
    let want = manifest_hash(&dir)?;
    if is_installed(&dir, &want) {
        return Ok(());
    }
    let lock_path = std::env::temp_dir().join(format!(
        "gatehouse-oidc-provider-{:016x}.lock",
        fnv1a(dir.to_string_lossy().as_bytes())
    ));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    wait::until(
        "the npm install lock (another test is running npm ci)",
        INSTALL_DEADLINE,
        || {
            let got = match lock.try_lock() {
                Ok(()) => Some(Ok(())),
                Err(std::fs::TryLockError::WouldBlock) => None,
                Err(std::fs::TryLockError::Error(e)) => Some(Err(e)),
            };
            async move { got }
        },
    )
    .await??;
    // Whoever held the lock may have installed meanwhile.
    let result = if is_installed(&dir, &want) {
        Ok(())
    } else {
        npm_ci(&dir, &want).await
    };
    let _ = lock.unlock();
    result
}

async fn npm_ci(dir: &Path, stamp: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(INSTALL_DEADLINE, cmd.output())
        .await
        .map_err(|_| anyhow::anyhow!("npm ci in {} took over {INSTALL_DEADLINE:?}", dir.display()))?
        .map_err(|e| node_spawn_error("npm", &e))?;
    if !output.status.success() {
        anyhow::bail!(
            "npm ci in {} failed ({}):\n{}{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    anyhow::ensure!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "npm ci succeeded but node_modules/oidc-provider is missing in {}",
        dir.display()
    );
    std::fs::write(dir.join("node_modules").join(STAMP_FILE), stamp)?;
    eprintln!(
        "gatehouse-tests: npm ci for the OpenID provider fixture took {:.1?}",
        started.elapsed()
    );
    Ok(())
}

fn is_installed(dir: &Path, want: &str) -> bool {
    dir.join("node_modules/oidc-provider/package.json")
        .is_file()
        && std::fs::read_to_string(dir.join("node_modules").join(STAMP_FILE))
            .is_ok_and(|have| have == want)
}

/// Hash of `package.json` and `package-lock.json`: a changed manifest means a new install.
fn manifest_hash(dir: &Path) -> anyhow::Result<String> {
    let mut bytes = std::fs::read(dir.join("package.json"))?;
    bytes.push(0);
    bytes.extend(std::fs::read(dir.join("package-lock.json"))?);
    Ok(format!("{:016x}", fnv1a(&bytes)))
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `node --version` answers with a version oidc-provider supports.
async fn check_node() -> anyhow::Result<()> {
    let output = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| node_spawn_error("node", &e))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let mut numbers = version
        .strip_prefix('v')
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse::<u32>().ok());
    let found = (numbers.next().flatten(), numbers.next().flatten());
    match found {
        (Some(major), Some(minor)) if (major, minor) >= NODE_MIN => Ok(()),
        _ => anyhow::bail!(
            "the OpenID provider fixture needs Node.js >= {}.{} (oidc-provider 9), \
             `node --version` printed {version:?}",
            NODE_MIN.0,
            NODE_MIN.1
        ),
    }
}

fn node_spawn_error(program: &str, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "`{program}` is not on PATH: the OpenID provider fixture (tests/fixtures/oidc-provider) \
             needs Node.js >= {}.{} with npm",
            NODE_MIN.0,
            NODE_MIN.1
        )
    } else {
        anyhow::anyhow!("cannot run `{program}`: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_known_values() {
        assert_eq!(base64url_decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
        assert_eq!(base64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert!(base64url_decode("a+b").is_err());
    }

    #[test]
    fn form_urlencodes_reserved_characters() {
        assert_eq!(form_urlencode("a b:c%"), "a+b%3Ac%25");
        assert_eq!(form_urlencode("gatehouse-cc"), "gatehouse-cc");
    }
}
