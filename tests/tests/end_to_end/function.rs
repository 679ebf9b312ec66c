//! A function run as Lambda runs it: a process (`src/bin/function.rs`, i.e.
//! `webhook_lambda::runtime::serve`) reading its secret from Secrets Manager (moto) and its events from
//! a stand-in Runtime API (`pipeline_tests::runtime_api`).
//!
//! - Without a usable secret it stops at start-up, before asking for a single event: the init
//!   error Lambda reports, with a message that says what is wrong and never a secret's value.
//! - At `RUST_LOG=trace` its logs, the Lambda runtime's and the AWS SDK's included, carry no
//!   token, no `Authorization` header, no signing key and no personal data from the bodies.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use pipeline_tests::runtime_api::RuntimeApi;
use pipeline_tests::{moto, secrets, workspace, Local, TOKEN};
use serde_json::{json, Value};
use webhook_ipag::SignatureKey;

/// Bound on any wait for the process (a debug build starting, moto answering).
const LIMIT: Duration = Duration::from_secs(60);
const SIGNING_KEY: &str = "merchant-ipag-api-key-0123";

/// The process, with the AWS and Lambda variables a function gets, and nothing else from this
/// environment (`warm_up` starts its functions with it too).
pub(crate) fn command(route: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_function"));
    command
        .arg(route)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Everything a pipe carries until it closes, read on a thread of its own.
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// Runs a function that must stop by itself; its exit success and its output.
fn run_to_exit(mut command: Command) -> (bool, String) {
    let mut child = command.spawn().expect("start the function");
    let pid = child.id();
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let (done, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match exited.recv_timeout(LIMIT) {
        Ok(status) => status.expect("wait for the function"),
        Err(_) => {
            // Ours, by its id: it did not stop, which is the failure being reported.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the function did not stop within {LIMIT:?}");
        }
    };
    let output = format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    );
    (status.success(), output)
}

/// Stops a function that serves until told (as Lambda freezes and ends one) and returns its
/// output.
fn stop(mut child: Child, stdout: JoinHandle<String>, stderr: JoinHandle<String>) -> String {
    let _ = child.kill();
    let _ = child.wait();
    format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_usable_secret_the_function_stops_before_it_asks_for_an_event() {
    let client = secrets::client().await;
    let ipag_secret = secrets::create(&client, &secrets::ipag(TOKEN, None, None)).await;
    let not_json = secrets::create(&client, TOKEN).await;
    let short = secrets::create(&client, &secrets::iugu("short", None)).await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "IUGU_SECRET_ID is not set"),
        (
            &[("IUGU_SECRET_ID", missing)],
            "cannot read the webhook secret",
        ),
        (
            &[("IUGU_SECRET_ID", &ipag_secret)],
            "it is another gateway's secret (its \\\"gateway\\\" is not \\\"iugu\\\") and this function serves iugu",
        ),
        (&[("IUGU_SECRET_ID", &not_json)], "is not a JSON object"),
        (
            &[("IUGU_SECRET_ID", &short)],
            "must be 16 to 256 URL-safe characters",
        ),
    ];
    for (env, expected) in cases {
        let api = RuntimeApi::start(vec![event_v1(BODY, Some(TOKEN), None)]);
        let mut all = vec![
            ("EVENTS_TABLE", "t"),
            ("EVENTS_QUEUE_URL", "q.fifo"),
            ("RUST_LOG", "info"),
        ];
        all.extend_from_slice(env);
        let (succeeded, output) = run_to_exit(command("invoices", &api, &all));
        assert!(!succeeded, "{env:?}: exited 0:\n{output}");
        assert_eq!(api.next_calls(), 0, "{env:?} asked for an event:\n{output}");
        assert!(
            output.contains("cannot start without the webhook secret") && output.contains(expected),
            "{env:?}: expected `{expected}` in:\n{output}"
        );
        assert!(
            !output.contains(TOKEN),
            "{env:?}: the token is in the output:\n{output}"
        );
        // The secret's failure ends the start-up: the warm-up beside it is dropped unfinished
        // and reports nothing (it logs `connections warmed` or `... not all warmed` when it
        // runs to its end, as the start-up used to let it before exiting).
        assert!(
            !output.contains("warmed"),
            "{env:?}: the warm-up ran to its end:\n{output}"
        );
    }
    // The missing secret's error names AWS's reason.
    let api = RuntimeApi::start(vec![]);
    let (_, output) = run_to_exit(command(
        "invoices",
        &api,
        &[
            ("EVENTS_TABLE", "t"),
            ("EVENTS_QUEUE_URL", "q.fifo"),
            ("IUGU_SECRET_ID", missing),
        ],
    ));
    assert!(output.contains("ResourceNotFoundException"), "{output}");
}

/// Order and de-duplication depend on a FIFO queue: on any other the function does not start,
/// and says which variable is wrong. So does a window it cannot read.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_fifo_queue_or_with_a_bad_window_the_function_stops_before_it_asks_for_an_event()
{
    for (env, expected) in [
        (
            [
                ("EVENTS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/events"),
                ("DEDUP_WINDOW", "22h"),
            ],
            "EVENTS_QUEUE_URL `https://sqs.us-east-1.amazonaws.com/123456789012/events` is not a FIFO queue",
        ),
        (
            [("EVENTS_QUEUE_URL", "q.fifo"), ("DEDUP_WINDOW", "22")],
            "DEDUP_WINDOW `22`: write a whole number and a unit",
        ),
    ] {
        let api = RuntimeApi::start(vec![event_v1(BODY, Some(TOKEN), None)]);
        let mut all = vec![("EVENTS_TABLE", "t")];
        all.extend_from_slice(&env);
        let (succeeded, output) = run_to_exit(command("invoices", &api, &all));
        assert!(!succeeded, "{env:?}: exited 0:\n{output}");
        assert_eq!(api.next_calls(), 0, "{env:?} asked for an event:\n{output}");
        assert!(
            output.contains("configuration is incomplete") && output.contains(expected),
            "{env:?}: expected `{expected}` in:\n{output}"
        );
    }
}

/// An iugu notification with every kind of personal data iugu sends (as in `logs.rs`).
const BODY: &str = "event=invoice.status_changed&data%5Bid%5D=TRACE1&data%5Bstatus%5D=paid\
&data%5Bpayer_cpf_cnpj%5D=66535209008&data%5Bpayer_name%5D=Maria+Silva\
&data%5Bcustomer_email%5D=maria%40example.com&data%5Bcnpj%5D=11222333000181\
&data%5Bcredit_card%5D%5Bholder%5D=JOAO+CARDHOLDER\
&data%5Bsender_bank_account%5D=1927794";

const PERSONAL: &[&str] = &[
    "66535209008",
    "11222333000181",
    "Maria Silva",
    "Maria+Silva",
    "maria@example.com",
    "maria%40example.com",
    "JOAO CARDHOLDER",
    "1927794",
    // iPag's fixture (TransactionCaptured.json).
    "79999338801",
    "Fulano da Silva",
    "FULANO DA SILVA",
    "fulano@mail.me",
    "411111******1111",
    "AV CYRO BUENO",
];

/// A REST API (v1) event for `/iugu/invoices`, with the token in the query string and, if
/// given, in `Authorization`.
fn event_v1(body: &str, query_token: Option<&str>, bearer: Option<&str>) -> String {
    let mut headers = json!({ "Content-Type": "application/x-www-form-urlencoded" });
    let mut multi = json!({ "Content-Type": ["application/x-www-form-urlencoded"] });
    if let Some(token) = bearer {
        headers["Authorization"] = json!(format!("Bearer {token}"));
        multi["Authorization"] = json!([format!("Bearer {token}")]);
    }
    json!({
        "resource": "/iugu/invoices",
        "path": "/iugu/invoices",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": query_token.map(|t| json!({ "token": t })),
        "multiValueQueryStringParameters": query_token.map(|t| json!({ "token": [t] })),
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc123", "stage": "Prod",
            "requestId": "test-request", "identity": { "sourceIp": "54.207.210.151" },
            "resourcePath": "/iugu/invoices", "httpMethod": "POST", "apiId": "local",
            "protocol": "HTTP/1.1"
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// An HTTP API (v2) event for `/ipag/events`, with the token in the query string and
/// `Authorization`, and the given headers.
fn event_v2(body: &str, headers: &[(&str, &str)]) -> String {
    let bearer = format!("Bearer {TOKEN}");
    let mut all = vec![("authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    pipeline_tests::ipag_event("POST", body, &all, Some(TOKEN)).to_string()
}

/// The status codes of the function's answers, in request order.
fn statuses(responses: &[(String, String)]) -> Vec<u64> {
    let mut sorted = responses.to_vec();
    sorted.sort_by_key(|(id, _)| id.trim_start_matches("req-").parse::<usize>().unwrap_or(0));
    sorted
        .iter()
        .map(|(_, body)| {
            let response: Value = serde_json::from_str(body).expect("a JSON response");
            response["statusCode"].as_u64().expect("statusCode")
        })
        .collect()
}

/// What must hold of a function's output at `trace`.
fn assert_no_secrets(output: &str, secrets: &[&str]) {
    let lines: Vec<Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    // The level really is `trace`: the AWS SDK's debug lines are there...
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"
            && l["target"].as_str().is_some_and(|t| t.starts_with("aws_"))),
        "no debug line from the AWS SDK: is the level trace?\n{output}"
    );
    // ...and the lines that carry requests are not: the runtime's raw event, the SDK's requests.
    for line in &lines {
        let target = line["target"].as_str().unwrap_or_default();
        let level = line["level"].as_str().unwrap_or_default();
        assert!(
            !(target.starts_with("lambda_") && matches!(level, "DEBUG" | "TRACE")),
            "{line}"
        );
        assert!(level != "TRACE" || target.starts_with("webhook_"), "{line}");
    }
    assert!(!output.contains("raw JSON event"), "{output}");
    for secret in secrets.iter().chain(PERSONAL) {
        assert!(
            !output.contains(secret),
            "`{secret}` appears in the output:\n{output}"
        );
    }
    // No Authorization header: neither the request's (the token) nor the AWS SDK's (a
    // signature, with the session token beside it in Lambda), escaped or not.
    let lower = output.to_ascii_lowercase();
    for header in [
        "authorization\"",
        "authorization\\\"",
        "x-amz-security-token",
        "aws4-hmac-sha256",
    ] {
        assert!(
            !lower.contains(header),
            "`{header}` appears in the output:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_trace_an_iugu_function_logs_no_token_no_authorization_and_no_personal_data() {
    let local = Local::new().await;
    let client = secrets::client().await;
    let old = "previous-token-0123456789";
    let secret = secrets::create(&client, &secrets::iugu(TOKEN, Some(old))).await;
    let api = RuntimeApi::start(vec![
        event_v1(BODY, Some(TOKEN), Some(TOKEN)),
        event_v1(BODY, Some("Maria Silva 66535209008"), None),
        event_v1(&BODY.replace("TRACE1", "TRACE2"), Some(old), None),
        event_v1(BODY, Some(TOKEN), None),
    ]);
    let mut child = command(
        "invoices",
        &api,
        &[
            ("EVENTS_TABLE", &local.table),
            ("EVENTS_QUEUE_URL", &local.queue_url),
            ("IUGU_SECRET_ID", &secret),
            ("RUST_LOG", "trace"),
        ],
    )
    .spawn()
    .expect("start the function");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let responses = api.wait_for_responses(4, LIMIT);
    let output = stop(child, stdout, stderr);
    assert_eq!(statuses(&responses), [200, 401, 200, 200], "{output}");
    assert!(api.errors().is_empty(), "{:?}", api.errors());
    assert_eq!(
        local.events().await.len(),
        2,
        "TRACE1 and TRACE2, once each"
    );
    // The request lines say which token value was used, never the value.
    assert!(output.contains(r#""token":"previous""#), "{output}");
    assert!(output.contains(r#""token":"current""#), "{output}");
    assert_no_secrets(&output, &[TOKEN, old]);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_trace_the_ipag_function_logs_no_token_no_signing_key_and_no_personal_data() {
    let local = Local::new().await;
    let client = secrets::client().await;
    let secret = secrets::create(&client, &secrets::ipag(TOKEN, None, Some(SIGNING_KEY))).await;
    let body = std::fs::read_to_string(
        workspace().join("shared/gateways/tests/fixtures/ipag/TransactionCaptured.json"),
    )
    .expect("fixture");
    let signature = SignatureKey::new(Some(SIGNING_KEY))
        .expect("key")
        .sign(body.as_bytes());
    let json = ("content-type", "application/json");
    let api = RuntimeApi::start(vec![
        event_v2(
            &body,
            &[
                json,
                ("x-ipag-event", "TransactionCaptured"),
                ("x-ipag-signature", &signature),
            ],
        ),
        event_v2(&body, &[json, ("x-ipag-event", "TransactionCaptured")]),
        event_v2(
            &body,
            &[
                json,
                ("x-ipag-event", "TransactionDenied"),
                ("x-ipag-signature", &signature),
            ],
        ),
    ]);
    let mut child = command(
        "ipag",
        &api,
        &[
            ("EVENTS_TABLE", &local.table),
            ("EVENTS_QUEUE_URL", &local.queue_url),
            ("IPAG_SECRET_ID", &secret),
            ("RUST_LOG", "trace"),
        ],
    )
    .spawn()
    .expect("start the function");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let responses = api.wait_for_responses(3, LIMIT);
    let output = stop(child, stdout, stderr);
    // Signed: stored. Unsigned: 401. The signed body replayed as another event: 422.
    assert_eq!(statuses(&responses), [200, 401, 422], "{output}");
    assert_eq!(local.events().await.len(), 1);
    assert_no_secrets(&output, &[TOKEN, SIGNING_KEY, &signature]);
}

/// Lambda retires an instance at the end of a flood. The function registered an extension at
/// start-up, so Lambda sends it SIGTERM first; the refusal counts it still folded (a flood's
/// refusals within a window share one line) are written then: every refusal counted once.
#[tokio::test(flavor = "multi_thread")]
async fn the_refusals_folded_when_lambda_retires_an_instance_are_written_on_sigterm() {
    let local = Local::new().await;
    let client = secrets::client().await;
    let secret = secrets::create(&client, &secrets::iugu(TOKEN, None)).await;
    let flood = 6;
    let api = RuntimeApi::start(
        (0..flood)
            .map(|_| event_v1(BODY, Some("not-the-token-0123456789"), None))
            .collect(),
    );
    let mut child = command(
        "invoices",
        &api,
        &[
            ("EVENTS_TABLE", &local.table),
            ("EVENTS_QUEUE_URL", &local.queue_url),
            ("IUGU_SECRET_ID", &secret),
        ],
    )
    .spawn()
    .expect("start the function");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let responses = api.wait_for_responses(flood, LIMIT);
    assert_eq!(statuses(&responses), [401; 6]);
    assert_eq!(
        api.extensions(),
        [r#"{"events":[]}"#],
        "one extension, no event"
    );

    // What Lambda does to retire it; the function must end by itself.
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let (done, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(LIMIT)
        .expect("it ends after SIGTERM")
        .expect("wait for the function");
    let output = format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    );
    assert!(status.success(), "{status:?}: {output}");
    let counted: u64 = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["Code"] == "unauthorized")
        .filter_map(|line| line["Notifications"].as_u64())
        .sum();
    assert_eq!(counted, flood as u64, "{output}");
    assert!(api.errors().is_empty(), "{:?}", api.errors());
}
