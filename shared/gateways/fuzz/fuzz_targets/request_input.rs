//! Fuzz input → an API Gateway event → the handler, with in-memory store and queue: the whole
//! request path of a function but the AWS calls. Shared by the `handle_request` fuzz target and
//! by `tests/tests/end_to_end/request_fuzz_seeds.rs`, which runs the seeds on stable in `cargo test`.
//!
//! Input layout: byte 0 picks the method, base64 flag and path (bits 0-4), the event's shape
//! (bit 5: an HTTP API, payload 2.0, event; else REST, 1.0) and a hostile URL part (bits 6-7:
//! a `Host` and `X-Forwarded-Proto` that do not parse, a quote and a space in the path, a
//! 70 KB query); byte 1 the token and content type (bits 0-3), a query parameter `http`
//! refuses (bits 4-6: a quote, angle brackets, a space, a control byte, ...) and whether the
//! input's own bytes up to its first newline are appended to the query (bit 7); byte 2
//! whether the store or the queue fails, and whether the request goes to the iPag function
//! (JSON, an `X-Ipag-Event` header, a signature) instead of `all-events`; the rest is the body.

use std::sync::{Arc, OnceLock};

use webhook_core::gateway::Gateway;
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_ipag::{Ipag, SignatureKey};
use webhook_iugu::Iugu;
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};
use webhook_lambda::source_ip::SourceAllowList;

pub const TOKEN: &str = "fuzz-token-0123456789abcdef";
/// The iPag signature secret (the fuzzed iPag function checks it when byte 2 asks).
pub const SIGNATURE_SECRET: &str = "fuzz-ipag-secret";

/// Query parameters `http::Uri` refuses as they are (byte 1, bits 4-6; 0 adds none).
const HOSTILE_QUERIES: [&str; 8] = [
    "", "a=\"x\"", "a=<b>", "a=b c", "a=\u{1}", "a=`{|}^`", "a=[]\\#", "a=%zz%",
];

/// The API Gateway event (REST v1 or HTTP API v2) the input describes.
pub fn event_json(input: &[u8]) -> String {
    let (head, body) = input.split_at(input.len().min(3));
    let [a, b, c] = [0, 1, 2].map(|i| head.get(i).copied().unwrap_or(0));
    let v2 = a & 0x20 != 0;
    let hostile_url = a >> 6;
    // Bit 7 of byte 1: the input's own bytes, up to its first newline, go into the query.
    let (own_query, body) = match (b & 0x80 != 0, body.iter().position(|&x| x == b'\n')) {
        (true, Some(cut)) => (
            String::from_utf8_lossy(&body[..cut]).into_owned(),
            &body[cut + 1..],
        ),
        (true, None) => (
            String::from_utf8_lossy(body).into_owned(),
            &body[body.len()..],
        ),
        (false, _) => (String::new(), body),
    };
    let mut extra: Vec<String> = Vec::new();
    let hostile = HOSTILE_QUERIES[usize::from((b >> 4) & 7)];
    if !hostile.is_empty() {
        extra.push(hostile.to_owned());
    }
    if !own_query.is_empty() {
        extra.push(own_query);
    }
    if hostile_url == 3 {
        extra.push(format!("long={}", "x".repeat(70_000)));
    }
    let ipag = c & 4 != 0;
    let method = ["POST", "POST", "GET", "PUT"][usize::from(a & 3)];
    let base64 = a & 4 != 0;
    let path =
        ["/iugu/invoices", "/iugu/events", "/iugu/invoices/extra", ""][usize::from((a >> 3) & 3)];
    let path = match path {
        "/iugu/invoices" | "/iugu/events" if ipag => "/ipag/events",
        other => other,
    };
    let path = if hostile_url == 2 {
        format!("{path}/\"x y\"")
    } else {
        path.to_owned()
    };
    let (form, json) = (
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
    );
    let (expected, other) = if ipag { (json, form) } else { (form, json) };
    let content_type = [expected, "application/json", other, ""][usize::from(b & 3)];
    let (query, auth) = match (b >> 2) & 3 {
        0 => (Some(TOKEN), None),
        1 => (None, Some(format!("Bearer {TOKEN}"))),
        2 => (Some(TOKEN), Some("Bearer wrong".to_owned())),
        _ => (None, None),
    };
    let body = String::from_utf8_lossy(body);
    let mut headers = serde_json::Map::new();
    if !content_type.is_empty() {
        headers.insert("Content-Type".into(), content_type.into());
    }
    if let Some(auth) = auth {
        headers.insert("Authorization".into(), auth.into());
    }
    if ipag {
        let names = [
            "TransactionCaptured",
            "SubscriptionPaymentFailed",
            "SomethingNew",
            "",
        ];
        let name = names[usize::from((c >> 3) & 3)];
        if !name.is_empty() {
            headers.insert("X-Ipag-Event".into(), name.into());
        }
        if let (true, Some(key)) = (c & 0x20 != 0, SignatureKey::new(Some(SIGNATURE_SECRET))) {
            headers.insert("X-Ipag-Signature".into(), key.sign(body.as_bytes()).into());
        }
    }
    if hostile_url == 1 {
        headers.insert("Host".into(), "a b:99999".into());
        headers.insert("X-Forwarded-Proto".into(), "1<".into());
    }
    if v2 {
        let mut raw_query: Vec<String> = query.map(|t| format!("token={t}")).into_iter().collect();
        raw_query.extend(extra);
        let headers: serde_json::Map<String, serde_json::Value> = headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        return serde_json::json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": raw_query.join("&"),
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "fuzz", "domainName": "fuzz.local",
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                          "sourceIp": "54.207.210.151" },
                "requestId": "fuzz", "routeKey": format!("{method} {path}"), "stage": "$default",
                "time": "17/Jun/2024:12:00:00 +0000", "timeEpoch": 1718625600000u64
            },
            "body": body,
            "isBase64Encoded": base64
        })
        .to_string();
    }
    // REST (v1): the query as API Gateway decodes it into parameters.
    let mut parameters = serde_json::Map::new();
    if let Some(t) = query {
        parameters.insert("token".into(), t.into());
    }
    for (i, pair) in extra.iter().enumerate() {
        let (name, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
        parameters.insert(format!("{name}{i}"), value.into());
    }
    let multi: serde_json::Map<String, serde_json::Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::json!([v])))
        .collect();
    serde_json::json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "queryStringParameters": parameters,
        "multiValueQueryStringParameters": multi,
        "requestContext": { "identity": { "sourceIp": "54.207.210.151" }, "httpMethod": method },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// Runs one input through the request path and checks what every answer must satisfy.
/// Returns the status.
pub fn check(input: &[u8]) -> u16 {
    let json = event_json(input);
    let mut event: lambda_http::request::LambdaRequest =
        serde_json::from_str(&json).expect("the harness builds valid events");
    webhook_lambda::screen::screen(&mut event);
    let request: lambda_http::Request = event.into();
    let flags = input.get(2).copied().unwrap_or(0);
    let ipag = flags & 4 != 0;
    let gateway: Arc<dyn Gateway> = match (ipag, flags & 0x40 != 0) {
        (true, true) => Arc::new(Ipag::signed(Some(SIGNATURE_SECRET))),
        (true, false) => Arc::new(Ipag::UNSIGNED),
        (false, _) => Arc::new(Iugu::ALL_EVENTS),
    };
    let app = App {
        gateway,
        token: Token::new(Some(TOKEN)),
        allowed_sources: SourceAllowList::default(),
        store: MemoryStore {
            down: flags & 1 != 0,
            ..MemoryStore::default()
        },
        forwarder: MemoryQueue {
            down: flags & 2 != 0,
            ..MemoryQueue::default()
        },
        delivery: Delivery::default(),
        metrics: Default::default(),
    };
    let response = runtime().block_on(app.handle(request));
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => text.clone(),
        other => panic!("every answer is JSON text, got {other:?}"),
    };
    let answer: serde_json::Value = serde_json::from_str(&body).expect("every answer is JSON");
    let stored = app.store.stored();
    let sent = app.forwarder.sent.lock().expect("lock").len();
    match status {
        200 => {
            assert_eq!((stored, sent), (1, 1), "200 only once stored and forwarded");
            assert!(answer["dedup_key"].is_string());
        }
        503 => assert_eq!(sent, 0, "a 503 here means nothing was forwarded"),
        400 | 401 | 404 | 405 | 413 | 415 | 422 => {
            assert_eq!((stored, sent), (0, 0), "a refusal changes nothing");
            assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        other => panic!("undocumented status {other}: {body}"),
    }
    status
}
