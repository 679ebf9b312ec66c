//! What an instance still holds when Lambda retires it, written before it goes.
//!
//! The refusal metric folds a flood's refusals into one line per code and window
//! ([`crate::metrics`]); the counts folded after an instance's last line are written by its next
//! request, and an instance that gets none would take them with it. Lambda tells the runtime
//! before it shuts an instance down (SIGTERM, then up to 500 ms before SIGKILL) only when an
//! extension is registered
//! (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown),
//! so a function registers a no-op internal extension at start-up, subscribed to no event
//! (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html), and, on
//! SIGTERM, writes every count still folded ([`crate::metrics::Metrics::flush_refusals`]),
//! then exits. The two calls go through the Runtime API client the runtime itself uses.
//!
//! Where the Extensions API is missing or refuses (a local emulator), the function serves as
//! before, without the hook: a warning says so once, at start-up.

use lambda_http::http::{Method, StatusCode};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, Client};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::metrics::Metrics;

/// The internal extension's name, unique within the function.
pub const EXTENSION_NAME: &str = "webhook-shutdown-flush";

const REGISTER: &str = "/2020-01-01/extension/register";
const NEXT: &str = "/2020-01-01/extension/event/next";
const ID_HEADER: &str = "Lambda-Extension-Identifier";

/// A registered extension: Lambda will send SIGTERM before it retires the instance.
pub struct Registered {
    client: Client,
    id: String,
    terminate: Signal,
}

/// Registers the extension; `None` (after a warning) where that is not possible. Extensions
/// register during init: call it before the runtime loop starts, beside the rest of init
/// (its round trip then costs no time of its own).
pub async fn register() -> Option<Registered> {
    // Not under a Lambda runtime (the client would panic without it).
    std::env::var_os("AWS_LAMBDA_RUNTIME_API")?;
    let client = match Client::builder().build() {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown hook: no Runtime API client");
            return None;
        }
    };
    let id = match register_with(&client).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown hook: the extension was not registered");
            return None;
        }
    };
    // Only now: once installed, the handler replaces SIGTERM's default action for good, and
    // without the extension nothing would flush and exit on it.
    match signal(SignalKind::terminate()) {
        Ok(terminate) => Some(Registered {
            client,
            id,
            terminate,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown hook: SIGTERM cannot be handled");
            None
        }
    }
}

impl Registered {
    /// Spawns what waits for SIGTERM and then writes `metrics`' folded refusal counts.
    pub fn flush_on_terminate(self, metrics: Metrics) {
        let Registered {
            client,
            id,
            mut terminate,
        } = self;
        tokio::spawn(async move {
            // Lambda ends the instance's init once the extension asks for its next event,
            // which never comes (it subscribed to none): the answer is awaited for nothing.
            let ask = async move {
                if let Ok(next) = request(Method::GET, NEXT, Some(&id), Body::empty()) {
                    let _ = client.call(next).await;
                }
            };
            let wait_for_terminate = async move {
                if terminate.recv().await.is_some() {
                    metrics.flush_refusals();
                    #[allow(
                        clippy::exit,
                        reason = "SIGTERM's own action, which this handler replaced: Lambda is \
                                  shutting the instance down, and nothing else runs after it"
                    )]
                    std::process::exit(0);
                }
            };
            tokio::join!(ask, wait_for_terminate);
        });
    }
}

/// The Extensions API's `register`, for no event; the extension's id.
async fn register_with(client: &Client) -> Result<String, String> {
    let body = Body::from(&br#"{"events":[]}"#[..]);
    let register = request(Method::POST, REGISTER, None, body)?;
    let answer = client.call(register).await.map_err(|e| e.to_string())?;
    if answer.status() != StatusCode::OK {
        return Err(format!("register answered {}", answer.status()));
    }
    answer
        .headers()
        .get(ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("register answered without {ID_HEADER}"))
}

fn request(
    method: Method,
    path: &str,
    id: Option<&str>,
    body: Body,
) -> Result<lambda_http::http::Request<Body>, String> {
    let mut builder = build_request().method(method).uri(path);
    builder = match id {
        Some(id) => builder.header(ID_HEADER, id),
        None => builder.header("Lambda-Extension-Name", EXTENSION_NAME),
    };
    builder
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())
}
