//! Hostile input through the real handler: each answered with its documented status and JSON
//! error, and nothing stored or forwarded.

use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, RequestExt};
use pipeline_tests::{answer, form_post, post, text, through_runtime, Local, TOKEN};
use webhook_iugu::{Family, Iugu};

const GOOD: &str = "event=invoice.status_changed&data%5Bid%5D=H1&data%5Bstatus%5D=paid";
const FORM: &str = "application/x-www-form-urlencoded";

fn with_header(mut request: Request, name: &'static str, value: &'static str) -> Request {
    request
        .headers_mut()
        .append(name, HeaderValue::from_static(value));
    request
}

fn without_header(mut request: Request, name: &'static str) -> Request {
    request.headers_mut().remove(name);
    request
}

/// A REST (v1) event whose body is flagged base64 (`isBase64Encoded`), as the runtime screens it.
fn base64_flagged(body: &str) -> Request {
    let event = serde_json::json!({
        "resource": "/iugu/invoices",
        "path": "/iugu/invoices",
        "httpMethod": "POST",
        "headers": { "Content-Type": FORM, "X-Front-Door-Body-Error": "forged" },
        "multiValueHeaders": { "Content-Type": [FORM] },
        "queryStringParameters": { "token": TOKEN },
        "multiValueQueryStringParameters": { "token": [TOKEN] },
        "requestContext": { "identity": { "sourceIp": "54.207.210.151" }, "httpMethod": "POST" },
        "body": body,
        "isBase64Encoded": true
    });
    through_runtime(&event.to_string())
}

fn with_bytes(body: Vec<u8>) -> Request {
    let mut request = form_post("");
    *request.body_mut() = Body::Binary(body);
    request
}

#[tokio::test]
async fn hostile_bodies_headers_and_credentials_are_refused_and_change_nothing() {
    let local = Local::new().await;
    let app = local.app(Iugu::family(Family::Invoices));
    let fields: String = (0..10_000).map(|i| format!("&f{i}=1")).collect();
    let many_small_fields: String = (0..300).map(|i| format!("&{i}")).collect();
    let cases: Vec<(&str, Request, u16, &str)> = vec![
        (
            "7 levels of brackets",
            form_post(&format!("{GOOD}&data{}=1", "[a]".repeat(6))),
            400,
            "too_deep",
        ),
        ("empty body", form_post(""), 400, "empty_body"),
        (
            "1 MiB body",
            form_post(&format!("{GOOD}&data[x]={}", "a".repeat(1 << 20))),
            413,
            "body_too_large",
        ),
        (
            "10,000 fields",
            form_post(&format!("{GOOD}{fields}")),
            413,
            "body_too_large",
        ),
        (
            "300 fields within the size bound",
            form_post(&format!("{GOOD}{many_small_fields}")),
            413,
            "too_many_fields",
        ),
        // 100 levels cannot fit in a 256-byte name: refused by the name bound, before depth.
        (
            "100 levels of brackets",
            form_post(&format!("{GOOD}&data{}=1", "[a]".repeat(100))),
            400,
            "key_too_long",
        ),
        (
            "invalid UTF-8 escape",
            form_post(&format!("{GOOD}&data[x]=%FF%FE")),
            400,
            "invalid_utf8",
        ),
        (
            "invalid UTF-8 bytes",
            with_bytes(
                format!("{GOOD}&data[x]=")
                    .into_bytes()
                    .into_iter()
                    .chain([0xC3, 0x28])
                    .collect(),
            ),
            400,
            "invalid_utf8",
        ),
        (
            "NUL byte",
            form_post(&format!("{GOOD}&data[x]=a%00b")),
            400,
            "nul_byte",
        ),
        (
            "a JSON body sent as a form",
            form_post(r#"{"event":"invoice.status_changed","data":{"id":"H1"}}"#),
            422,
            "missing_event",
        ),
        (
            "event twice, two values",
            form_post(&format!("{GOOD}&event=invoice.created")),
            400,
            "duplicate_key",
        ),
        (
            "data[id] twice, two values",
            form_post(&format!("{GOOD}&data%5Bid%5D=H2")),
            400,
            "duplicate_key",
        ),
        (
            "a 10 KiB key",
            form_post(&format!("{GOOD}&{}=1", "k".repeat(10 * 1024))),
            400,
            "key_too_long",
        ),
        (
            "a key of brackets only",
            form_post(&format!("{GOOD}&[][]=1")),
            400,
            "malformed_key",
        ),
        (
            "an invalid percent escape",
            form_post(&format!("{GOOD}&data[x]=100%zz")),
            400,
            "invalid_percent_escape",
        ),
        (
            "a truncated percent escape",
            form_post(&format!("{GOOD}&data[x]=100%2")),
            400,
            "invalid_percent_escape",
        ),
        (
            "base64 flag with a body that is not base64",
            base64_flagged("this is *not* base64!"),
            400,
            "invalid_base64",
        ),
        (
            "a path with extra segments",
            form_post(GOOD).with_raw_http_path("/iugu/invoices/extra"),
            404,
            "not_found",
        ),
        (
            "a path no route ends in",
            form_post(GOOD).with_raw_http_path("/iugu/invoices/../../admin"),
            404,
            "not_found",
        ),
        (
            "no content type",
            without_header(form_post(GOOD), "content-type"),
            415,
            "unsupported_media_type",
        ),
        (
            "a JSON content type",
            post(GOOD, "application/json", Some(TOKEN)),
            415,
            "unsupported_media_type",
        ),
        (
            "two content types",
            with_header(form_post(GOOD), "content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        ("no token", post(GOOD, FORM, None), 401, "unauthorized"),
        (
            "a wrong token",
            post(GOOD, FORM, Some("wrong")),
            401,
            "unauthorized",
        ),
        (
            "a wrong token of the right length",
            post(GOOD, FORM, Some("local-dev-token-0123456788")),
            401,
            "unauthorized",
        ),
        (
            "a token with trailing whitespace",
            post(GOOD, FORM, Some("local-dev-token-0123456789 ")),
            401,
            "unauthorized",
        ),
        (
            "header and query disagreeing",
            with_header(
                form_post(GOOD),
                "authorization",
                "Bearer another-token-000000000",
            ),
            401,
            "unauthorized",
        ),
    ];
    let mut kept = 0;
    for (what, request, want_status, want_error) in cases {
        let authentic = request
            .query_string_parameters()
            .first("token")
            .is_some_and(|t| t == TOKEN)
            && request.headers().get("authorization").is_none();
        let (status, json) = answer(&app.handle(request).await);
        assert_eq!(status, want_status, "{what}: {json}");
        assert_eq!(json["error"], want_error, "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        // An authentic request refused as malformed, too large or unprocessable is kept in
        // the quarantine (`webhook_core::quarantine`); nothing else is stored.
        if authentic && matches!(status, 400 | 413 | 422) {
            kept += 1;
        }
    }
    let items = local.items().await;
    assert!(
        items.iter().all(|i| text(i, "kind") == "quarantine"),
        "nothing stored but the quarantine: {items:?}"
    );
    let deliveries: u64 = items
        .iter()
        .map(|i| webhook_aws::table::number(i, "deliveries").unwrap_or(0))
        .sum();
    assert_eq!(deliveries, kept, "every authentic refusal kept, no other");
    assert!(local.drain().await.is_empty(), "nothing forwarded");

    // A charset parameter, any case, is still a form; so is the token in the header alone.
    let charset = post(
        GOOD,
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        Some(TOKEN),
    );
    assert_eq!(app.handle(charset).await.status(), 200);
    let header_only = with_header(
        post(GOOD, FORM, None),
        "authorization",
        "Bearer local-dev-token-0123456789",
    );
    assert_eq!(app.handle(header_only).await.status(), 200);
    // Valid base64 is decoded, and a client's own copy of the screen's header is dropped.
    let base64 = base64_flagged(&b64(GOOD));
    assert_eq!(app.handle(base64).await.status(), 200);
    assert_eq!(local.events().await.len(), 1);
}

/// Standard base64, as API Gateway encodes a binary body.
fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// An HTTP API (v2) event for `/iugu/invoices`, as API Gateway hands it over, with `query` as
/// its raw query string and `headers` beside the form's content type.
fn v2_event(path: &str, query: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut all = serde_json::Map::new();
    all.insert("content-type".into(), FORM.into());
    for (name, value) in headers {
        all.insert((*name).into(), (*value).into());
    }
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /iugu/invoices",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "local",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "54.207.210.151" },
            "requestId": "test-request", "routeKey": "POST /iugu/invoices", "stage": "$default",
            "time": "17/Jun/2024:12:00:00 +0000", "timeEpoch": 1718625600000u64
        },
        "body": body,
        "isBase64Encoded": false
    });
    through_runtime(&event.to_string())
}

/// Issue 24, item 1: a query string `http::Uri` refuses (`token=...&a="x"`) made
/// `lambda_http` panic in its conversion, before any check: with `panic = "abort"` the
/// function died (502, a cold start and a secret read for the next request), for a caller with
/// no token. The screen percent-encodes what `http` refuses (the token still reads), drops a
/// `Host` or `X-Forwarded-Proto` that would not parse, and refuses what cannot be mended.
#[tokio::test]
async fn hostile_urls_are_screened_before_the_conversion() {
    let local = Local::new().await;
    let app = local.app(Iugu::family(Family::Invoices));
    let token = format!("token={TOKEN}");
    let body =
        |id: &str| format!("event=invoice.status_changed&data%5Bid%5D={id}&data%5Bstatus%5D=paid");
    let long = format!("{token}&a={}", "x".repeat(70_000));
    let cases: Vec<(&str, Request, u16, &str)> = vec![
        (
            "a quote in the query, with the token",
            v2_event(
                "/iugu/invoices",
                &format!(r#"{token}&a="x""#),
                &[],
                &body("U1"),
            ),
            200,
            "stored",
        ),
        (
            "angle brackets, a space, a control byte, with the token",
            v2_event(
                "/iugu/invoices",
                &format!("{token}&a=<b> c\u{1}"),
                &[],
                &body("U2"),
            ),
            200,
            "stored",
        ),
        (
            "a quote in the query, no token",
            v2_event("/iugu/invoices", r#"a="x""#, &[], &body("U3")),
            401,
            "unauthorized",
        ),
        (
            "a space in the query, a wrong token",
            v2_event(
                "/iugu/invoices",
                "token=wrong value&<script>",
                &[],
                &body("U4"),
            ),
            401,
            "unauthorized",
        ),
        (
            "a quote and a space in the path",
            v2_event(r#"/iugu/invoices/"x y""#, &token, &[], &body("U5")),
            404,
            "not_found",
        ),
        (
            "a Host and an X-Forwarded-Proto that do not parse",
            v2_event(
                "/iugu/invoices",
                &token,
                &[("host", "a b:99999"), ("x-forwarded-proto", "1<")],
                &body("U6"),
            ),
            200,
            "stored",
        ),
        (
            "a 70 KB query",
            v2_event("/iugu/invoices", &long, &[], &body("U7")),
            400,
            "invalid_uri",
        ),
    ];
    let mut stored = 0;
    for (what, request, want_status, want) in cases {
        let (status, json) = answer(&app.handle(request).await);
        assert_eq!(status, want_status, "{what}: {json}");
        if status == 200 {
            assert_eq!(json["status"], want, "{what}: {json}");
            stored += 1;
        } else {
            assert_eq!(json["error"], want, "{what}: {json}");
        }
    }
    assert_eq!(
        local.events().await.len(),
        stored,
        "only the authentic ones stored"
    );
    assert_eq!(local.drain().await.len(), stored, "and forwarded");
    assert_eq!(
        local.quarantined_deliveries().await,
        0,
        "no refusal here was authentic"
    );
}

/// Issue 24, item 2: the quarantine kept up to 64 KiB of any body (iugu's own limit is
/// 16 KiB), one item per day and body with no cap: whoever holds a token could fill the table.
/// Now it keeps at most the gateway's body limit, and at most `MAX_ITEMS_PER_DAY` new items a
/// day per gateway; past that a refused request is counted on the day's counter, not stored,
/// and the answer is the same refusal. Each new item and each one over the cap is a metric.
#[tokio::test]
async fn the_quarantine_keeps_the_gateways_limit_and_a_days_cap() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use webhook_aws::table;
    use webhook_core::quarantine::MAX_ITEMS_PER_DAY;

    let local = Local::new().await;
    let clock = webhook_core::clock::ManualClock::at(time::macros::datetime!(2026-11-23 10:00 UTC));
    let (metrics, lines) = webhook_lambda::metrics::Metrics::captured("test");
    let app = webhook_lambda::http::App {
        metrics,
        ..local.app_at(Iugu::family(Family::Invoices), &clock)
    };
    let day = "2026-11-23";

    // Over iugu's own limit: kept, cut at 16 KiB, not 64.
    let big = format!("{GOOD}&data[x]={}", "a".repeat(1 << 20));
    assert_eq!(app.handle(form_post(&big)).await.status(), 413);
    let kept: Vec<_> = local
        .items()
        .await
        .into_iter()
        .filter(|i| text(i, "kind") == "quarantine" && !text(i, "sk").starts_with("count#"))
        .collect();
    assert_eq!(kept.len(), 1);
    let Some(AttributeValue::B(body)) = kept[0].get("body") else {
        panic!("a body: {:?}", kept[0]);
    };
    assert_eq!(body.as_ref().len(), webhook_iugu::form::MAX_BODY_BYTES);
    assert_eq!(text(&kept[0], "provider"), "iugu");

    // The day's cap: one place left, then counted, not kept.
    local
        .dynamo
        .update_item()
        .table_name(&local.table)
        .key("pk", AttributeValue::S(table::quarantine_pk(day)))
        .key("sk", AttributeValue::S(table::quarantine_count_sk("iugu")))
        .update_expression("SET #items = :n")
        .expression_attribute_names("#items", "items")
        .expression_attribute_values(":n", AttributeValue::N((MAX_ITEMS_PER_DAY - 1).to_string()))
        .send()
        .await
        .expect("set the counter");
    let malformed = |n: u32| form_post(&format!("{GOOD}&data[x]=100%zz{n}"));
    let (status, first) = answer(&app.handle(malformed(1)).await);
    assert_eq!(
        (status, first["error"].as_str()),
        (400, Some("invalid_percent_escape"))
    );
    let (status, over) = answer(&app.handle(malformed(2)).await);
    assert_eq!(over, first, "over the cap, the same answer");
    assert_eq!(status, 400);
    // A retry of a body kept already is still counted on its item.
    assert_eq!(app.handle(malformed(1)).await.status(), 400);

    let items = local.items().await;
    let bodies: Vec<_> = items
        .iter()
        .filter(|i| text(i, "kind") == "quarantine" && !text(i, "sk").starts_with("count#"))
        .collect();
    assert_eq!(
        bodies.len(),
        2,
        "the 1 MiB body and the first malformed one: {bodies:?}"
    );
    assert_eq!(local.quarantined_deliveries().await, 3);
    let counter = items
        .iter()
        .find(|i| text(i, "sk") == "count#iugu")
        .expect("the day's counter");
    assert_eq!(table::number(counter, "items"), Some(MAX_ITEMS_PER_DAY));
    assert_eq!(table::number(counter, "over_cap"), Some(1));
    assert!(local.items_but_quarantine().await.is_empty());

    // The metrics: two new items (with their bytes) and one over the cap.
    let lines = lines.lock().expect("lines").clone();
    let quarantine: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l.get("QuarantinedItems").is_some())
        .collect();
    let sum = |name: &str| {
        quarantine
            .iter()
            .filter_map(|l| l[name].as_u64())
            .sum::<u64>()
    };
    assert_eq!(sum("QuarantinedItems"), 2);
    assert_eq!(sum("QuarantineOverCap"), 1);
    assert_eq!(
        sum("QuarantinedBytes"),
        (webhook_iugu::form::MAX_BODY_BYTES + GOOD.len() + "&data[x]=100%zz1".len()) as u64
    );
}
