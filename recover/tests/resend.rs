//! `resend` against a local fake of iugu's endpoints (wiremock on a free loopback port): the
//! windows, the auth header, the retries and what stops them.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::time::Duration;

use recover::error::RecoverError;
use recover::iugu_api::{HttpIugu, RetryPolicy};
use recover::report::Progress;
use recover::resend::{resend_invoice, resend_windows, DeliveryAction, Which};
use recover::windows::{split, Window};
use time::macros::date;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "test-token-123";
/// `Basic ` + base64("test-token-123:"): the token as user, an empty password.
const AUTHORIZATION: &str = "Basic dGVzdC10b2tlbi0xMjM6";

/// Retries without waiting: the schedule itself is unit-tested in `iugu_api`.
const NO_WAIT: RetryPolicy = RetryPolicy {
    attempts: 3,
    base: Duration::ZERO,
    max: Duration::ZERO,
};

fn api(server: &MockServer) -> HttpIugu {
    HttpIugu::new(&format!("{}/v1", server.uri()), TOKEN, NO_WAIT).expect("client")
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn one_window() -> Vec<Window> {
    vec![Window {
        from: date!(2026 - 11 - 20),
        to: date!(2026 - 11 - 20),
    }]
}

#[tokio::test]
async fn a_period_is_resent_one_call_per_window_of_at_most_three_days() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/web_hooks/resend"))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "message": "Os gatilhos do período foram enviados para procesasamento, aguarde alguns instantes"
        })))
        .expect(7)
        .mount(&server)
        .await;

    let period = Window {
        from: date!(2026 - 11 - 01),
        to: date!(2026 - 11 - 20),
    };
    let windows = split(period, 3).expect("valid");
    let outcomes = resend_windows(
        &api(&server),
        &windows,
        Some("invoice.status_changed"),
        &mut Progress::hidden(),
    )
    .await
    .expect("all accepted");
    assert!(outcomes.iter().all(|o| o.result == Ok(1)), "{outcomes:?}");

    let requests = server.received_requests().await.expect("recorded");
    let asked: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.url.path(), "/v1/web_hooks/resend");
            assert_eq!(
                r.headers.get("authorization").and_then(|v| v.to_str().ok()),
                Some(AUTHORIZATION)
            );
            assert!(
                !r.url.as_str().contains(TOKEN),
                "the token is never in a URL"
            );
            (
                query(r, "initial_date").expect("initial_date"),
                query(r, "final_date").expect("final_date"),
                query(r, "event").expect("event"),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("2026-11-01", "2026-11-03"),
        ("2026-11-04", "2026-11-06"),
        ("2026-11-07", "2026-11-09"),
        ("2026-11-10", "2026-11-12"),
        ("2026-11-13", "2026-11-15"),
        ("2026-11-16", "2026-11-18"),
        ("2026-11-19", "2026-11-20"),
    ]
    .iter()
    .map(|(a, b)| {
        (
            a.to_string(),
            b.to_string(),
            "invoice.status_changed".to_owned(),
        )
    })
    .collect();
    assert_eq!(asked, expected);
}

#[tokio::test]
async fn without_event_no_event_parameter_is_sent() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    resend_windows(&api(&server), &one_window(), None, &mut Progress::hidden())
        .await
        .expect("accepted");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(query(&requests[0], "event"), None);
    assert_eq!(
        query(&requests[0], "initial_date").as_deref(),
        Some("2026-11-20")
    );
}

#[tokio::test]
async fn a_429_and_a_503_are_retried_then_the_window_is_accepted() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&server)
        .await;

    let outcomes = resend_windows(&api(&server), &one_window(), None, &mut Progress::hidden())
        .await
        .expect("no fatal error");
    assert_eq!(outcomes[0].result, Ok(3), "accepted on the third attempt");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3);
    // Every attempt is the same request, with the token.
    for r in &requests {
        assert_eq!(r.url.query(), requests[0].url.query());
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some(AUTHORIZATION)
        );
    }
}

#[tokio::test]
async fn retries_are_bounded_and_the_next_window_is_still_tried() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .and(query_param("initial_date", "2026-11-01"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(path("/v1/web_hooks/resend"))
        .and(query_param("initial_date", "2026-11-04"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let windows = split(
        Window {
            from: date!(2026 - 11 - 01),
            to: date!(2026 - 11 - 06),
        },
        3,
    )
    .expect("valid");

    let outcomes = resend_windows(&api(&server), &windows, None, &mut Progress::hidden())
        .await
        .expect("no fatal error");
    let failure = outcomes[0].result.clone().expect_err("first window failed");
    assert!(failure.contains("after 3 attempts"), "{failure}");
    assert!(failure.contains("HTTP 500"), "{failure}");
    assert_eq!(outcomes[1].result, Ok(1));
    assert_eq!(server.received_requests().await.expect("recorded").len(), 4);
}

#[tokio::test]
async fn a_refused_token_stops_the_run_at_once_with_a_clear_error() {
    for status in [401u16, 403] {
        let server = MockServer::start().await;
        Mock::given(path("/v1/web_hooks/resend"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(serde_json::json!({"errors": "Unauthorized"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let windows = split(
            Window {
                from: date!(2026 - 11 - 01),
                to: date!(2026 - 11 - 09),
            },
            3,
        )
        .expect("valid");
        let err = resend_windows(&api(&server), &windows, None, &mut Progress::hidden())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, RecoverError::Unauthorized { status: s, .. } if s == status),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("IUGU_API_TOKEN"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        // Not retried, and no further window tried.
        assert_eq!(server.received_requests().await.expect("recorded").len(), 1);
    }
}

#[tokio::test]
async fn another_4xx_is_not_retried_and_says_what_iugu_said() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"errors": "O maior intervalo permitido é de 3 dias"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let outcomes = resend_windows(&api(&server), &one_window(), None, &mut Progress::hidden())
        .await
        .expect("not fatal");
    let failure = outcomes[0].result.clone().expect_err("rejected");
    assert!(failure.contains("400"), "{failure}");
    assert!(failure.contains("O maior intervalo permitido"), "{failure}");
}

#[tokio::test]
async fn an_invoice_s_undelivered_notifications_are_retried_and_only_those() {
    let server = MockServer::start().await;
    let invoice = "84F982E1A10F4FF1B483B829F4762C2C";
    // The shape of iugu's documented answer: `error` holds the HTTP status our URL answered.
    Mock::given(method("GET"))
        .and(path(format!("/v1/web_hook_logs/{invoice}")))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"id": "log-ok", "web_hook_id": "W1", "status": "success", "error": "200",
             "data": {"event": "invoice.created", "data[id]": invoice, "data[status]": "pending"},
             "loggable_id": invoice, "loggable_type": "Invoice"},
            {"id": "log-503", "web_hook_id": "W1", "status": "failed", "error": "503",
             "data": {"event": "invoice.status_changed", "data[id]": invoice, "data[status]": "paid"},
             "loggable_id": invoice, "loggable_type": "Invoice"},
            {"id": "log-none", "web_hook_id": "W1", "status": "failed", "error": null,
             "data": {"event": "invoice.status_changed"},
             "loggable_id": invoice, "loggable_type": "Invoice"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/web_hook_logs/log-503/retry"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{ \"Hook reenviado!\" }"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/web_hook_logs/log-none/retry"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/web_hook_logs/log-none/retry"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{ \"Hook reenviado!\" }"))
        .with_priority(2)
        .mount(&server)
        .await;

    let outcomes = resend_invoice(
        &api(&server),
        invoice,
        Which::Undelivered,
        None,
        &mut Progress::hidden(),
    )
    .await
    .expect("done");
    let actions: Vec<(&str, &DeliveryAction)> = outcomes
        .iter()
        .map(|o| (o.log.id.as_str(), &o.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("log-ok", &DeliveryAction::Skipped),
            ("log-503", &DeliveryAction::Retried { attempts: 1 }),
            ("log-none", &DeliveryAction::Retried { attempts: 2 }),
        ]
    );
    let paths: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(!paths.contains(&"/v1/web_hook_logs/log-ok/retry".to_owned()));
    assert_eq!(paths.len(), 4, "{paths:?}");
}
