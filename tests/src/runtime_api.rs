//! A stand-in for the Lambda Runtime API on a loopback port, so a test can run a function as
//! Lambda runs it: a process (`src/bin/function.rs`, which is `webhook_lambda::runtime::serve`) with
//! `AWS_LAMBDA_RUNTIME_API` pointing here, asking for events and posting its answers.
//!
//! It hands out the events it was given (at the start, or later with `push`), one per
//! `GET .../invocation/next`, records every answer (`.../response`, `.../error`) and init
//! error, and leaves a `next` unanswered while there is no event (as Lambda does between
//! invocations). It takes an internal extension's registration (the Extensions API's
//! `register`, answered as Lambda answers it) and leaves the extension's `event/next`
//! unanswered, as Lambda does for an extension subscribed to no event. Only what the
//! `lambda_runtime` and `lambda-extension` crates send is understood: HTTP/1.1,
//! `Content-Length` or chunked bodies, keep-alive.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    events: VecDeque<(String, String)>,
    /// `GET .../invocation/next` calls received, answered or not.
    next_calls: usize,
    /// Events given so far (at the start and by `push`), for the request ids.
    given: usize,
    /// (request id, body) of every `.../response`.
    responses: Vec<(String, String)>,
    /// Bodies of `.../error` and `init/error` posts.
    errors: Vec<String>,
    /// Bodies of the Extensions API's `register` posts.
    extensions: Vec<String>,
}

/// The stand-in; it stops serving when dropped (its threads end with the test process).
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Serves `events` (API Gateway event JSON), in order, with request ids `req-0`, `req-1`...
    pub fn start(events: Vec<String>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("address").to_string();
        let given = events.len();
        let state = Arc::new((
            Mutex::new(State {
                events: events
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (format!("req-{i}"), e))
                    .collect(),
                given,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        RuntimeApi { address, state }
    }

    /// How many times the function asked for an event.
    pub fn next_calls(&self) -> usize {
        self.lock().next_calls
    }

    /// Queues one more event (a `next` waiting for one gets it at once).
    pub fn push(&self, event: String) {
        let mut state = self.lock();
        let id = format!("req-{}", state.given);
        state.given += 1;
        state.events.push_back((id, event));
        self.state.1.notify_all();
    }

    /// Waits (without polling) until the function has asked for `n` events, or `limit` has
    /// passed; returns how many times it asked. The first `next` is the end of its init.
    pub fn wait_for_next_calls(&self, n: usize, limit: Duration) -> usize {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + limit;
        let mut state = lock.lock().expect("runtime API state");
        while state.next_calls < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = changed.wait_timeout(state, left).expect("wait").0;
        }
        state.next_calls
    }

    /// The extensions registered so far (each registration's body: the events it asked for).
    pub fn extensions(&self) -> Vec<String> {
        self.lock().extensions.clone()
    }

    /// Error reports (`init/error`, `.../error`) received so far.
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Waits (without polling) until `n` answers have arrived, or `limit` has passed; returns
    /// the answers as (request id, API Gateway response JSON), in arrival order.
    pub fn wait_for_responses(&self, n: usize, limit: Duration) -> Vec<(String, String)> {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + limit;
        let mut state = lock.lock().expect("runtime API state");
        while state.responses.len() + state.errors.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = changed.wait_timeout(state, left).expect("wait").0;
        }
        state.responses.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.0.lock().expect("runtime API state")
    }
}

fn serve(stream: TcpStream, state: &Arc<(Mutex<State>, Condvar)>) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    while let Some((method, path, body)) = read_request(&mut reader) {
        let (lock, changed) = &**state;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let (id, event) = {
                let mut s = lock.lock().expect("state");
                s.next_calls += 1;
                changed.notify_all();
                // No event yet: keep the function waiting, as Lambda does, until one is pushed.
                loop {
                    if let Some(next) = s.events.pop_front() {
                        break next;
                    }
                    s = changed.wait(s).expect("wait");
                }
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\n\
                 lambda-runtime-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            );
            if writer.write_all(head.as_bytes()).is_err()
                || writer.write_all(event.as_bytes()).is_err()
            {
                return;
            }
        } else if method == "POST" && path.ends_with("/extension/register") {
            let n = {
                let mut s = lock.lock().expect("state");
                s.extensions
                    .push(String::from_utf8_lossy(&body).into_owned());
                changed.notify_all();
                s.extensions.len()
            };
            let answer =
                r#"{"functionName":"test","functionVersion":"$LATEST","handler":"bootstrap"}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-extension-identifier: extension-{n}\r\n\
                 content-length: {}\r\n\r\n",
                answer.len()
            );
            if writer.write_all(head.as_bytes()).is_err()
                || writer.write_all(answer.as_bytes()).is_err()
            {
                return;
            }
        } else if method == "GET" && path.ends_with("/extension/event/next") {
            // An extension subscribed to no event is never answered: the thread waits, without
            // polling, until the test process ends.
            let mut s = lock.lock().expect("state");
            loop {
                s = changed.wait(s).expect("wait");
            }
        } else {
            {
                let mut s = lock.lock().expect("state");
                let id = path.split('/').rev().nth(1).unwrap_or_default().to_owned();
                if path.ends_with("/response") {
                    s.responses
                        .push((id, String::from_utf8_lossy(&body).into_owned()));
                } else {
                    s.errors.push(String::from_utf8_lossy(&body).into_owned());
                }
                changed.notify_all();
            }
            let ok = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n";
            if writer.write_all(ok).is_err() {
                return;
            }
        }
    }
}

/// One request: method, path and body; `None` when the connection closes.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}
