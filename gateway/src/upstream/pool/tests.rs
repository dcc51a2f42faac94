//! Pool behaviour against raw TCP backends: reuse, backends that close, half-read responses,
//! concurrent exchanges, idle expiry and connect failures.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::upstream::empty_body;

/// How a test backend ends each exchange.
#[derive(Clone, Copy)]
enum Mode {
    /// Keep-alive, `Content-Length` body.
    KeepAlive,
    /// Answers, then closes the socket without saying so.
    CloseSilently,
    /// Answers with `Connection: close`, then closes.
    ConnectionClose,
    /// A 1 MiB chunked body, keep-alive.
    Large,
}

struct TestBackend {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

async fn backend(mode: Mode) -> TestBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(serve(stream, mode, n));
        }
    });
    TestBackend { addr, connections }
}

async fn serve(mut stream: TcpStream, mode: Mode, conn: usize) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.clear();
        let body = format!("connection {conn}");
        let head = match mode {
            Mode::KeepAlive | Mode::CloseSilently => {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            Mode::ConnectionClose => format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            Mode::Large => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string(),
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        if let Mode::Large = mode {
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            for _ in 0..16 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            if stream.write_all(b"0\r\n\r\n").await.is_err() {
                return;
            }
        }
        if matches!(mode, Mode::CloseSilently | Mode::ConnectionClose) {
            return;
        }
    }
}

fn endpoint(addr: SocketAddr, idle_timeout: Duration) -> Arc<Endpoint> {
    let settings = PoolSettings {
        tls: None,
        connect_timeout: Duration::from_secs(2),
        idle_timeout,
        max_idle: usize::MAX,
    };
    Arc::new(Endpoint::new(
        &addr.to_string(),
        &addr.ip().to_string(),
        settings,
    ))
}

fn get(addr: SocketAddr) -> Request<GatewayBody> {
    Request::builder()
        .uri("/x")
        .header(http::header::HOST, addr.to_string())
        .body(empty_body())
        .unwrap()
}

/// One exchange, body read to the end.
async fn exchange(ep: &Arc<Endpoint>, addr: SocketAddr) -> String {
    let resp = ep.send(get(addr)).await.map_err(|e| e.error).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let b = backend(Mode::KeepAlive).await;
    let ep = endpoint(b.addr, Duration::from_secs(60));
    for _ in 0..10 {
        assert_eq!(exchange(&ep, b.addr).await, "connection 1");
    }
    assert_eq!(b.connections.load(Ordering::SeqCst), 1);
    assert_eq!(ep.idle_count(), 1);
}

#[tokio::test]
async fn a_backend_closing_idle_connections_costs_no_request() {
    let b = backend(Mode::CloseSilently).await;
    let ep = endpoint(b.addr, Duration::from_secs(60));
    for i in 1..=20 {
        assert_eq!(exchange(&ep, b.addr).await, format!("connection {i}"));
    }
    // And with no pause at all: the stale connection is noticed or the request handed back.
    for _ in 0..20 {
        let resp = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        drop(resp.into_body().collect().await.unwrap());
    }
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let b = backend(Mode::ConnectionClose).await;
    let ep = endpoint(b.addr, Duration::from_secs(60));
    for i in 1..=5 {
        assert_eq!(exchange(&ep, b.addr).await, format!("connection {i}"));
        assert_eq!(ep.idle_count(), 0);
    }
}

#[tokio::test]
async fn a_half_read_response_does_not_return_its_connection() {
    let b = backend(Mode::Large).await;
    let ep = endpoint(b.addr, Duration::from_secs(60));
    let resp = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    assert_eq!(ep.idle_count(), 0);
    let resp = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
    let all = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(all.len(), 16 * 64 * 1024);
    assert_eq!(b.connections.load(Ordering::SeqCst), 2);
    // Read to the end, it is reused.
    let resp = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
    let all = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(all.len(), 16 * 64 * 1024);
    assert_eq!(b.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_mid_response_is_not_lent_again() {
    let b = backend(Mode::KeepAlive).await;
    let ep = endpoint(b.addr, Duration::from_secs(60));
    let first = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
    // The first body is not read yet: the second request needs its own connection.
    let second = ep.send(get(b.addr)).await.map_err(|e| e.error).unwrap();
    let a = first.into_body().collect().await.unwrap().to_bytes();
    let c = second.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&a[..], b"connection 1");
    assert_eq!(&c[..], b"connection 2");
    assert_eq!(ep.idle_count(), 2);
}

#[tokio::test]
async fn idle_connections_expire() {
    let b = backend(Mode::KeepAlive).await;
    let ep = endpoint(b.addr, Duration::from_millis(50));
    assert_eq!(exchange(&ep, b.addr).await, "connection 1");
    // Past the idle timeout: the idle connection is not used again.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(exchange(&ep, b.addr).await, "connection 2");
    // The reaper (every 100 ms here) closes what is left idle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ep.idle_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reaper left an expired connection"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failed_connect_hands_the_request_back() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let ep = endpoint(port, Duration::from_secs(60));
    let err = ep.send(get(port)).await.err().unwrap();
    assert!(err.error.is_connect(), "{}", err.error);
    assert!(err.request.is_some());
}
