//! An HTTP/1.1 front that keeps its clients' connections open, in front of the local server,
//! and counts them.
//!
//! The local server (werkzeug's development server under moto) closes every connection after
//! one answer (`Connection: close`), where DynamoDB and SQS keep them open for the next
//! request. Through this front a client's connection pool behaves as against AWS: a
//! connection it opened once is reused, and [`KeepAliveProxy::accepted`] tells how many it
//! opened. Each request goes to the server over a connection of its own (as the server wants)
//! and its answer comes back without the `Connection: close`. Only what the AWS SDK sends and
//! the local server answers is understood: bodies with a `Content-Length`, or an answer that
//! ends when the server closes.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    requests: AtomicUsize,
}

/// The front; it serves until the test process ends.
pub struct KeepAliveProxy {
    addr: SocketAddr,
    counts: Arc<Counts>,
}

impl KeepAliveProxy {
    /// Listens on a free loopback port and forwards to `upstream` (an `http://host:port`).
    pub fn start(upstream: &str) -> KeepAliveProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is http://<ip>:<port>");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let counts = Arc::clone(&shared);
                std::thread::spawn(move || serve(client, upstream, &counts));
            }
        });
        KeepAliveProxy { addr, counts }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections clients have opened so far.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Requests clients have sent so far, over all their connections.
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }
}

fn serve(client: TcpStream, upstream: SocketAddr, counts: &Counts) {
    let Ok(write_half) = client.try_clone() else {
        return;
    };
    let mut from_client = BufReader::new(client);
    let mut to_client = write_half;
    while let Some((head, body)) = read_message(&mut from_client, false) {
        counts.requests.fetch_add(1, Ordering::SeqCst);
        let Ok(mut server) = TcpStream::connect(upstream) else {
            return;
        };
        if server.write_all(&head).is_err() || server.write_all(&body).is_err() {
            return;
        }
        let Some((head, body)) = read_message(&mut BufReader::new(server), true) else {
            return;
        };
        if to_client.write_all(&head).is_err() || to_client.write_all(&body).is_err() {
            return;
        }
    }
}

/// One message: its head (without any `Connection` header, with a `Content-Length`) and its
/// body. `None` when the connection closes first or the framing is not understood.
fn read_message(reader: &mut impl BufRead, answer: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let mut head = first.into_bytes();
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim_end().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" => continue,
            "transfer-encoding" => return None,
            "content-length" => {
                length = Some(value.trim().parse::<usize>().ok()?);
                continue;
            }
            _ => head.extend_from_slice(line.as_bytes()),
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).ok()?;
        }
        // An answer without a length ends when the server closes; a request has no body.
        None if answer => {
            reader.read_to_end(&mut body).ok()?;
        }
        None => {}
    }
    head.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    Some((head, body))
}
