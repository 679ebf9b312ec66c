//! A TCP proxy in front of the local server that can refuse, cut or hang connections: the
//! faults a function meets when DynamoDB or SQS is unreachable or stalls.
//!
//! Point one client (say DynamoDB's) at [`FaultyProxy::endpoint`] and the other straight at
//! the server, and one side can fail while the other works.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Pass bytes both ways: the service is up.
    None = 0,
    /// Close every connection as soon as it opens: the service is unreachable.
    Refuse = 1,
    /// Accept connections, read requests, never answer: the service hangs.
    Hang = 2,
}

struct State {
    fault: AtomicU8,
    /// Live connections, so a fault also cuts the ones a client keeps alive in its pool.
    connections: Mutex<Vec<AbortHandle>>,
}

pub struct FaultyProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

impl FaultyProxy {
    /// Listens on a free loopback port and forwards to `upstream` (an `http://host:port`).
    pub async fn start(upstream: &str) -> FaultyProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is http://<ip>:<port>");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            fault: AtomicU8::new(Fault::None as u8),
            connections: Mutex::new(Vec::new()),
        });
        let accept_state = Arc::clone(&state);
        let accept_loop = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = accept_state.fault.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    match fault {
                        f if f == Fault::Refuse as u8 => drop(client),
                        f if f == Fault::Hang as u8 => swallow(client).await,
                        _ => pass(client, upstream).await,
                    }
                });
                let mut live = accept_state.connections.lock().expect("lock");
                live.retain(|c| !c.is_finished());
                live.push(task.abort_handle());
            }
        });
        FaultyProxy {
            addr,
            state,
            accept_loop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, every connection gets `fault`; open connections are cut.
    pub fn set(&self, fault: Fault) {
        self.state.fault.store(fault as u8, Ordering::SeqCst);
        for connection in self.state.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.set(Fault::Refuse);
    }
}

async fn pass(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// Reads and discards until the client gives up (or the proxy cuts the connection).
async fn swallow(mut client: TcpStream) {
    let mut sink = [0u8; 4096];
    while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
}
