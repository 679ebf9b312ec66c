//! A local stand-in for the gateways' APIs, on loopback: iugu's `GET /v1/invoices/{id}` and
//! `GET /v1/subscriptions/{id}`, iPag's `GET /service/resources/transactions?id=`, answering
//! with what it was told (tests) or what the samples say (the local run,
//! [`StandIn::seed_from_fixtures`]). A request without `Authorization` is answered 401, an
//! unknown resource 404, as the real APIs do. It can be down (every call answered with a
//! status) or rate-limit the next calls (429 with `Retry-After`), and it counts the calls.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::confirm::Lookup;

#[derive(Debug, Default)]
struct State {
    answers: HashMap<Lookup, Value>,
    down: Option<u16>,
    rate_limited: u32,
    retry_after: u64,
    calls: Vec<String>,
}

/// The stand-in; it serves until the process (or its runtime) ends.
#[derive(Debug, Clone)]
pub struct StandIn {
    /// `http://127.0.0.1:<port>`: `IUGU_API_URL` and `IPAG_API_URL`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl StandIn {
    /// Listens on `address` (`127.0.0.1:0` for any free port) and serves on the current tokio
    /// runtime.
    pub async fn start(address: &str) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, &request)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(StandIn { url, state })
    }

    /// Answers `lookup` with `body` (the resource's JSON, as the gateway would).
    pub fn set(&self, lookup: Lookup, body: Value) {
        lock(&self.state).answers.insert(lookup, body);
    }

    /// An iugu invoice with `status`.
    pub fn invoice(&self, id: &str, status: &str) {
        self.set(
            Lookup::IuguInvoice(id.to_owned()),
            json!({"id": id, "status": status, "total_cents": 1000,
                   "paid_cents": if status == "paid" { 1000 } else { 0 }}),
        );
    }

    /// An iugu subscription.
    pub fn subscription(&self, id: &str, active: bool, suspended: bool) {
        self.set(
            Lookup::IuguSubscription(id.to_owned()),
            json!({"id": id, "active": active, "suspended": suspended}),
        );
    }

    /// An iPag transaction with status `code` and `captured_cents` captured.
    pub fn transaction(&self, id: &str, code: u32, captured_cents: i64) {
        let reais = format!("{}.{:02}", captured_cents / 100, captured_cents % 100);
        let captured: Value = serde_json::from_str(&reais).unwrap_or(Value::Null);
        self.set(
            Lookup::IpagTransaction(id.to_owned()),
            json!({"id": id, "resource": "transactions",
                   "attributes": {"status": {"code": code, "message": ""},
                                  "captured_amount": captured}}),
        );
    }

    /// Every call answered `status` (`Some(503)`: down), or served again (`None`).
    pub fn down(&self, status: Option<u16>) {
        lock(&self.state).down = status;
    }

    /// The next `times` calls answered 429 with `Retry-After: retry_after` seconds.
    pub fn rate_limit(&self, times: u32, retry_after: u64) {
        let mut state = lock(&self.state);
        state.rate_limited = times;
        state.retry_after = retry_after;
    }

    /// Every call so far (`GET /v1/invoices/X1`), in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// Answers for every entity the sample bodies under `fixtures` (the front door's
    /// `shared/gateways/tests/fixtures`) name, each in the furthest state its samples reach: an
    /// invoice the samples show pending, paid and refunded is refunded (which confirms its
    /// "paid" and its refund); a transaction captured then charged back is charged back.
    /// Returns how many entities it knows.
    pub fn seed_from_fixtures(&self, fixtures: &Path) -> std::io::Result<usize> {
        let mut invoices: HashMap<String, &'static str> = HashMap::new();
        let mut subscriptions: Vec<String> = Vec::new();
        let mut transactions: HashMap<String, (u32, i64)> = HashMap::new();
        for folder in ["raw", "repaired", "constructed"] {
            let dir = fixtures.join("iugu").join(folder);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let body = std::fs::read(entry.path())?;
                let Ok(envelope) = webhook_iugu::parse(&body, time::OffsetDateTime::UNIX_EPOCH)
                else {
                    continue;
                };
                match envelope.entity_type.as_str() {
                    "invoice" if envelope.event != "invoice.bank_slip_status" => {
                        let status = match envelope.event.as_str() {
                            "invoice.refund" => Some("refunded"),
                            _ => envelope.status.as_deref().and_then(invoice_status),
                        };
                        if let Some(status) = status {
                            let current =
                                invoices.entry(envelope.entity_id.clone()).or_insert(status);
                            if rank(status) > rank(current) {
                                *current = status;
                            }
                        }
                    }
                    "subscription" => subscriptions.push(envelope.entity_id.clone()),
                    _ => {}
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(fixtures.join("ipag")) {
            for entry in entries.flatten() {
                if entry.path().extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let body: Value = match serde_json::from_slice(&std::fs::read(entry.path())?) {
                    Ok(body) => body,
                    Err(_) => continue,
                };
                if body.get("resource").and_then(Value::as_str) != Some("transactions") {
                    continue;
                }
                let (Some(id), Some(code)) = (
                    body.get("id")
                        .map(|id| id.to_string().trim_matches('"').to_owned()),
                    body.pointer("/attributes/status/code")
                        .and_then(Value::as_u64)
                        .and_then(|c| u32::try_from(c).ok()),
                ) else {
                    continue;
                };
                let captured = body
                    .pointer("/attributes/captured_amount")
                    .and_then(crate::ipag::cents)
                    .unwrap_or(0);
                let current = transactions.entry(id).or_insert((code, captured));
                if ipag_rank(code) > ipag_rank(current.0) {
                    *current = (code, captured.max(current.1));
                }
            }
        }
        let known = invoices.len() + subscriptions.len() + transactions.len();
        for (id, status) in invoices {
            self.invoice(&id, status);
        }
        for id in subscriptions {
            self.subscription(&id, true, false);
        }
        for (id, (code, captured)) in transactions {
            self.transaction(&id, code, captured);
        }
        Ok(known)
    }
}

fn invoice_status(status: &str) -> Option<&'static str> {
    [
        "pending",
        "paid",
        "partially_paid",
        "externally_paid",
        "in_protest",
        "chargeback",
        "refunded",
        "canceled",
        "expired",
    ]
    .into_iter()
    .find(|s| *s == status)
}

/// How far along an invoice's life a status is.
fn rank(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "canceled" | "expired" => 1,
        "partially_paid" => 2,
        "paid" | "externally_paid" => 3,
        "in_protest" => 4,
        "refunded" | "chargeback" => 5,
        _ => 0,
    }
}

/// How far along a transaction's life an iPag status code is.
fn ipag_rank(code: u32) -> u8 {
    match code {
        1 | 2 | 4 => 0,
        5..=7 => 1,
        3 => 2,
        8 => 3,
        10 => 4,
        9 => 5,
        _ => 0,
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn answer(state: &Mutex<State>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let mut state = lock(state);
    state.calls.push(if query.is_empty() {
        format!("{} {path}", request.method())
    } else {
        format!("{} {path}?{query}", request.method())
    });
    if let Some(status) = state.down {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return reply(status, &json!({"errors": "the stand-in is down"}));
    }
    if state.rate_limited > 0 {
        state.rate_limited -= 1;
        let mut response = reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"errors": "too many requests"}),
        );
        if let Ok(value) = hyper::header::HeaderValue::from_str(&state.retry_after.to_string()) {
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, value);
        }
        return response;
    }
    if !request.headers().contains_key(hyper::header::AUTHORIZATION) {
        return reply(StatusCode::UNAUTHORIZED, &json!({"errors": "Unauthorized"}));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let lookup = match segments.as_slice() {
        ["v1", "invoices", id] => Some(Lookup::IuguInvoice((*id).to_owned())),
        ["v1", "subscriptions", id] => Some(Lookup::IuguSubscription((*id).to_owned())),
        ["service", "resources", "transactions"] => query
            .split('&')
            .find_map(|pair| pair.strip_prefix("id="))
            .map(|id| Lookup::IpagTransaction(id.to_owned())),
        _ => None,
    };
    match lookup.and_then(|l| state.answers.get(&l).cloned().map(|body| (l, body))) {
        Some((_, body)) => reply(StatusCode::OK, &body),
        None if segments.first() == Some(&"service") => reply(
            StatusCode::NOT_FOUND,
            &json!({"code": "404", "message": "Transaction Not Found"}),
        ),
        None => reply(StatusCode::NOT_FOUND, &json!({"errors": "Not Found"})),
    }
}
