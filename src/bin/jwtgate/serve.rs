//! A minimal HTTP/1.1 server for the demo commands: one thread per connection, one request
//! per connection. Demo use on loopback only; not a production server.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// A parsed request.
pub struct Request {
    /// Method.
    pub method: String,
    /// Path with query.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Path without query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// A query parameter (no percent-decoding beyond `+`; demo values are simple).
    pub fn param(&self, name: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| v.replace('+', " ").replace("%20", " ").replace("%2C", ","))
        })
    }
}

/// A response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some(Request {
        method,
        target,
        headers,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    }
}

/// Serves `handler` on `addr` until the process ends.
pub fn serve<F>(addr: &str, handler: F) -> std::io::Result<()>
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    let listener = TcpListener::bind(addr)?;
    let handler = std::sync::Arc::new(handler);
    for stream in listener.incoming().flatten() {
        let handler = handler.clone();
        std::thread::spawn(move || {
            let Some(req) = read_request(&stream) else {
                return;
            };
            let resp = handler(&req);
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                resp.status,
                reason(resp.status),
                resp.content_type,
                resp.body.len(),
                resp.body
            );
        });
    }
    Ok(())
}
