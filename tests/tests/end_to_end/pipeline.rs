//! The pipeline end to end: the real handler, the real DynamoDB and SQS adapters, a local
//! DynamoDB + SQS server (moto). Each test has its own table and queue.

use lambda_http::Request;
use pipeline_tests::{answer, event_file, form_post, post, text, Local, TOKEN};
use serde_json::Value;
use webhook_core::Envelope;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;

const PAID: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid&data%5Baccount_id%5D=E6495D15290D47D3950C2A723D07A24E&data%5Bpaid_cents%5D=1000";

async fn send(local: &Local, gateway: Iugu, request: Request) -> (u16, Value) {
    answer(&local.app(gateway).handle(request).await)
}

const INVOICES: Iugu = Iugu::family(Family::Invoices);

#[tokio::test]
async fn a_new_notification_is_stored_and_forwarded_once() {
    let local = Local::new().await;
    let (status, body) = send(&local, INVOICES, form_post(PAID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stored");
    let dedup_key = body["dedup_key"].as_str().expect("dedup_key").to_owned();

    let events = local.events().await;
    assert_eq!(events.len(), 1);
    let item = &events[0];
    assert_eq!(text(item, "pk"), "invoice#84F982E1A10F4FF1B483B829F4762C2C");
    assert_eq!(text(item, "sk"), webhook_aws::table::event_sk(1));
    assert_eq!(body["sequence"], 1);
    assert_eq!(text(item, "provider"), "iugu");
    assert_eq!(text(item, "event"), "invoice.status_changed");
    assert_eq!(text(item, "entity_id"), "84F982E1A10F4FF1B483B829F4762C2C");
    assert_eq!(text(item, "account_id"), "E6495D15290D47D3950C2A723D07A24E");
    assert_eq!(text(item, "dedup_key"), dedup_key);
    assert_eq!(text(item, "raw_body"), PAID);
    assert!(text(item, "received_at").ends_with('Z'));
    let head = local.head("invoice#84F982E1A10F4FF1B483B829F4762C2C").await;
    assert_eq!(
        (head.last_sequence, head.forwarded_sequence),
        (1, 1),
        "marked forwarded"
    );
    assert!(head.unacked.is_empty(), "answered 200");
    // The body is stored once, as sent (`raw_body`), not again as `data`; the stored
    // notification rebuilds the envelope's data from it.
    assert!(!item.contains_key("data") && !item.contains_key("extra"));
    let rebuilt = webhook_aws::table::stored_notification(item)
        .expect("a stored notification")
        .envelope(&webhook_gateways::ALL)
        .expect("rebuilt");
    assert_eq!(
        rebuilt.data.get("paid_cents").and_then(|n| n.as_text()),
        Some("1000")
    );

    let messages = local.drain().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let envelope: Envelope = serde_json::from_str(m.body().expect("body")).expect("an envelope");
    assert_eq!(envelope.dedup_key, dedup_key);
    assert_eq!(
        envelope.entity_key,
        "invoice#84F982E1A10F4FF1B483B829F4762C2C"
    );
    let attrs = m.message_attributes().expect("attributes");
    assert_eq!(attrs["provider"].string_value(), Some("iugu"));
    assert_eq!(
        attrs["event"].string_value(),
        Some("invoice.status_changed")
    );
    let system = m.attributes().expect("system attributes");
    let group = system
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
        .map(String::as_str);
    assert_eq!(group, Some("invoice#84F982E1A10F4FF1B483B829F4762C2C"));
    let dedup_id = system
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId)
        .map(String::as_str);
    assert_eq!(dedup_id, Some(format!("{dedup_key}-1").as_str()));
    assert_eq!(envelope.sequence, Some(1));
    assert_eq!(envelope.repeat_of, None);
    assert_eq!(attrs["sequence"].string_value(), Some("1"));
}

#[tokio::test]
async fn the_same_notification_again_is_a_duplicate_with_nothing_new() {
    let local = Local::new().await;
    let (_, first) = send(&local, INVOICES, form_post(PAID)).await;
    let items_before = local.items().await;
    assert_eq!(local.drain().await.len(), 1);

    // The same body; with a retry counter; with its fields in another order; `+` for `%20`.
    let reordered = {
        let mut parts: Vec<&str> = PAID.split('&').collect();
        parts.reverse();
        parts.join("&")
    };
    for body in [PAID.to_owned(), format!("{PAID}&retry_count=3"), reordered] {
        let (status, again) = send(&local, INVOICES, form_post(&body)).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["status"], "duplicate", "{body}");
        assert_eq!(again["dedup_key"], first["dedup_key"]);
    }
    assert_eq!(local.items().await, items_before, "no new or changed item");
    assert!(local.drain().await.is_empty(), "no new message");
    assert_eq!(
        local.sends().len(),
        1,
        "and none sent (not one the queue dropped)"
    );
}

#[tokio::test]
async fn a_real_change_is_the_second_item_under_the_same_pk_in_sequence_order() {
    let local = Local::new().await;
    let pending = PAID.replace("paid&", "pending&");
    let (_, first) = send(&local, INVOICES, form_post(&pending)).await;
    let (status, second) = send(&local, INVOICES, form_post(PAID)).await;
    assert_eq!(status, 200);
    assert_eq!(second["status"], "stored");
    assert_ne!(first["dedup_key"], second["dedup_key"]);
    assert_eq!(
        (first["sequence"].as_u64(), second["sequence"].as_u64()),
        (Some(1), Some(2))
    );

    // A Query on the pk returns the head, then the notifications in sequence order.
    let out = local
        .dynamo
        .query()
        .table_name(&local.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "invoice#84F982E1A10F4FF1B483B829F4762C2C".into(),
            ),
        )
        .send()
        .await
        .expect("query");
    let kinds: Vec<String> = out.items().iter().map(|i| text(i, "kind")).collect();
    assert_eq!(kinds, ["head", "event", "event"]);
    let statuses: Vec<String> = out.items()[1..].iter().map(|i| text(i, "status")).collect();
    assert_eq!(statuses, ["pending", "paid"]);

    let messages = local.drain().await;
    let events: Vec<Envelope> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("envelope"))
        .collect();
    let order: Vec<_> = events
        .iter()
        .map(|e| e.status.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        ["pending", "paid"],
        "FIFO order within the invoice's group"
    );
}

#[tokio::test]
async fn a_failed_forward_answers_503_and_the_retry_forwards_it_once() {
    let local = Local::new().await;
    let missing_queue = local.missing_queue_url();
    let broken = local.app_with(INVOICES, Token::new(Some(TOKEN)), &missing_queue);
    let (status, body) = answer(&broken.handle(form_post(PAID)).await);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "forward_failed");
    let events = local.events().await;
    assert_eq!(events.len(), 1, "stored before the forward failed");
    let pk = "invoice#84F982E1A10F4FF1B483B829F4762C2C";
    assert_eq!(
        local.head(pk).await.forwarded_sequence,
        0,
        "not marked forwarded"
    );

    let (status, body) = send(&local, INVOICES, form_post(PAID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(local.events().await.len(), 1, "no second item");
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1, "forwarded by the retry");
    let envelope: Envelope =
        serde_json::from_str(messages[0].body().unwrap_or_default()).expect("envelope");
    assert_eq!(
        envelope.received_at.unix_timestamp_nanos() / 1000,
        time::OffsetDateTime::parse(
            &text(&events[0], "received_at"),
            &time::format_description::well_known::Rfc3339
        )
        .expect("received_at")
        .unix_timestamp_nanos()
            / 1000,
        "the envelope forwarded is the stored one, with the first arrival time"
    );
    assert_eq!(local.head(pk).await.forwarded_sequence, 1);

    let (_, body) = send(&local, INVOICES, form_post(PAID)).await;
    assert_eq!(body["status"], "duplicate");
    assert!(
        local.drain().await.is_empty(),
        "already forwarded: not again"
    );
    assert_eq!(
        local.sends().len(),
        1,
        "not sent again (the local queue would have dropped it; SQS, minutes later, not)"
    );
}

#[tokio::test]
async fn refused_requests_change_nothing() {
    let local = Local::new().await;
    let deep = format!("event=invoice.due&data[id]=A1&data{}=v", "[a]".repeat(10));
    let big = format!("{PAID}&data[pad]={}", "x".repeat(20_000));
    let cases: Vec<(Iugu, Request, u16, &str)> = vec![
        (
            INVOICES,
            post(PAID, "application/x-www-form-urlencoded", None),
            401,
            "unauthorized",
        ),
        (
            INVOICES,
            post(
                PAID,
                "application/x-www-form-urlencoded",
                Some("wrong-token"),
            ),
            401,
            "unauthorized",
        ),
        (
            INVOICES,
            post(PAID, "application/json", Some(TOKEN)),
            415,
            "unsupported_media_type",
        ),
        (INVOICES, form_post(""), 400, "empty_body"),
        (
            INVOICES,
            form_post("event=invoice.due&data[id=A1"),
            400,
            "malformed_key",
        ),
        (INVOICES, form_post(&deep), 400, "too_deep"),
        (INVOICES, form_post(&big), 413, "body_too_large"),
        (INVOICES, form_post("data[id]=A1"), 422, "missing_event"),
        (
            INVOICES,
            form_post("event=invoice.due&data[status]=x"),
            422,
            "missing_entity_id",
        ),
        (
            Iugu::family(Family::Subscriptions),
            form_post(PAID),
            422,
            "wrong_route",
        ),
    ];
    let mut kept = 0;
    for (route, request, want_status, want_error) in cases {
        let (status, body) = send(&local, route, request).await;
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"], want_error, "{body}");
        assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{body}");
        // With the token, a 400, 413 or 422 is kept in the quarantine (nothing else is).
        if matches!(status, 400 | 413 | 422) {
            kept += 1;
        }
    }
    assert!(
        local.items_but_quarantine().await.is_empty(),
        "nothing stored"
    );
    assert_eq!(local.quarantined_deliveries().await, kept);
    assert!(local.drain().await.is_empty(), "nothing forwarded");
}

#[tokio::test]
async fn wrong_route_names_the_right_one() {
    let local = Local::new().await;
    let (status, body) = send(&local, Iugu::family(Family::Subscriptions), form_post(PAID)).await;
    assert_eq!(status, 422);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("/iugu/invoices"), "{message}");
}

#[tokio::test]
async fn without_a_configured_token_everything_is_refused() {
    let local = Local::new().await;
    let app = local.app_with(INVOICES, Token::new(None), &local.queue_url);
    let (status, body) = answer(&app.handle(form_post(PAID)).await);
    assert_eq!(status, 401);
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("no webhook token configured"));
    assert!(local.items().await.is_empty());
}

#[tokio::test]
async fn only_post_is_accepted() {
    let local = Local::new().await;
    for method in ["GET", "PUT", "DELETE"] {
        let json = std::fs::read_to_string(
            pipeline_tests::workspace().join("events/iugu/invoice.status_changed.json"),
        )
        .expect("event file")
        .replace("\"POST\"", &format!("\"{method}\""));
        let request = lambda_http::request::from_str(&json).expect("event");
        let (status, body) = send(&local, INVOICES, request).await;
        assert_eq!(status, 405, "{method}: {body}");
        assert_eq!(body["error"], "method_not_allowed");
    }
    assert!(local.items().await.is_empty());
}

#[tokio::test]
async fn all_events_takes_unknown_events_and_keeps_them() {
    let local = Local::new().await;
    let body = "event=charge.created&data%5Bid%5D=C9&data%5Bvalue%5D=10";
    let (status, answer_) = send(&local, Iugu::ALL_EVENTS, form_post(body)).await;
    assert_eq!(status, 200, "{answer_}");
    let events = local.events().await;
    assert_eq!(text(&events[0], "pk"), "charge#C9");
    assert_eq!(local.drain().await.len(), 1);
    // A family function refuses it, and says where it goes.
    let (status, refused) = send(&local, INVOICES, form_post(body)).await;
    assert_eq!(status, 422);
    assert_eq!(
        refused["message"],
        "event `charge.created` belongs to no known family: send it to /iugu/events"
    );
}

/// Which function serves an event file: by the route in its path.
fn route_of(path: &str) -> Iugu {
    let family = Family::ALL
        .into_iter()
        .find(|f| webhook_iugu::route_path(*f) == path)
        .unwrap_or_else(|| panic!("no function serves {path}"));
    match family {
        Family::Other => Iugu::ALL_EVENTS,
        f => Iugu::family(f),
    }
}

/// Every sample in `events/iugu/` through the real handler, as `sam local invoke` would send it:
/// stored once, forwarded once, and a duplicate the second time.
#[tokio::test]
async fn every_event_file_is_stored_once_and_forwarded_once() {
    let dir = pipeline_tests::workspace().join("events/iugu");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("events/iugu")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 33,
        "one event file per documented event: {files:?}"
    );
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let local = Local::new().await;
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let route = route_of(json["path"].as_str().expect("path"));
        let raw = json["body"].as_str().expect("body");
        let expected = webhook_iugu::parse(raw.as_bytes(), time::OffsetDateTime::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let (status, body) = send(&local, route, event_file(&format!("iugu/{name}"))).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["status"], "stored", "{name}");
        let events = local.events().await;
        assert_eq!(events.len(), 1, "{name}");
        assert_eq!(text(&events[0], "pk"), expected.entity_key, "{name}");
        assert_eq!(text(&events[0], "event"), expected.event.as_str(), "{name}");
        assert_eq!(text(&events[0], "raw_body"), raw, "{name}");
        let messages = local.drain().await;
        assert_eq!(messages.len(), 1, "{name}");
        let envelope: Envelope =
            serde_json::from_str(messages[0].body().unwrap_or_default()).expect("envelope");
        assert_eq!(envelope.dedup_key, expected.dedup_key, "{name}");
        assert_eq!(envelope.data, expected.data, "{name}");

        let (status, body) = send(&local, route, event_file(&format!("iugu/{name}"))).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{name}"
        );
        assert_eq!(local.events().await.len(), 1, "{name}");
        assert!(local.drain().await.is_empty(), "{name}");
    }
}

/// The same sample as REST v1 with a base64 body, and as HTTP API (payload v2).
#[tokio::test]
async fn base64_bodies_and_http_api_events_are_the_same_notification() {
    let local = Local::new().await;
    let (status, plain) = send(
        &local,
        INVOICES,
        event_file("iugu/invoice.status_changed.json"),
    )
    .await;
    assert_eq!(status, 200, "{plain}");
    for file in [
        "iugu/base64/invoice.status_changed.json",
        "iugu/http-api-v2/invoice.status_changed.json",
    ] {
        let (status, body) = send(&local, INVOICES, event_file(file)).await;
        assert_eq!(status, 200, "{file}: {body}");
        assert_eq!(body["status"], "duplicate", "{file}");
        assert_eq!(body["dedup_key"], plain["dedup_key"], "{file}");
    }
    assert_eq!(local.events().await.len(), 1);
    assert_eq!(local.drain().await.len(), 1);
}

/// The bad samples shipped in `events/iugu/bad/` get the answers `events/README.md` documents.
#[tokio::test]
async fn bad_event_files_are_refused_and_change_nothing() {
    let local = Local::new().await;
    for (file, route, want) in [
        ("wrong-token.json", INVOICES, 401),
        ("no-token.json", INVOICES, 401),
        (
            "broken-body.json",
            Iugu::family(Family::PaymentMethods),
            400,
        ),
        (
            "wrong-family.json",
            Iugu::family(Family::Subscriptions),
            422,
        ),
        ("empty-body.json", INVOICES, 400),
        ("not-form.json", INVOICES, 415),
    ] {
        let (status, body) = send(&local, route, event_file(&format!("iugu/bad/{file}"))).await;
        assert_eq!(status, want, "{file}: {body}");
        assert!(body["error"].is_string(), "{file}: {body}");
    }
    assert!(local.items_but_quarantine().await.is_empty());
    // broken-body, wrong-family and empty-body carry the token: kept.
    assert_eq!(local.quarantined_deliveries().await, 3);
    assert!(local.drain().await.is_empty());
}

/// With `ALLOWED_SOURCE_IPS` set, only the listed sources pass, judged by the address API
/// Gateway saw (the request context), never by a header the client writes.
#[tokio::test]
async fn the_source_allow_list_refuses_other_addresses_and_ignores_forwarded_headers() {
    let local = Local::new().await;
    let mut app = local.app(INVOICES);
    app.allowed_sources = "98.82.243.132".parse().expect("valid list");
    // The events come from 54.207.210.151 (REST v1 and HTTP API v2 alike).
    for file in [
        "iugu/invoice.status_changed.json",
        "iugu/http-api-v2/invoice.status_changed.json",
    ] {
        let (status, body) = answer(&app.handle(event_file(file)).await);
        assert_eq!(status, 403, "{file}: {body}");
        assert_eq!(body["error"], "forbidden");
    }
    let mut spoofed = form_post(PAID);
    spoofed.headers_mut().insert(
        "x-forwarded-for",
        lambda_http::http::HeaderValue::from_static("98.82.243.132"),
    );
    assert_eq!(answer(&app.handle(spoofed).await).0, 403);
    assert!(local.items().await.is_empty(), "nothing stored");
    assert!(local.drain().await.is_empty(), "nothing forwarded");

    app.allowed_sources = "98.82.243.132, 54.207.210.0/24"
        .parse()
        .expect("valid list");
    for file in [
        "iugu/invoice.status_changed.json",
        "iugu/http-api-v2/invoice.status_changed.json",
    ] {
        let (status, body) = answer(&app.handle(event_file(file)).await);
        assert_eq!(status, 200, "{file}: {body}");
    }
    assert_eq!(local.events().await.len(), 1);
}
