//! A small HTTP/1.1 server for GET only, on std's `TcpListener`: one request per connection,
//! each connection on its own thread, at most [`MAX_CLIENTS`] at once; a request head must arrive
//! whole within [`HEAD_TIMEOUT`] and every write finish within [`WRITE_TIMEOUT`], so a slow or
//! hostile client holds one thread for a bounded time and never anything else.

use crate::token;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CLIENTS: usize = 64;
/// Time for a request's head (request line and headers) to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one write to a client; a client that reads slower is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head longer than this is refused (431).
const MAX_HEAD: usize = 8 * 1024;
/// Without a new state for this long, a stream sends a comment so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const PAGE: &str = include_str!("page.html");

/// What the monitor thread publishes for the request threads.
#[derive(Debug, Default)]
pub struct Published {
    /// Incremented with every new state.
    pub seq: u64,
    /// The state as JSON, without and with the trend.
    pub state: Arc<str>,
    pub state_with_trend: Arc<str>,
    /// The run ended: streams send their last event and close.
    pub ended: bool,
}

/// Shared between the monitor thread and the request threads.
#[derive(Debug)]
pub struct Shared {
    pub token: String,
    pub published: Mutex<Published>,
    pub changed: Condvar,
    clients: AtomicUsize,
    /// Event streams open now.
    streams: AtomicUsize,
}

impl Shared {
    pub fn new(token: String) -> Self {
        Shared {
            token,
            published: Mutex::new(Published {
                state: Arc::from("{}"),
                state_with_trend: Arc::from("{}"),
                ..Published::default()
            }),
            changed: Condvar::new(),
            clients: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
        }
    }

    /// Connections being served now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Event streams open now.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> (u64, Arc<str>, Arc<str>, bool) {
        let p = self.published.lock().unwrap_or_else(|e| e.into_inner());
        (p.seq, p.state.clone(), p.state_with_trend.clone(), p.ended)
    }
}

/// Accepts connections until the process ends; each one is served on its own thread.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = stream.set_nodelay(true);
        if shared.clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            shared.clients.fetch_sub(1, Ordering::AcqRel);
            let mut s = stream;
            let _ = respond(
                &mut s,
                "503 Service Unavailable",
                "text/plain",
                b"too many clients\n",
            );
            continue;
        }
        let for_thread = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("perfuse-monitor-client".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut stream = stream;
                handle(&mut stream, &for_thread);
                for_thread.clients.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            shared.clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A request as far as the monitor cares: method, path and the `token` query parameter.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    token: Option<&'a str>,
}

fn parse(head: &str) -> Option<Request<'_>> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="));
    Some(Request {
        method,
        path,
        token,
    })
}

/// Reads a request head within [`HEAD_TIMEOUT`] in all; `None` when it does not come in time,
/// is too long or is not text.
fn read_head(stream: &mut TcpStream) -> Result<String, &'static str> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("408 Request Timeout");
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("408 Request Timeout"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return String::from_utf8(buf).map_err(|_| "400 Bad Request");
        }
        if buf.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
    }
}

fn handle(stream: &mut TcpStream, shared: &Shared) {
    let head = match read_head(stream) {
        Ok(h) => h,
        Err(status) => {
            let _ = respond(stream, status, "text/plain", b"");
            return;
        }
    };
    let Some(req) = parse(&head) else {
        let _ = respond(stream, "400 Bad Request", "text/plain", b"bad request\n");
        return;
    };
    // Read-only: nothing but GET, whoever asks.
    if req.method != "GET" {
        let _ = respond(
            stream,
            "405 Method Not Allowed",
            "text/plain",
            b"the monitor is read-only: GET only\n",
        );
        return;
    }
    if !req.token.is_some_and(|t| token::matches(&shared.token, t)) {
        let _ = respond(
            stream,
            "401 Unauthorized",
            "text/plain",
            b"a valid token is needed: open the URL perfuse printed at the start of the run\n",
        );
        return;
    }
    let _ = match req.path {
        "/" => respond(
            stream,
            "200 OK",
            "text/html; charset=utf-8",
            PAGE.as_bytes(),
        ),
        "/api/state" => {
            let (_, _, state, _) = shared.snapshot();
            respond(stream, "200 OK", "application/json", state.as_bytes())
        }
        "/api/stream" => {
            shared.streams.fetch_add(1, Ordering::AcqRel);
            let r = stream_events(stream, shared);
            shared.streams.fetch_sub(1, Ordering::AcqRel);
            r
        }
        _ => respond(stream, "404 Not Found", "text/plain", b"not found\n"),
    };
}

/// Headers every answer carries: nothing cached (the state changes, the URL holds the token),
/// the token never sent on as a referrer, the page allowed nothing from elsewhere.
const COMMON_HEADERS: &str = "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; \
script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'\r\nConnection: close\r\n";

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{allow}{COMMON_HEADERS}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Server-sent events: the state as one `data:` line every time the monitor publishes one
/// (once a second of wall time while the run goes on), an `end` event when the run ends. A
/// client that does not take them within [`WRITE_TIMEOUT`] is dropped.
fn stream_events(stream: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{COMMON_HEADERS}\r\n");
    stream.write_all(head.as_bytes())?;
    let mut seen = u64::MAX;
    loop {
        let (seq, state, _, ended) = shared.snapshot();
        if seq != seen {
            seen = seq;
            let mut event = String::with_capacity(state.len() + 16);
            event.push_str("data: ");
            event.push_str(&state);
            event.push_str("\n\n");
            stream.write_all(event.as_bytes())?;
        }
        if ended {
            stream.write_all(b"event: end\ndata: {}\n\n")?;
            return stream.flush();
        }
        stream.flush()?;
        let guard = shared.published.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, waited) = shared
            .changed
            .wait_timeout_while(guard, KEEP_ALIVE, |p| p.seq == seen && !p.ended)
            .unwrap_or_else(|e| e.into_inner());
        drop(guard);
        if waited.timed_out() {
            stream.write_all(b": keep-alive\n\n")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_for_method_path_and_token() {
        assert_eq!(
            parse("GET /api/state?x=1&token=abc HTTP/1.1\r\nHost: x"),
            Some(Request {
                method: "GET",
                path: "/api/state",
                token: Some("abc")
            })
        );
        assert_eq!(
            parse("POST / HTTP/1.0").map(|r| (r.method, r.token)),
            Some(("POST", None))
        );
        assert_eq!(parse("GET /"), None);
        assert_eq!(parse("GET / SMTP"), None);
        assert_eq!(parse(""), None);
    }
}
