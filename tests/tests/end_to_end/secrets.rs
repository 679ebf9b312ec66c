//! The webhook secrets in Secrets Manager (moto), read as a function reads them at start-up
//! (`webhook_lambda::secrets::read`): each gateway's token opens only its own routes, and the rotation
//! procedure of docs/operations.md ("Rotating a token") refuses no delivery. What happens without a
//! usable secret is in `function.rs` (the process stops before serving).

use lambda_http::Request;
use pipeline_tests::{answer, post, secrets, through_runtime, Local};
use serde_json::json;
use webhook_aws::{DynamoStore, SqsForwarder};
use webhook_core::gateway::Gateway;
use webhook_ipag::Ipag;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::http::App;
use webhook_lambda::secrets::{read, SecretError};

const IUGU_TOKEN: &str = "iugu-token-0123456789abcdef";
const IPAG_TOKEN: &str = "ipag-token-0123456789abcdef";
const INVOICES: Iugu = Iugu::family(Family::Invoices);

/// iugu's delivery number `n` (a notification of its own), with `token` in the query string.
fn iugu_delivery(n: usize, token: &str) -> Request {
    post(
        &format!("event=invoice.status_changed&data%5Bid%5D=ROT{n}&data%5Bstatus%5D=paid"),
        "application/x-www-form-urlencoded",
        Some(token),
    )
}

/// iPag's `TransactionCaptured` for transaction `id`, as the HTTP API delivers it.
fn ipag_delivery(id: usize, token: &str) -> Request {
    let body = json!({"id": id, "resource": "transactions",
                      "attributes": {"status": {"code": 8, "message": "CAPTURED"}}})
    .to_string();
    let headers = [
        ("content-type", "application/json"),
        ("x-ipag-event", "TransactionCaptured"),
    ];
    through_runtime(&pipeline_tests::ipag_event("POST", &body, &headers, Some(token)).to_string())
}

/// A function instance as it starts: it reads its gateway's secret once.
async fn start(
    local: &Local,
    client: &aws_sdk_secretsmanager::Client,
    mut gateway: impl Gateway + 'static,
    secret: &str,
) -> App<DynamoStore, SqsForwarder> {
    let credentials = read(client, &gateway, secret)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    credentials
        .sign(&mut gateway)
        .unwrap_or_else(|e| panic!("{e}"));
    local.app_with(gateway, credentials.token, &local.queue_url)
}

#[tokio::test]
async fn each_gateways_token_opens_only_its_own_routes() {
    let local = Local::new().await;
    let client = secrets::client().await;
    let iugu_secret = secrets::create(&client, &secrets::iugu(IUGU_TOKEN, None)).await;
    let ipag_secret = secrets::create(&client, &secrets::ipag(IPAG_TOKEN, None, None)).await;
    let invoices = start(&local, &client, INVOICES, &iugu_secret).await;
    let all_events = start(&local, &client, Iugu::ALL_EVENTS, &iugu_secret).await;
    let ipag = start(&local, &client, Ipag::UNSIGNED, &ipag_secret).await;

    for (app, token) in [(&invoices, IPAG_TOKEN), (&all_events, IPAG_TOKEN)] {
        let (status, body) = answer(&app.handle(iugu_delivery(1, token)).await);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unauthorized"))
        );
    }
    let (status, body) = answer(&ipag.handle(ipag_delivery(1, IUGU_TOKEN)).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert!(
        local.items().await.is_empty(),
        "a refused delivery stored something"
    );

    assert_eq!(
        answer(&invoices.handle(iugu_delivery(1, IUGU_TOKEN)).await).0,
        200
    );
    assert_eq!(
        answer(&ipag.handle(ipag_delivery(1, IPAG_TOKEN)).await).0,
        200
    );
    assert_eq!(local.events().await.len(), 2);

    // A secret wired to the other gateway's functions stops them at start-up.
    let wrong = read(&client, &Iugu::ALL_EVENTS, &ipag_secret).await;
    assert!(
        matches!(&wrong, Err(SecretError::Invalid { why, .. }) if why.contains("it is another gateway's secret") && why.contains("serves iugu")),
        "{wrong:?}"
    );
    let wrong = read(&client, &Ipag::UNSIGNED, &iugu_secret).await;
    assert!(
        matches!(&wrong, Err(SecretError::Invalid { why, .. }) if why.contains("it is another gateway's secret") && why.contains("serves ipag")),
        "{wrong:?}"
    );
    let missing = read(&client, &Iugu::ALL_EVENTS, "no-such-secret").await;
    assert!(
        matches!(&missing, Err(SecretError::Unreadable { reason, .. }) if reason.contains("ResourceNotFoundException")),
        "{missing:?}"
    );
}

/// Delivery `n` with `token` to `app`: (n, status).
async fn deliver(app: &App<DynamoStore, SqsForwarder>, n: usize, token: &str) -> (usize, u16) {
    (n, answer(&app.handle(iugu_delivery(n, token)).await).0)
}

/// docs/operations.md, "Rotating a token", step by step, with the gateway delivering all along: old
/// function instances keep running until the redeploy replaces them, and deliveries sent
/// before the URL changed are retried with the old token after it changed. Not one delivery
/// is refused, and once the old token is dropped it opens nothing.
#[tokio::test]
async fn a_rotation_refuses_no_delivery() {
    let local = Local::new().await;
    let client = secrets::client().await;
    const OLD: &str = "old-iugu-token-0123456789";
    const NEW: &str = "new-iugu-token-9876543210";
    let secret = secrets::create(&client, &secrets::iugu(OLD, None)).await;
    let mut answers: Vec<(usize, u16)> = Vec::new();
    let mut count = 0;
    let mut next = || {
        count += 1;
        count
    };

    // Before: one instance, iugu sends OLD.
    let before = start(&local, &client, INVOICES, &secret).await;
    for _ in 0..3 {
        answers.push(deliver(&before, next(), OLD).await);
    }

    // Step 1: add the new value as current, keep the old one as previous.
    secrets::put(&client, &secret, &secrets::iugu(NEW, Some(OLD))).await;
    // Instances started before step 2 still know OLD alone, and iugu still sends OLD.
    answers.push(deliver(&before, next(), OLD).await);
    assert_eq!(
        answer(&before.handle(iugu_delivery(999, NEW)).await).0,
        401,
        "an instance started before step 2 knows only OLD: that is why step 3 waits for it"
    );

    // Step 2: redeploy with a new SecretsRevision: new instances read the secret again.
    let first = start(&local, &client, INVOICES, &secret).await;
    let second = start(&local, &client, INVOICES, &secret).await;
    answers.push(deliver(&first, next(), OLD).await);
    answers.push(deliver(&second, next(), OLD).await);

    // Step 3: register the URL with NEW at iugu. New deliveries carry NEW; retries of
    // deliveries sent before the change still carry OLD, on any instance.
    for (i, token) in [NEW, OLD, NEW, NEW, OLD, NEW].into_iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        answers.push(deliver(app, next(), token).await);
    }

    // Step 4: drop the previous value, redeploy again.
    secrets::put(&client, &secret, &secrets::iugu(NEW, None)).await;
    let after = start(&local, &client, INVOICES, &secret).await;
    for _ in 0..3 {
        answers.push(deliver(&after, next(), NEW).await);
    }

    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, status)| *status != 200)
        .collect();
    assert!(
        refused.is_empty(),
        "refused during the rotation: {refused:?}"
    );
    assert_eq!(answers.len(), 15);
    assert_eq!(
        local.events().await.len(),
        answers.len(),
        "each delivery stored once"
    );

    // The old token is now dead, and what it brings is not stored.
    let (status, _) = answer(&after.handle(iugu_delivery(1000, OLD)).await);
    assert_eq!(status, 401);
    assert_eq!(local.events().await.len(), answers.len());
}

/// Issue 24, item 5: iPag's secret with a `signing_key` of blanks read as no key, and the
/// function took unsigned deliveries without a word; a short one was taken as a key. Both are
/// refused now (the function does not start: the door fails closed), and a real key turns the
/// check on.
#[tokio::test]
async fn a_blank_or_short_signing_key_stops_the_function() {
    let local = Local::new().await;
    let client = secrets::client().await;
    for (key, expected) in [
        ("   ", "is blank"),
        ("\t\n", "is blank"),
        ("short-key", "shorter than 16 characters"),
    ] {
        let secret = secrets::create(&client, &secrets::ipag(IPAG_TOKEN, None, Some(key))).await;
        let mut gateway = Ipag::UNSIGNED;
        let refused = match read(&client, &gateway, &secret).await {
            Err(e) => e,
            Ok(credentials) => match credentials.sign(&mut gateway) {
                Err(e) => e,
                Ok(()) => panic!(
                    "{key:?}: the function would start, signature check {:?}",
                    gateway.signing_key.map(|_| "on")
                ),
            },
        };
        let message = refused.to_string();
        assert!(message.contains(expected), "{key:?}: {message}");
        assert!(
            !message.contains("short-key"),
            "the key is never shown: {message}"
        );
    }
    // A real key: the check is on, an unsigned delivery is refused.
    let key = "ipag-api-key-0123456789";
    let secret = secrets::create(&client, &secrets::ipag(IPAG_TOKEN, None, Some(key))).await;
    let ipag = start(&local, &client, Ipag::UNSIGNED, &secret).await;
    let (status, body) = answer(&ipag.handle(ipag_delivery(1, IPAG_TOKEN)).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_signature"))
    );
}

/// The `jq` programs of docs/operations.md, "Rotating a token", in order (step 1's, step 4's).
fn documented_rotation() -> Vec<String> {
    let doc = std::fs::read_to_string(pipeline_tests::workspace().join("docs/operations.md"))
        .expect("docs/operations.md");
    let section = doc
        .split("## Rotating a token")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the section");
    section
        .split("jq -c ")
        .skip(1)
        .filter_map(|rest| rest.split('\'').nth(1).map(str::to_owned))
        .collect()
}

/// Runs the `jq` program `program` on `json`, with `$new` = `new` (with the jq library of the
/// tests' Python, `scripts/requirements-dev.txt`: the operator's `jq` command reads the same
/// language).
fn jq(program: &str, json: &str, new: &str) -> String {
    let script = "import jq, sys; print(jq.compile(sys.argv[1], args={'new': sys.argv[2]}).input_text(sys.stdin.read()).text())";
    let mut child = std::process::Command::new(pipeline_tests::moto_python())
        .args(["-c", script, program, new])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("jq");
    assert!(out.status.success(), "jq {program}: {out:?}");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// Issue 24, item 5: the rotation as written typed the secret out with `gateway`, `token` and
/// `previous_token`: applied to iPag's secret it dropped `signing_key`, and the signature check
/// went off without a word. The documented commands, applied to iPag's signed secret in Secrets
/// Manager, keep the key through both steps, and the check stays on.
#[tokio::test]
async fn the_documented_rotation_keeps_ipags_signing_key() {
    const OLD: &str = "old-ipag-token-0123456789";
    const NEW: &str = "new-ipag-token-9876543210";
    const KEY: &str = "ipag-api-key-0123456789abcdef";
    let programs = documented_rotation();
    assert_eq!(
        programs.len(),
        2,
        "step 1 and step 4 edit the secret: {programs:?}"
    );
    let local = Local::new().await;
    let client = secrets::client().await;
    let secret = secrets::create(&client, &secrets::ipag(OLD, None, Some(KEY))).await;
    let value = |client: aws_sdk_secretsmanager::Client, id: String| async move {
        client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .expect("get")
            .secret_string
            .expect("text")
    };

    // Step 1.
    let rotated = jq(
        &programs[0],
        &value(client.clone(), secret.clone()).await,
        NEW,
    );
    secrets::put(&client, &secret, &rotated).await;
    let fields: serde_json::Value = serde_json::from_str(&rotated).expect("JSON");
    assert_eq!(
        fields,
        json!({"gateway": "ipag", "token": NEW, "previous_token": OLD, "signing_key": KEY})
    );
    let during = start(&local, &client, Ipag::UNSIGNED, &secret).await;
    // Both tokens open the route; the signature is still checked.
    for token in [OLD, NEW] {
        let (status, body) = answer(&during.handle(ipag_delivery(1, token)).await);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_signature"))
        );
    }

    // Step 4.
    let dropped = jq(
        &programs[1],
        &value(client.clone(), secret.clone()).await,
        NEW,
    );
    secrets::put(&client, &secret, &dropped).await;
    let fields: serde_json::Value = serde_json::from_str(&dropped).expect("JSON");
    assert_eq!(
        fields,
        json!({"gateway": "ipag", "token": NEW, "signing_key": KEY})
    );
    let after = start(&local, &client, Ipag::UNSIGNED, &secret).await;
    let (status, body) = answer(&after.handle(ipag_delivery(2, NEW)).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_signature"))
    );
    let (status, body) = answer(&after.handle(ipag_delivery(3, OLD)).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
}
