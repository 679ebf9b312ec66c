//! `sam local invoke` without Docker: the env file `scripts/local.sh` writes for it
//! (`.local/sam-env.json`, by `scripts/sam_env.py`) names only variables the template declares
//! (the only ones `--env-vars` can override), supplies every one SAM cannot resolve locally, and
//! works: the real function binaries, built as `sam build` and `local.sh` build them, run with
//! exactly the variables `sam local invoke` would give them (the template's values, the file's
//! overrides, the region of samconfig.toml's `local_invoke` section, and what Lambda itself
//! sets) against the local server, as Lambda runs them (the Runtime API stand-in), and every
//! HTTP API (payload 2.0) event under `events/` gets its documented answer.
//!
//! Also: `AWS_ENDPOINT_URL` declared empty (template.yaml) means AWS, not an endpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use pipeline_tests::runtime_api::RuntimeApi;
use pipeline_tests::{moto, moto_python, secrets, workspace, Local, TOKEN};
use serde_json::{json, Value};

use crate::function::drain;

/// Bound on any wait for a function (a debug build starting, moto answering).
const LIMIT: Duration = Duration::from_secs(60);

/// Runs a Python script (the dev venv's, which has boto3 and PyYAML) from the workspace root.
fn python(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(moto_python())
        .args(args)
        .current_dir(workspace())
        .envs(env.iter().copied())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Every function of template.yaml: its binary, the paths of its HTTP API events, whether it
/// is scheduled.
fn template_functions() -> BTreeMap<String, Value> {
    let script = r#"
import json, sys
sys.path.insert(0, "scripts")
import local_resources as lr
out = {}
for lid, r in (lr.load_template("template.yaml").get("Resources") or {}).items():
    if r.get("Type") != "AWS::Serverless::Function":
        continue
    events = (r.get("Properties") or {}).get("Events") or {}
    out[lid] = {
        "binary": r["Metadata"]["BuildProperties"]["Binary"],
        "paths": sorted({e["Properties"]["Path"] for e in events.values() if e.get("Type") == "HttpApi"}),
        "scheduled": any(e.get("Type") == "Schedule" for e in events.values()),
    }
print(json.dumps(out))
"#;
    serde_json::from_str(&python(&["-c", script], &[])).expect("JSON")
}

/// The region samconfig.toml gives `sam local invoke` (its `[default.local_invoke.parameters]`).
fn local_invoke_region() -> String {
    let config =
        std::fs::read_to_string(workspace().join("samconfig.toml")).expect("samconfig.toml");
    let mut section = "";
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[default.local_invoke.parameters]" {
            if let Some(value) = line.strip_prefix("region = ") {
                return value.trim_matches('"').to_owned();
            }
        }
    }
    panic!("samconfig.toml gives sam local invoke no region");
}

/// The function binaries, built once for this test binary as `sam build` and `scripts/local.sh`
/// build them (`cargo build --bin <binary>...` in the workspace root), into this build's target
/// directory; returns the directory they are in.
fn real_binaries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile_dir = Path::new(env!("CARGO_BIN_EXE_function"))
            .parent()
            .expect("the binaries' directory")
            .to_path_buf();
        let target = profile_dir.parent().expect("the target directory");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--locked", "--target-dir"])
            .arg(target)
            .current_dir(workspace());
        for function in template_functions().values() {
            command.args(["--bin", function["binary"].as_str().expect("a binary")]);
        }
        let output = command.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build of the functions failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        profile_dir
    })
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sam-local-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A function binary as `sam local invoke` runs it in its container: `variables` (the
/// template's, with the env file's overrides), and what Lambda itself sets.
fn start(
    binary: &Path,
    api: &RuntimeApi,
    name: &str,
    region: &str,
    variables: &BTreeMap<String, String>,
) -> Child {
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", region)
        .env("AWS_DEFAULT_REGION", region)
        // sam local passes the caller's credentials; the local server takes any.
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .envs(variables)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the function")
}

/// Stops a function (as Lambda ends an instance) and returns what it printed.
fn stop(mut child: Child) -> String {
    let (stdout, stderr) = (
        drain(child.stdout.take().expect("stdout")),
        drain(child.stderr.take().expect("stderr")),
    );
    let _ = child.kill();
    let _ = child.wait();
    format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    )
}

/// The HTTP API events under `events/` a function of `paths` serves, with the status each must
/// be answered (a 200's body says `stored` or `duplicate`, any other's names its `error`).
fn events_for(paths: &[String]) -> Vec<(Option<PathBuf>, u16)> {
    let mut found = Vec::new();
    let dirs = [
        (workspace().join("events/iugu/http-api-v2"), 200),
        (workspace().join("events/iugu/http-api-v2/basic-auth"), 200),
        (workspace().join("events/ipag"), 200),
    ];
    for (dir, status) in dirs {
        for entry in std::fs::read_dir(&dir).expect("an events directory") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|x| x == "json") {
                let event: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                        .expect("JSON");
                if paths.iter().any(|p| event["rawPath"] == p.as_str()) {
                    found.push((Some(path), status));
                }
            }
        }
    }
    // The refusals events/README.md documents for the v2 samples.
    for (file, status) in [
        ("wrong-token", 401),
        ("no-token", 401),
        ("broken-body", 400),
        ("wrong-family", 422),
        ("empty-body", 400),
        ("not-form", 415),
    ] {
        let path = workspace().join(format!("events/iugu/http-api-v2/bad/{file}.json"));
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        if paths.iter().any(|p| event["rawPath"] == p.as_str()) {
            found.push((Some(path), status));
        }
    }
    found.sort();
    found
}

/// An EventBridge scheduled event, as the sweeper's schedule sends it.
fn scheduled_event() -> String {
    json!({
        "version": "0", "id": "sam-local-schedule", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-11-01T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {}
    })
    .to_string()
}

#[test]
fn the_sam_local_env_file_names_only_declared_variables_and_runs_every_function() {
    let region = local_invoke_region();
    let dir = scratch("env");
    let resources = dir.join("resources.json");
    let env_file = dir.join("sam-env.json");
    // What local.sh does: the template's resources in the local server, then the env file.
    python(
        &[
            "scripts/local_resources.py",
            "--endpoint",
            &moto().endpoint,
            "--region",
            &region,
            "--out",
            resources.to_str().expect("a UTF-8 path"),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    python(
        &[
            "scripts/sam_env.py",
            "--resources",
            resources.to_str().expect("a UTF-8 path"),
            "--host",
            "127.0.0.1",
            "--rust-log",
            "info",
            "--out",
            env_file.to_str().expect("a UTF-8 path"),
        ],
        &[],
    );
    let file: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&std::fs::read_to_string(&env_file).expect("the env file"))
            .expect("JSON");
    // What the template declares, each value as a deployment with the defaults sets it (null:
    // it points at a resource, which SAM cannot resolve locally).
    let declared: BTreeMap<String, BTreeMap<String, Option<String>>> =
        serde_json::from_str(&python(&["scripts/sam_env.py", "--declared"], &[])).expect("JSON");
    let functions = template_functions();
    assert_eq!(
        file.keys().collect::<Vec<_>>(),
        functions.keys().collect::<Vec<_>>(),
        "one section per function"
    );

    // The file names only declared variables, and every one SAM cannot resolve.
    let mut environments = BTreeMap::new();
    for (function, section) in &file {
        let own = &declared[function];
        let undeclared: Vec<_> = section.keys().filter(|k| !own.contains_key(*k)).collect();
        assert!(
            undeclared.is_empty(),
            "{function}: {undeclared:?} are not declared: --env-vars ignores them"
        );
        assert!(
            section["AWS_ENDPOINT_URL"].starts_with("http://127.0.0.1:"),
            "{function}: {section:?}"
        );
        let mut variables = BTreeMap::new();
        for (name, value) in own {
            match (section.get(name), value) {
                (Some(local), _) => variables.insert(name.clone(), local.clone()),
                (None, Some(template)) => variables.insert(name.clone(), template.clone()),
                (None, None) => {
                    panic!("{function}: {name} points at a resource and the file does not set it")
                }
            };
        }
        environments.insert(function.clone(), variables);
    }

    // The real binaries, each with exactly that environment, and its events.
    let bin = real_binaries();
    let mut running = Vec::new();
    for (function, info) in &functions {
        let paths: Vec<String> = info["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .map(|p| p.as_str().expect("a path").to_owned())
            .collect();
        let mut expected = events_for(&paths);
        if info["scheduled"] == true {
            expected.push((None, 200));
        }
        assert!(!expected.is_empty(), "{function} has no event to run");
        let events: Vec<String> = expected
            .iter()
            .map(|(path, _)| match path {
                None => scheduled_event(),
                Some(path) => std::fs::read_to_string(path).expect("an event file"),
            })
            .collect();
        let api = RuntimeApi::start(events);
        let binary = bin.join(info["binary"].as_str().expect("a binary"));
        let child = start(&binary, &api, function, &region, &environments[function]);
        running.push((function.clone(), api, child, expected));
    }

    let mut stored = 0usize;
    for (function, api, child, expected) in running {
        let answers = api.wait_for_responses(expected.len(), LIMIT);
        let errors = api.errors();
        let output = stop(child);
        assert!(errors.is_empty(), "{function}: {errors:?}\n{output}");
        assert_eq!(
            answers.len(),
            expected.len(),
            "{function} answered {answers:?}\n{output}"
        );
        let by_id: HashMap<String, String> = answers.into_iter().collect();
        for (i, (path, status)) in expected.iter().enumerate() {
            let answer: Value =
                serde_json::from_str(&by_id[&format!("req-{i}")]).expect("an answer");
            let Some(path) = path else {
                // The sweeper's answer: a report of its run.
                assert!(answer.get("entities").is_some(), "{function}: {answer}");
                continue;
            };
            assert_eq!(
                answer["statusCode"],
                *status,
                "{function} {}: {answer}\n{output}",
                path.display()
            );
            let body: Value =
                serde_json::from_str(answer["body"].as_str().expect("a body")).expect("JSON");
            if *status == 200 {
                match body["status"].as_str() {
                    Some("stored") => stored += 1,
                    Some("duplicate") => {}
                    other => panic!("{function} {}: {other:?}", path.display()),
                }
            } else {
                assert!(
                    body["error"].is_string(),
                    "{function} {}: {body}",
                    path.display()
                );
            }
        }
    }
    assert!(stored >= 40, "{stored} notifications stored");

    // What they stored and forwarded is in the local server's table and queue.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let created: Value =
        serde_json::from_str(&std::fs::read_to_string(&resources).expect("resources"))
            .expect("JSON");
    let (table, queue) = (
        created["env"]["EVENTS_TABLE"]
            .as_str()
            .expect("table")
            .to_owned(),
        created["env"]["EVENTS_QUEUE_URL"]
            .as_str()
            .expect("queue")
            .to_owned(),
    );
    let (events, messages) = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&moto().endpoint)
            .region(aws_config::Region::new(region.clone()))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        let items = aws_sdk_dynamodb::Client::new(&config)
            .scan()
            .table_name(&table)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        let events = items
            .iter()
            .filter(|i| i.get("kind") == Some(&AttributeValue::S("event".to_owned())))
            .count();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let mut messages = 0;
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                break;
            }
            messages += got.len();
            // A FIFO queue hands out an entity's next message once its earlier one is deleted.
            for message in got {
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(message.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        (events, messages)
    });
    assert_eq!(events, stored, "one event item per stored notification");
    assert_eq!(messages, stored, "one message per stored notification");
}

/// template.yaml declares `AWS_ENDPOINT_URL: ""`: the real binary takes that for AWS, per
/// service. With DynamoDB and SQS pointed at the local server it serves; with Secrets Manager
/// left to the blank value it asks AWS for the secret (and, AWS being out of reach or the
/// credentials fake, stops with the init error), rather than panicking on an empty endpoint as
/// the SDK does with a blank value.
#[test]
fn a_blank_endpoint_means_aws() {
    let bin = real_binaries().join("invoices");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (local, secret) = runtime.block_on(async {
        let local = Local::new().await;
        let client = secrets::client().await;
        let secret = secrets::create(&client, &secrets::iugu(TOKEN, None)).await;
        (local, secret)
    });
    let endpoint = moto().endpoint.clone();
    let variables = |secrets_manager: bool| {
        let mut v = BTreeMap::from([
            ("EVENTS_TABLE".to_owned(), local.table.clone()),
            ("EVENTS_QUEUE_URL".to_owned(), local.queue_url.clone()),
            ("IUGU_SECRET_ID".to_owned(), secret.clone()),
            ("AWS_ENDPOINT_URL".to_owned(), String::new()),
            ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), endpoint.clone()),
            ("AWS_ENDPOINT_URL_SQS".to_owned(), endpoint.clone()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ]);
        if secrets_manager {
            v.insert(
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                endpoint.clone(),
            );
        }
        v
    };
    let event = std::fs::read_to_string(
        workspace().join("events/iugu/http-api-v2/invoice.status_changed.json"),
    )
    .expect("the sample");

    let api = RuntimeApi::start(vec![event.clone()]);
    let child = start(
        &bin,
        &api,
        "InvoicesFunction",
        "us-east-1",
        &variables(true),
    );
    let answers = api.wait_for_responses(1, LIMIT);
    let output = stop(child);
    assert_eq!(answers.len(), 1, "{output}");
    let answer: Value = serde_json::from_str(&answers[0].1).expect("an answer");
    assert_eq!(answer["statusCode"], 200, "{answer}\n{output}");
    assert!(
        !output.contains("invalid value for endpoint URL"),
        "{output}"
    );

    let api = RuntimeApi::start(vec![event]);
    let mut child = start(
        &bin,
        &api,
        "InvoicesFunction",
        "us-east-1",
        &variables(false),
    );
    let (stdout, stderr) = (
        drain(child.stdout.take().expect("stdout")),
        drain(child.stderr.take().expect("stderr")),
    );
    let status = child.wait().expect("the function stops by itself");
    let output = format!(
        "{}{}",
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr")
    );
    assert_eq!(
        status.code(),
        Some(1),
        "an init error, not a panic:\n{output}"
    );
    assert!(
        output.contains("cannot read the webhook secret"),
        "{output}"
    );
    assert!(
        !output.contains("panicked") && !output.contains("URL was unset"),
        "{output}"
    );
    assert_eq!(api.next_calls(), 0, "{output}");
}
