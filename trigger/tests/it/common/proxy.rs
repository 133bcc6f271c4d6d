//! A TCP proxy between a client and moto that injects the latency a real
//! network has on a cold Lambda instance: a slow connection setup (the TLS
//! handshake, on the first connection or on every one), or one answer held
//! back past the client's budget. It forwards HTTP/1.1 requests as they
//! are, so the SDK, its connection pool and moto are the real ones.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Held before a connection carries its first byte.
    pub setup: Duration,
    /// `setup` on every connection, not only the first.
    pub every_connection: bool,
    /// The first answer on the connection with this index (0-based, in
    /// accept order) is held this long.
    pub hold_answer: Option<(usize, Duration)>,
}

/// A running proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub url: String,
    connections: Arc<AtomicUsize>,
    held: Arc<Notify>,
}

impl Proxy {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits until the held answer has been passed on to the client.
    pub async fn held_answer_delivered(&self) {
        self.held.notified().await;
    }
}

/// The table as the Lambda's `bootstrap` builds it
/// (`DynamoStore::for_lambda`), reached through `proxy`.
pub async fn lambda_store(proxy: &Proxy, table: &str) -> pumpguard_trigger::dynamo::DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(&proxy.url)
        .load()
        .await;
    pumpguard_trigger::dynamo::DynamoStore::for_lambda(&config, table)
}

/// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://host:port`).
pub async fn start(upstream: &str, faults: Faults) -> Proxy {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(Notify::new());
    let proxy = Proxy {
        url,
        connections: connections.clone(),
        held: held.clone(),
    };
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let index = connections.fetch_add(1, Ordering::SeqCst);
            let (upstream, held) = (upstream.clone(), held.clone());
            tokio::spawn(async move {
                if index == 0 || faults.every_connection {
                    tokio::time::sleep(faults.setup).await;
                }
                let hold = faults
                    .hold_answer
                    .and_then(|(i, d)| (i == index).then_some(d));
                forward(client, upstream, hold, held).await;
            });
        }
    });
    proxy
}

/// Serves one client connection: request after request, each sent to
/// moto on a connection of its own (moto's server closes every connection
/// after one answer; DynamoDB keeps them open, and so does this side of the
/// proxy, so the client's pool behaves as it would against DynamoDB).
async fn forward(
    mut client: TcpStream,
    upstream: String,
    mut hold: Option<Duration>,
    held: Arc<Notify>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut client, &mut buf).await else {
            return;
        };
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        if server.write_all(&request).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        if server.read_to_end(&mut answer).await.is_err() {
            return;
        }
        let answer = keep_alive(answer);
        if let Some(d) = hold.take() {
            tokio::time::sleep(d).await;
            let _ = client.write_all(&answer).await;
            held.notify_one();
        } else if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// One request (head and `Content-Length` body) off the connection; `None`
/// at its end. `buf` keeps what was read past it.
async fn read_request(client: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                let n = client.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let rest = buf.split_off(total);
            return Some(std::mem::replace(buf, rest));
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The answer with moto's `Connection: close` turned into keep-alive.
fn keep_alive(answer: Vec<u8>) -> Vec<u8> {
    let Some(end) = find(&answer, b"\r\n\r\n") else {
        return answer;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = head.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\nConnection: keep-alive");
    out.extend_from_slice(&answer[end..]);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
