//! Connections warmed during init (`webhook_aws::warm`, its budget and log line in
//! `webhook_lambda::warm`): a function opens its DynamoDB and SQS connections before it asks
//! for its first event, the first request uses them, and an endpoint that never answers
//! neither stops nor stalls the start beyond the budget.
//!
//! DynamoDB and SQS are each reached through a proxy of their own
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`): one that keeps connections open, as
//! AWS does, and counts them (`keep_alive`), or one that refuses or hangs (`proxy`); the secret
//! is read from the local server directly.
//! No test here measures speed (bench/README.md does): they count connections and outcomes.

use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipeline_tests::keep_alive::KeepAliveProxy;
use pipeline_tests::proxy::{Fault, FaultyProxy};
use pipeline_tests::runtime_api::RuntimeApi;
use pipeline_tests::{moto, production_sdk_config, secrets, workspace, Local, TOKEN};
use webhook_aws::warm::{self, Outcome};

use crate::function::{command, drain};

/// Bound on any wait for the process (a debug build starting, moto answering).
const LIMIT: Duration = Duration::from_secs(60);

struct Function {
    child: Child,
    output: [JoinHandle<String>; 2],
}

impl Function {
    /// Stops it (as Lambda ends an instance) and returns what it printed.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let [stdout, stderr] = self.output;
        format!(
            "{}{}",
            stdout.join().expect("stdout"),
            stderr.join().expect("stderr")
        )
    }
}

/// The `invoices` function as Lambda runs it, DynamoDB and SQS behind the two proxies.
fn start(
    api: &RuntimeApi,
    local: &Local,
    secret: &str,
    (dynamodb, sqs): (&str, &str),
    warm_up_ms: &str,
) -> Function {
    let mut child = command("invoices", api, &[])
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
        .env("AWS_ENDPOINT_URL_SQS", sqs)
        .env("EVENTS_TABLE", &local.table)
        .env("EVENTS_QUEUE_URL", &local.queue_url)
        .env("IUGU_SECRET_ID", secret)
        .env("ALLOWED_SOURCE_IPS", "54.207.210.151/32")
        .env("WARM_UP_MS", warm_up_ms)
        .spawn()
        .expect("start the function");
    let output = [
        drain(child.stdout.take().expect("stdout")),
        drain(child.stderr.take().expect("stderr")),
    ];
    Function { child, output }
}

/// `events/iugu/invoice.status_changed.json` (the events' token, source 54.207.210.151).
fn event() -> String {
    std::fs::read_to_string(workspace().join("events/iugu/invoice.status_changed.json"))
        .expect("the sample event")
}

/// A table and queue of their own, and a secret with the events' token.
async fn setup() -> (Local, String) {
    let local = Local::new().await;
    let client = secrets::client().await;
    let secret = secrets::create(&client, &secrets::iugu(TOKEN, None)).await;
    (local, secret)
}

/// With the warm-up, init opens one connection to each service and the first request opens
/// none; without it (`WARM_UP_MS=0`), init opens none and the first request opens them.
#[tokio::test(flavor = "multi_thread")]
async fn init_opens_the_connections_the_first_request_uses() {
    for (warm_up_ms, opened_by_init) in [("500", 1), ("0", 0)] {
        let (local, secret) = setup().await;
        let dynamodb = KeepAliveProxy::start(&moto().endpoint);
        let sqs = KeepAliveProxy::start(&moto().endpoint);
        let endpoints = (dynamodb.endpoint(), sqs.endpoint());
        let api = RuntimeApi::start(vec![]);
        let function = start(
            &api,
            &local,
            &secret,
            (&endpoints.0, &endpoints.1),
            warm_up_ms,
        );
        // The first `next` is the end of init (no event is waiting for it yet).
        let asked = api.wait_for_next_calls(1, LIMIT);
        let after_init = (dynamodb.accepted(), sqs.accepted());
        api.push(event());
        let responses = api.wait_for_responses(1, LIMIT);
        let after_request = (dynamodb.accepted(), sqs.accepted());
        let calls = (dynamodb.requests(), sqs.requests());
        let output = function.stop();
        assert_eq!(
            asked, 1,
            "WARM_UP_MS={warm_up_ms}: init never ended:\n{output}"
        );
        assert_eq!(
            responses.len(),
            1,
            "WARM_UP_MS={warm_up_ms}: no answer:\n{output}"
        );
        assert!(
            responses[0].1.contains(r#"\"status\":\"stored\""#),
            "WARM_UP_MS={warm_up_ms}: {}\n{output}",
            responses[0].1
        );
        assert_eq!(
            after_init,
            (opened_by_init, opened_by_init),
            "WARM_UP_MS={warm_up_ms}: connections (DynamoDB, SQS) opened during init:\n{output}"
        );
        assert_eq!(
            after_request,
            (1, 1),
            "WARM_UP_MS={warm_up_ms}: connections (DynamoDB, SQS) after the first request, \
             which made {calls:?} calls:\n{output}"
        );
        // The warm-up's two calls, and the request's own: more than one call per service.
        assert!(calls.0 > 1 + opened_by_init && calls.1 >= 1, "{calls:?}");
        let said: &[&str] = if warm_up_ms == "0" {
            &[r#""dynamodb":"off""#, r#""sqs":"off""#]
        } else {
            &[
                r#""connections warmed""#,
                r#""dynamodb":"open in "#,
                r#""sqs":"open in "#,
            ]
        };
        for words in said {
            assert!(
                output.contains(words),
                "WARM_UP_MS={warm_up_ms}: expected `{words}` in:\n{output}"
            );
        }
        assert!(!output.contains(TOKEN), "the token is in the output");
    }
}

/// DynamoDB and SQS accept connections and never answer: the warm-up gives up when its budget
/// runs out (not when the SDK's own timeouts would have ended it: 1.5 s an attempt), init
/// completes, and when they answer again the first request is stored and forwarded once.
#[tokio::test(flavor = "multi_thread")]
async fn endpoints_that_never_answer_neither_fail_nor_stall_init() {
    let (local, secret) = setup().await;
    let dynamodb = FaultyProxy::start(&moto().endpoint).await;
    let sqs = FaultyProxy::start(&moto().endpoint).await;
    dynamodb.set(Fault::Hang);
    sqs.set(Fault::Hang);

    // In process: both outcomes are "cut by the budget", within a generous bound.
    let config = production_sdk_config(&moto().endpoint).await;
    let hung_dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(dynamodb.endpoint())
            .build(),
    );
    let hung_sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .endpoint_url(sqs.endpoint())
            .build(),
    );
    let budget = Duration::from_millis(200);
    let started = Instant::now();
    let warm_up = warm::connections(
        &hung_dynamodb,
        &local.table,
        &hung_sqs,
        &local.queue_url,
        budget,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(warm_up.dynamodb, Outcome::Cut);
    assert_eq!(warm_up.sqs, Outcome::Cut);
    assert!(took < Duration::from_secs(10), "the warm-up took {took:?}");

    // As a process: init ends (the function asks for an event) and says what happened.
    let api = RuntimeApi::start(vec![]);
    let endpoints = (dynamodb.endpoint(), sqs.endpoint());
    let function = start(&api, &local, &secret, (&endpoints.0, &endpoints.1), "200");
    let asked = api.wait_for_next_calls(1, LIMIT);
    // The endpoints come back: the first request is served on connections of its own (the cut
    // warm-up left nothing behind that it could trip on).
    dynamodb.set(Fault::None);
    sqs.set(Fault::None);
    api.push(event());
    let responses = api.wait_for_responses(1, LIMIT);
    let output = function.stop();
    assert_eq!(asked, 1, "init never ended:\n{output}");
    assert_eq!(responses.len(), 1, "no answer:\n{output}");
    assert!(
        responses[0].1.contains(r#"\"status\":\"stored\""#),
        "{}\n{output}",
        responses[0].1
    );
    assert_eq!(local.drain().await.len(), 1, "one message forwarded");
    assert!(
        output.contains("connections not all warmed")
            && output.contains(r#""dynamodb":"not open: the budget ran out""#)
            && output.contains(r#""sqs":"not open: the budget ran out""#),
        "{output}"
    );
}

/// A connection accepted and closed at once is a failed warm-up, not a failed init.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_a_log_line_not_an_init_error() {
    let (local, secret) = setup().await;
    let dynamodb = FaultyProxy::start(&moto().endpoint).await;
    dynamodb.set(Fault::Refuse);
    let sqs = KeepAliveProxy::start(&moto().endpoint);
    let endpoints = (dynamodb.endpoint(), sqs.endpoint());
    let api = RuntimeApi::start(vec![]);
    let function = start(&api, &local, &secret, (&endpoints.0, &endpoints.1), "500");
    let asked = api.wait_for_next_calls(1, LIMIT);
    let output = function.stop();
    assert_eq!(asked, 1, "init never ended:\n{output}");
    assert!(api.errors().is_empty(), "init error: {:?}", api.errors());
    assert!(
        output.contains("connections not all warmed")
            && output.contains(r#""dynamodb":"not open after "#)
            && output.contains(r#""sqs":"open in "#),
        "{output}"
    );
}
