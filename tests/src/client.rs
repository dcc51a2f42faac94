//! Clients for the tests: reqwest towards the engine (its certificate is self-signed) and raw
//! sockets for requests a well-behaved client would never send.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that accepts the engine's self-signed certificate and resolves `hosts` to 127.0.0.1.
pub fn https(hosts: &[&str]) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    for h in hosts {
        b = b.resolve(h, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    b.build().unwrap_or_default()
}

/// Sends raw bytes over plain TCP and returns everything read until close or 5 s.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request).await?;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The status code of a raw HTTP/1.1 response (`0` if none).
pub fn status_of(raw_response: &str) -> u16 {
    raw_response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends raw bytes over plain TCP and returns the response head (up to the blank line), for
/// answers after which the connection stays open (`101`, keep-alive).
pub async fn raw_head(addr: SocketAddr, request: &[u8]) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request).await?;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The DER certificate a TLS listener on 127.0.0.1:`port` presents to a new handshake with SNI
/// `server_name` (any answer, even an error status, will do).
pub async fn served_certificate(server_name: &str, port: u16) -> anyhow::Result<Vec<u8>> {
    served_certificate_at([127, 0, 0, 1], server_name, port).await
}

/// Like [`served_certificate`], for a listener on another loopback address.
pub async fn served_certificate_at(
    ip: [u8; 4],
    server_name: &str,
    port: u16,
) -> anyhow::Result<Vec<u8>> {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .resolve(server_name, SocketAddr::from((ip, port)))
        .timeout(Duration::from_secs(10))
        .build()?;
    let resp = http
        .get(format!("https://{server_name}:{port}/pa/heartbeat.ping"))
        .send()
        .await?;
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| anyhow::anyhow!("no peer certificate"))
}

/// SHA-256 of a DER certificate as upper-case hex with colons (the admin API's fingerprint).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
