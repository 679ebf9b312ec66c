//! The `recover` binary as an operator runs it: `--help`, refusals before any call, exit codes,
//! plain progress lines when stderr is not a terminal, and the token never printed.

use std::process::{Command, Output};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "cli-secret-token-0123";

fn recover(
    args: &[&str],
    api_url: Option<&str>,
    token: Option<&str>,
    table: Option<&str>,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recover"));
    command
        .args(args)
        .env_remove("IUGU_API_TOKEN")
        .env_remove("IUGU_API_URL")
        .env_remove("EVENTS_TABLE")
        .env_remove("EVENTS_QUEUE_URL");
    if let Some(url) = api_url {
        command.env("IUGU_API_URL", url);
    }
    if let Some(token) = token {
        command.env("IUGU_API_TOKEN", token);
    }
    if let Some(table) = table {
        command
            .env("EVENTS_TABLE", table)
            .env("AWS_ENDPOINT_URL", &pipeline_tests::moto().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
    }
    command.output().expect("run recover")
}

async fn run(args: &[&str], api_url: Option<String>, token: Option<&'static str>) -> Output {
    run_with_table(args, api_url, token, None).await
}

/// As [`run`], with EVENTS_TABLE (and the local server) for the commands that record there.
async fn run_with_table(
    args: &[&str],
    api_url: Option<String>,
    token: Option<&'static str>,
    table: Option<String>,
) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        recover(&args, api_url.as_deref(), token, table.as_deref())
    })
    .await
    .expect("joined")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_command_has_help() {
    for (command, needles) in [
        (
            vec!["--help"],
            vec![
                "urls",
                "register",
                "smoke",
                "backfill-retention",
                "resend",
                "replay",
                "reconcile",
                "IUGU_API_TOKEN",
                "IPAG_API_KEY",
                "Exit codes",
            ],
        ),
        (
            vec!["resend", "--help"],
            vec![
                "--from",
                "--to",
                "--event",
                "--window-days",
                "--invoice",
                "/v1/web_hooks/resend",
            ],
        ),
        (
            vec!["replay", "--help"],
            vec![
                "--pk",
                "--since",
                "--until",
                "--dry-run",
                "de-duplication id",
            ],
        ),
        (
            vec!["reconcile", "--help"],
            vec!["--from", "--to", "--fix", "updated_since"],
        ),
        (vec!["urls", "--help"], vec!["--stack", "tokens"]),
        (
            vec!["register", "--help"],
            vec![
                "--own-route",
                "--events",
                "--prune",
                "--dry-run",
                "at most 20",
            ],
        ),
        (vec!["smoke", "--help"], vec!["--receive", "smoke.test"]),
        (
            vec!["backfill-retention", "--help"],
            vec!["--retention-days", "--dry-run", "expires_at"],
        ),
    ] {
        let out = recover(&command, None, None, None);
        assert!(out.status.success(), "{command:?}");
        let help = text(&out.stdout);
        for needle in needles {
            assert!(help.contains(needle), "{command:?} lacks {needle}:\n{help}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nonsense_is_refused_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let url = format!("{}/v1", server.uri());
    for (args, message) in [
        (
            vec!["resend", "--from", "2026-11-20", "--to", "2026-11-01"],
            "is before --from",
        ),
        (
            vec!["register", "--own-route", "others"],
            "is not a family with a route of its own",
        ),
        (
            vec!["resend", "--from", "2026-11-01", "--to", "2999-01-01"],
            "reaches into the future",
        ),
        (
            vec![
                "resend",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-05",
                "--window-days",
                "4",
            ],
            "at most 3 days",
        ),
        (
            vec![
                "resend",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-05",
                "--event",
                "not an event",
            ],
            "--event",
        ),
        (
            vec!["reconcile", "--from", "2999-01-01", "--to", "2999-01-02"],
            "reaches into the future",
        ),
        (
            vec!["replay", "--pk", "dedup#abc", "--dry-run"],
            "not an entity key",
        ),
    ] {
        let out = run(&args, Some(url.clone()), Some(TOKEN)).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // Argument errors clap catches (a bad date) are refused the same way.
    let out = run(
        &["resend", "--from", "01/11/2026", "--to", "2026-11-02"],
        Some(url),
        Some(TOKEN),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(server
        .received_requests()
        .await
        .expect("recorded")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_token_is_named() {
    let out = run(
        &["resend", "--from", "2026-11-01", "--to", "2026-11-02"],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("IUGU_API_TOKEN is not set"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_prints_plain_progress_then_a_summary_and_never_the_token() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let local = pipeline_tests::Local::new().await;
    let out = run_with_table(
        &["resend", "--from", "2026-11-01", "--to", "2026-11-05"],
        Some(format!("{}/v1", server.uri())),
        Some(TOKEN),
        Some(local.table.clone()),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert!(
        stderr.contains("[1/2] 2026-11-01 .. 2026-11-03: accepted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[2/2] 2026-11-04 .. 2026-11-05: accepted"),
        "{stderr}"
    );
    assert!(
        stdout.contains("2 windows: 2 accepted, 0 failed"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_fails_the_run_without_printing_it() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let local = pipeline_tests::Local::new().await;
    let out = run_with_table(
        &["resend", "--from", "2026-11-01", "--to", "2026-11-09"],
        Some(format!("{}/v1", server.uri())),
        Some(TOKEN),
        Some(local.table.clone()),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("answered 401") && stderr.contains("IUGU_API_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN) && !text(&out.stdout).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_that_keeps_failing_makes_the_exit_code_non_zero() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"errors": "O maior intervalo permitido é de 3 dias"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let local = pipeline_tests::Local::new().await;
    let out = run_with_table(
        &["resend", "--from", "2026-11-01", "--to", "2026-11-01"],
        Some(format!("{}/v1", server.uri())),
        Some(TOKEN),
        Some(local.table.clone()),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 windows: 0 accepted, 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("O maior intervalo permitido"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resend_records_its_request_before_asking_iugu_and_needs_the_table() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/web_hooks/resend"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let url = format!("{}/v1", server.uri());
    let args = [
        "resend",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-05",
        "--event",
        "invoice.status_changed",
    ];
    // Without the table, nothing is asked: the resent notifications would be taken for new
    // occurrences and forwarded again.
    let out = run(&args, Some(url.clone()), Some(TOKEN)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("EVENTS_TABLE is not set"),
        "{}",
        text(&out.stderr)
    );

    let local = pipeline_tests::Local::new().await;
    let out = run_with_table(&args, Some(url), Some(TOKEN), Some(local.table.clone())).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests: Vec<_> = local
        .items()
        .await
        .into_iter()
        .filter(|i| pipeline_tests::text(i, "pk") == "resend#iugu")
        .collect();
    assert_eq!(requests.len(), 1);
    let r = webhook_aws::table::resend_request(&requests[0]).expect("a resend request");
    // São Paulo's 2026-11-01 00:00 to 2026-11-06 00:00 (the last day included).
    assert_eq!(
        (r.from, r.until),
        (
            time::macros::datetime!(2026-11-01 03:00 UTC),
            time::macros::datetime!(2026-11-06 03:00 UTC)
        )
    );
    assert_eq!(r.event.as_deref(), Some("invoice.status_changed"));
    assert_eq!(r.entity_key, None);
}
