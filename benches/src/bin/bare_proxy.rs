//! The least an HTTP/1 reverse proxy built on hyper can do, as a yardstick for the load
//! scripts (`ab.sh` with `BARE=`, `tokens.sh`, `websessions.sh`, `instructions.sh`): hyper's
//! server and client connections, one upstream connection per client connection, flattened
//! writes (as Gatehouse), `X-Forwarded-For` and `X-Forwarded-Proto` added, and nothing else (no
//! routing, policy, header hygiene, framing guard, access log or timeouts). Not a product: it
//! measures what hyper itself costs per request on the machine that runs the load test.
//!
//! Usage: `bare-proxy <listen host:port> <backend host:port>`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use anyhow::Context as _;
use http::header::{HeaderName, HeaderValue};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare-proxy <listen host:port> <backend host:port>";
    let listen: SocketAddr = args.next().context(usage)?.parse()?;
    let backend: SocketAddr = args.next().context(usage)?.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&runtime, serve(listen, backend))
}

async fn serve(listen: SocketAddr, backend: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (client, peer) = listener.accept().await?;
        tokio::task::spawn_local(async move {
            if let Err(e) = proxy_connection(client, peer, backend).await {
                eprintln!("bare-proxy: {e}");
            }
        });
    }
}

/// Serves one client connection over its own upstream connection.
async fn proxy_connection(
    client: TcpStream,
    peer: SocketAddr,
    backend: SocketAddr,
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let upstream = TcpStream::connect(backend).await?;
    upstream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(upstream))
        .await?;
    tokio::task::spawn_local(connection);
    let sender = Rc::new(RefCell::new(Some(sender)));
    let client_ip = HeaderValue::from_str(&peer.ip().to_string())?;
    let service = service_fn(move |request| forward(request, sender.clone(), client_ip.clone()));
    hyper::server::conn::http1::Builder::new()
        .writev(false)
        .serve_connection(TokioIo::new(client), service)
        .await?;
    Ok(())
}

async fn forward(
    mut request: Request<Incoming>,
    sender: Rc<RefCell<Option<SendRequest<Incoming>>>>,
    client_ip: HeaderValue,
) -> anyhow::Result<Response<Incoming>> {
    let headers = request.headers_mut();
    headers.insert(X_FORWARDED_FOR.clone(), client_ip);
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    // One request at a time per HTTP/1 connection: the sender is taken, used and put back.
    let mut upstream = sender
        .borrow_mut()
        .take()
        .context("upstream connection busy")?;
    upstream.ready().await?;
    let response = upstream.send_request(request).await;
    *sender.borrow_mut() = Some(upstream);
    Ok(response?)
}
