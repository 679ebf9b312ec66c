//! `recover smoke` against the local server: the stack's API is the functions' real handler
//! behind a small HTTP server on loopback (as API Gateway hands requests to it: HTTP API,
//! payload 2.0), its table and queue the local server's. One notification posted, read back
//! from the table and the queue; the consumers' messages left alone.

use std::sync::Arc;

use base64::Engine;
use pipeline_tests::{answer, form_post, through_runtime, Local, TOKEN};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use webhook_iugu::{Family, Iugu};

use crate::stand_ins::{recover, stack_with, text};

/// Serves `local`'s `/iugu/events` function (the real handler, with the events' token) over
/// HTTP on loopback, until the test ends; returns its base URL.
async fn serve(local: &Local) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = Arc::new(local.app(Iugu::ALL_EVENTS));
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                let mut line = String::new();
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                );
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let mut headers = serde_json::Map::new();
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).await.is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(':') {
                        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                        if name == "content-length" {
                            length = value.parse().unwrap_or_default();
                        }
                        headers.insert(name, json!(value));
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let event = json!({
                    "version": "2.0",
                    "routeKey": format!("{method} {path}"),
                    "rawPath": path,
                    "rawQueryString": query,
                    "headers": headers,
                    "requestContext": {
                        "accountId": "123456789012", "apiId": "local", "domainName": "local",
                        "domainPrefix": "local", "requestId": "smoke", "routeKey": format!("{method} {path}"),
                        "stage": "$default", "time": "01/Dec/2026:10:00:00 +0000", "timeEpoch": 0,
                        "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                 "sourceIp": peer.ip().to_string(), "userAgent": "recover"}
                    },
                    "body": base64::engine::general_purpose::STANDARD.encode(&body),
                    "isBase64Encoded": true
                });
                let response = app.handle(through_runtime(&event.to_string())).await;
                let (status, json) = answer(&response);
                let text = json.to_string();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    text.len()
                );
                let _ = write.write_all(head.as_bytes()).await;
                let _ = write.write_all(text.as_bytes()).await;
            });
        }
    });
    base
}

fn stack_env(name: &str) -> Vec<(&'static str, String)> {
    vec![("STACK_NAME", name.to_owned())]
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_posts_one_notification_and_reads_it_back() {
    let local = Local::new().await;
    let api = serve(&local).await;
    let name = stack_with(&api, &local.table, &local.queue_url, TOKEN).await;

    let out = recover(&["smoke"], &stack_env(&name)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    for needle in [
        "post       ok",
        "table      ok",
        "forwarded  ok",
        "queue      ok",
        "left for the consumers",
        "the stack stored and forwarded the notification",
    ] {
        assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
    }
    assert!(!stdout.contains(TOKEN), "{stdout}");
    // Stored once, and in the queue for the consumers, who skip event smoke.test.
    let events = local.events().await;
    assert_eq!(events.len(), 1);
    assert!(pipeline_tests::text(&events[0], "pk").starts_with("smoke#smoke-"));
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1);
    let body: serde_json::Value =
        serde_json::from_str(messages[0].body().unwrap_or_default()).expect("an envelope");
    assert_eq!(body["event"], "smoke.test");
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_takes_only_its_own_message_off_an_empty_queue() {
    let local = Local::new().await;
    let api = serve(&local).await;
    let name = stack_with(&api, &local.table, &local.queue_url, TOKEN).await;

    let out = recover(&["smoke", "--receive"], &stack_env(&name)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    assert!(
        stdout.contains("received and deleted: smoke.test"),
        "{stdout}"
    );
    assert!(local.drain().await.is_empty(), "the smoke message was left");

    // A queue with a consumer's message: --receive refuses, before posting anything.
    let (status, json) = answer(
        &local
            .app(Iugu::family(Family::Invoices))
            .handle(form_post(
                "event=invoice.status_changed&data%5Bid%5D=REAL1&data%5Bstatus%5D=paid",
            ))
            .await,
    );
    assert_eq!(status, 200, "{json}");
    let refused = recover(&["smoke", "--receive"], &stack_env(&name)).await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Run without --receive"), "{stderr}");
    let left = local.drain().await;
    assert_eq!(left.len(), 1, "the consumer's message is still there");
    assert!(left[0].body().unwrap_or_default().contains("REAL1"));
    assert_eq!(
        local.events().await.len(),
        2,
        "one smoke notification, one real"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_that_refuses_the_token_fails_the_smoke_test() {
    let local = Local::new().await;
    let api = serve(&local).await;
    // The secret's token is not the one the function was started with.
    let name = stack_with(
        &api,
        &local.table,
        &local.queue_url,
        "another-token-0123456789",
    )
    .await;
    let out = recover(&["smoke"], &stack_env(&name)).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED") && stdout.contains(": 401 "),
        "{stdout}"
    );
    assert!(local.events().await.is_empty());
}
