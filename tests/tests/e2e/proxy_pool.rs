//! The upstream connection pool seen from outside: keep-alive reuse, backends that close their
//! connections after every answer, and failover when a pooled target goes away.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// A backend speaking just enough HTTP/1.1: answers `200 <name> <connection number>` to every
/// request head. [`RawBackend::stop`] (or dropping it) closes the listener and every connection.
struct RawBackend {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RawBackend {
    /// `close_each`: close the socket after every answer, without `Connection: close`.
    async fn start(name: &'static str, close_each: bool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { break };
                        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                        conns.spawn(serve(stream, name, n, close_each));
                    }
                    _ = &mut stopped => break,
                }
            }
            drop(listener);
            conns.shutdown().await;
        });
        Ok(Self {
            addr,
            connections,
            stop: Some(stop),
            task,
        })
    }

    /// Closes the listener and every connection; returns once they are closed.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?;
        Ok(())
    }

    fn target(&self) -> String {
        self.addr.to_string()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, name: &str, conn: usize, close_each: bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.clear();
        let body = format!("{name} {conn}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() || close_each {
            return;
        }
    }
}

/// `n` requests for `/x` in turn on one client: status and body of each.
async fn get_x(port: u16, n: usize) -> anyhow::Result<Vec<(u16, String)>> {
    let client = reqwest::Client::new();
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        let r = client
            .get(format!("http://127.0.0.1:{port}/x"))
            .send()
            .await?;
        answers.push((r.status().as_u16(), r.text().await?));
    }
    Ok(answers)
}

async fn node_for(toml: String) -> anyhow::Result<Node> {
    Node::builder().toml(toml).start().await
}

#[tokio::test]
async fn proxy_pool_reuses_keep_alive_connections() -> anyhow::Result<()> {
    let backend = RawBackend::start("a", false).await?;
    let port = free_port();
    let _node = node_for(config::simple(port, false, "/", &[&backend.target()])).await?;
    for (status, body) in get_x(port, 30).await? {
        assert_eq!(status, 200);
        assert_eq!(body, "a 1");
    }
    assert_eq!(backend.connections(), 1);
    Ok(())
}

#[tokio::test]
async fn proxy_pool_survives_a_backend_that_closes_every_connection() -> anyhow::Result<()> {
    let backend = RawBackend::start("a", true).await?;
    let port = free_port();
    let _node = node_for(config::simple(port, false, "/", &[&backend.target()])).await?;
    for (status, body) in get_x(port, 30).await? {
        assert_eq!(status, 200, "a closed pooled connection is never used");
        assert!(body.starts_with("a "));
    }
    assert_eq!(backend.connections(), 30);
    Ok(())
}

#[tokio::test]
async fn proxy_pool_fails_over_when_a_pooled_target_goes_away() -> anyhow::Result<()> {
    let first = RawBackend::start("first", false).await?;
    let second = RawBackend::start("second", false).await?;
    let port = free_port();
    let avail =
        "[sites.availability]\nconnectTimeout = 1000\nmaxRetries = 0\nfailedRetryTimeout = 30\n";
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&first.target(), &second.target()], avail),
        config::app(1, "/", 1, 1, ""),
    ]
    .join("\n");
    let node = node_for(toml).await?;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/x");
    for _ in 0..5 {
        let r = client.get(&url).send().await?;
        assert_eq!(r.text().await?, "first 1", "first available, pooled");
    }
    first.stop().await?;
    for _ in 0..5 {
        let r = client.get(&url).send().await?;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await?, "second 1");
    }
    assert_eq!(second.connections(), 1);
    node.wait_log("connect failed", std::time::Duration::from_secs(5))
        .await?;
    Ok(())
}
