//! The wire between the tests' SDK clients and the local server: an HTTP client that records
//! every message the queue accepted ([`Wire::sends`]), and behaves as AWS does where the local
//! server does not: for a chosen call it answers what DynamoDB would answer under contention or
//! a lost connection, or shows a lagging index.
//!
//! **Sends, not queue contents.** The tests move the product's clock by hours or days, but the
//! local server de-duplicates FIFO messages by the real clock: a second send with a known
//! `MessageDeduplicationId` seconds later (real time) is dropped there, and would reach the
//! consumer on AWS, where those seconds are hours. A test of "sent once" counts sends.
//!
//! - [`HttpFault::Answer`]: the call never reaches the server; the client gets a canned error
//!   answer (a `TransactionCanceledException` whose reason is `TransactionConflict`, a
//!   `TransactionConflictException`): what DynamoDB answers when another request touches the
//!   same item at the same time, which the local server, serializing every call, never does.
//! - [`HttpFault::CommitThenLoseAnswer`]: the call reaches the server and commits, then the
//!   answer is lost (the client gets a timeout, as when a connection drops): the SDK retries the
//!   same request, as it does on AWS. On AWS a retried `TransactWriteItems` with the same
//!   `ClientRequestToken` succeeds without writing again; the local server ignores the token, so
//!   the retry meets its own first write (a condition fails): the product must cope with both.
//! - [`Wire::lag_index`]: a `Query` of a global secondary index returns what was true
//!   `lag` ago by the injected clock: entries whose key time (`received_at`, in `by_arrival`) is
//!   younger are not there yet (AWS propagates index writes asynchronously);
//!   [`Wire::hide_in_index`] holds back one item's entry whatever its time (propagation is not
//!   in key order). Entries removed recently are not shown again: a stale extra entry is
//!   harmless to the sweeper, a missing one is the risk.
//!
//! Each planned fault applies to one call (the `n`-th of its operation from the plan's making)
//! and is then spent; [`Wire::spent`] says how many were.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde_json::Value;
use time::Duration;
use webhook_core::clock::Clock;

/// What happens to one planned call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFault {
    /// Answer `status` with this JSON body (DynamoDB's error shape), without calling the server.
    Answer { status: u16, body: String },
    /// Let the server commit the call, then lose its answer (a timeout for the client).
    CommitThenLoseAnswer,
}

impl HttpFault {
    /// `TransactWriteItems` cancelled because another request was writing one of its items:
    /// `TransactionConflict` as the reason of item `conflicting` of `items`.
    pub fn transaction_conflict(items: usize, conflicting: usize) -> HttpFault {
        let reasons: Vec<Value> = (0..items)
            .map(|i| {
                if i == conflicting {
                    serde_json::json!({"Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item"})
                } else {
                    serde_json::json!({"Code": "None"})
                }
            })
            .collect();
        HttpFault::Answer {
            status: 400,
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "CancellationReasons": reasons,
            })
            .to_string(),
        }
    }

    /// A single-item write refused because a transaction was writing the item.
    pub fn conflict_with_a_transaction() -> HttpFault {
        HttpFault::Answer {
            status: 400,
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "Message": "Transaction is ongoing for the item",
            })
            .to_string(),
        }
    }
}

#[derive(Debug)]
struct Planned {
    /// The operation (`TransactWriteItems`, `UpdateItem`, ...).
    op: String,
    /// Calls of `op` to let through first.
    skip: usize,
    fault: HttpFault,
}

struct Lag {
    index: String,
    /// The index attribute that holds when the entry was written (RFC 3339).
    written_at: String,
    lag: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Lag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lag")
            .field("index", &self.index)
            .field("lag", &self.lag)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Plan {
    faults: VecDeque<Planned>,
    spent: usize,
    lag: Option<Lag>,
    /// (index, pk) entries held back.
    hidden: Vec<(String, String)>,
    sends: Vec<Sent>,
}

/// A message the queue accepted (`SendMessage` answered 200), as it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub queue_url: String,
    pub group: String,
    pub deduplication_id: String,
    /// The message body (the envelope's JSON).
    pub body: Value,
}

impl Sent {
    /// The envelope it carried.
    pub fn envelope(&self) -> webhook_core::Envelope {
        serde_json::from_value(self.body.clone()).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// The HTTP client (see the module's documentation). Clones share one plan and one record.
#[derive(Debug, Clone)]
pub struct Wire {
    inner: SharedHttpClient,
    plan: Arc<Mutex<Plan>>,
}

impl Wire {
    /// In front of the HTTP client the functions use (it speaks plain HTTP to the local
    /// server).
    pub fn new() -> Wire {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        Wire {
            inner: aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
            plan: Arc::default(),
        }
    }

    /// Every message a queue accepted through this wire, in the order the answers came.
    pub fn sends(&self) -> Vec<Sent> {
        self.plan().sends.clone()
    }

    /// Those `queue_url` accepted.
    pub fn sends_to(&self, queue_url: &str) -> Vec<Sent> {
        let mut sends = self.sends();
        sends.retain(|s| s.queue_url == queue_url);
        sends
    }

    fn record(&self, body: &Value) {
        let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        let message = serde_json::from_str(body["MessageBody"].as_str().unwrap_or_default())
            .unwrap_or(Value::Null);
        self.plan().sends.push(Sent {
            queue_url: text("QueueUrl"),
            group: text("MessageGroupId"),
            deduplication_id: text("MessageDeduplicationId"),
            body: message,
        });
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The call of `op` after `skip` more calls of it gets `fault`. Plans for the same
    /// operation apply in the order made.
    pub fn plan_fault(&self, op: &str, skip: usize, fault: HttpFault) {
        self.plan().faults.push_back(Planned {
            op: op.to_owned(),
            skip,
            fault,
        });
    }

    /// The next call of `op` gets `fault`.
    pub fn next(&self, op: &str, fault: HttpFault) {
        self.plan_fault(op, 0, fault);
    }

    /// How many planned faults have happened.
    pub fn spent(&self) -> usize {
        self.plan().spent
    }

    /// From now on, a `Query` of `index` leaves out the entries whose `written_at` attribute is
    /// later than `clock`'s now less `lag`.
    pub fn lag_index(&self, index: &str, written_at: &str, lag: Duration, clock: Arc<dyn Clock>) {
        self.plan().lag = Some(Lag {
            index: index.to_owned(),
            written_at: written_at.to_owned(),
            lag,
            clock,
        });
    }

    /// A `Query` of `index` leaves out the entry of the item whose `pk` is `pk`, until
    /// [`Wire::catch_up_index`].
    pub fn hide_in_index(&self, index: &str, pk: &str) {
        self.plan().hidden.push((index.to_owned(), pk.to_owned()));
    }

    /// The indexes are up to date again.
    pub fn catch_up_index(&self) {
        let mut plan = self.plan();
        plan.lag = None;
        plan.hidden.clear();
    }

    /// What this call gets: a fault, or (for an index query under lag) the cut-off time.
    fn decide(&self, op: &str, body: &Value) -> Decision {
        let mut plan = self.plan();
        if let Some(i) = plan.faults.iter().position(|p| p.op == op) {
            if plan.faults[i].skip > 0 {
                plan.faults[i].skip -= 1;
            } else if let Some(planned) = plan.faults.remove(i) {
                plan.spent += 1;
                return Decision::Fault(planned.fault);
            }
        }
        let Some(index) = body["IndexName"].as_str().filter(|_| op == "Query") else {
            return Decision::Pass;
        };
        let lag = plan
            .lag
            .as_ref()
            .filter(|lag| lag.index == index)
            .map(|lag| (lag.written_at.clone(), lag.clock.now() - lag.lag));
        let hidden: Vec<String> = plan
            .hidden
            .iter()
            .filter(|(i, _)| i == index)
            .map(|(_, pk)| pk.clone())
            .collect();
        if lag.is_none() && hidden.is_empty() {
            return Decision::Pass;
        }
        Decision::Lagging { lag, hidden }
    }
}

impl Default for Wire {
    fn default() -> Self {
        Wire::new()
    }
}

enum Decision {
    Pass,
    Fault(HttpFault),
    /// An index query: leave out the entries written after the cut-off (by the attribute
    /// named), and those of the hidden items.
    Lagging {
        lag: Option<(String, time::OffsetDateTime)>,
        hidden: Vec<String>,
    },
}

impl HttpClient for Wire {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            wire: self.clone(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    wire: Wire,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let decision = self.wire.decide(&op, &body);
        let inner = self.inner.clone();
        let wire = self.wire.clone();
        HttpConnectorFuture::new(async move {
            match decision {
                Decision::Pass => {
                    let response = inner.call(request).await?;
                    if op == "SendMessage" && response.status().is_success() {
                        wire.record(&body);
                    }
                    Ok(response)
                }
                Decision::Fault(HttpFault::Answer { status, body }) => canned(status, body),
                Decision::Fault(HttpFault::CommitThenLoseAnswer) => {
                    // Let it commit, and read the answer off the wire before dropping it.
                    let response = inner.call(request).await?;
                    let _ = ByteStream::new(response.into_body()).collect().await;
                    Err(ConnectorError::timeout(
                        "fault_http: the answer was lost after the call committed".into(),
                    ))
                }
                Decision::Lagging { lag, hidden } => {
                    let response = inner.call(request).await?;
                    lagging(response, lag, &hidden).await
                }
            }
        })
    }
}

fn canned(status: u16, body: String) -> Result<HttpResponse, ConnectorError> {
    let status = status
        .try_into()
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    Ok(response)
}

/// The index query's answer without the entries written after the cut-off, and without the
/// hidden items' entries.
async fn lagging(
    response: HttpResponse,
    lag: Option<(String, time::OffsetDateTime)>,
    hidden: &[String],
) -> Result<HttpResponse, ConnectorError> {
    let status = response.status();
    let bytes = ByteStream::new(response.into_body())
        .collect()
        .await
        .map_err(|e| ConnectorError::io(Box::new(e)))?
        .into_bytes();
    let mut json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(items) = json.get_mut("Items").and_then(Value::as_array_mut) {
        items.retain(|item| {
            let late = lag.as_ref().is_some_and(|(attribute, cutoff)| {
                item[attribute.as_str()]["S"]
                    .as_str()
                    .and_then(|at| {
                        time::OffsetDateTime::parse(
                            at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .is_some_and(|at| at > *cutoff)
            });
            let pk = item["pk"]["S"].as_str().unwrap_or_default();
            !late && !hidden.iter().any(|h| h == pk)
        });
        let count = items.len();
        json["Count"] = Value::from(count);
    }
    let mut out = HttpResponse::new(status, SdkBody::from(json.to_string()));
    out.headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    Ok(out)
}
