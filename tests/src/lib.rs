//! Test support: a local DynamoDB + SQS server (moto) on a free loopback port, fresh resources
//! per test, and the API Gateway events of `events/`.
//!
//! The server is started once per test binary and stops with it: it watches its standard input,
//! which this process holds open, and exits when that closes (whatever way this process ends).
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use webhook_aws::{DynamoStore, SqsForwarder};
use webhook_core::clock::ManualClock;
use webhook_core::gateway::Gateway;
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};
use webhook_lambda::source_ip::SourceAllowList;

pub mod consumer;
pub mod keep_alive;
pub mod load;
pub mod log_capture;
pub mod proxy;
pub mod recorder;
pub mod runtime_api;
pub mod secrets;
pub mod wire;

/// The token every event file under `events/` carries.
pub const TOKEN: &str = "local-dev-token-0123456789";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

pub struct Moto {
    pub endpoint: String,
    _process: Child,
}

/// Runs `scripts/moto_server.py` (moto's server, with transactions that copy the items they
/// touch instead of whole tables; the reason is in that file) and exits when standard input
/// closes, i.e. when the test process ends.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

/// The Python with moto (and boto3): `MOTO_PYTHON`, else the dev venv's.
pub fn moto_python() -> PathBuf {
    std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"))
}

fn start_moto() -> Moto {
    let python = moto_python();
    assert!(
        python.exists(),
        "no Python with moto at {}: run `bash scripts/test.sh` (it installs one in .venv) \
         or set MOTO_PYTHON",
        python.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut process = Command::new(&python)
        .arg(workspace().join("scripts/moto_server.py"))
        .args([&port.to_string(), "--exit-with-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moto");
    // Werkzeug says "Running on http://127.0.0.1:<port>" once it listens: wait for that line.
    let mut stderr = BufReader::new(process.stderr.take().expect("piped stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read moto's output");
        assert!(n > 0, "moto exited before listening:\n{seen}");
        seen.push_str(&line);
        if line.contains("Running on") {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _process: process,
    }
}

/// A table and a FIFO queue of their own for one test, shaped as `template.yaml` defines them.
/// Every client it makes goes through its [`wire::Wire`]: what the queue accepted is
/// [`Local::sends`], and a test can plan a fault on a call.
pub struct Local {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    pub wire: wire::Wire,
}

/// `loader` pointed at the local server at `endpoint`, with test credentials.
fn local(loader: aws_config::ConfigLoader, endpoint: &str) -> aws_config::ConfigLoader {
    loader
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    local(
        aws_config::defaults(aws_config::BehaviorVersion::latest()),
        endpoint,
    )
    .load()
    .await
}

/// What a function's clients use in production (timeouts, bounded retries), against `endpoint`.
pub async fn production_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let production =
        webhook_aws::sdk::sdk_settings(aws_config::defaults(aws_config::BehaviorVersion::latest()));
    local(production, endpoint).load().await
}

/// Clients of `config` whose calls go through `wire`.
fn clients(
    config: &aws_config::SdkConfig,
    wire: &wire::Wire,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .http_client(wire.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .http_client(wire.clone())
            .build(),
    );
    (dynamo, sqs)
}

impl Local {
    pub async fn new() -> Local {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}-{n}", std::process::id());
        let config = sdk_config(&moto().endpoint).await;
        let wire = wire::Wire::new();
        let (dynamo, sqs) = clients(&config, &wire);
        let table = format!("events-{name}");
        webhook_aws::table::create_table(&dynamo, &table)
            .await
            .expect("create table");
        let queue_url = fifo_queue(&sqs, &format!("events-{name}.fifo")).await;
        Local {
            dynamo,
            sqs,
            table,
            queue_url,
            wire,
        }
    }

    /// Every message this test's queue accepted, in order: what a consumer on AWS would
    /// receive (see [`wire`]).
    pub fn sends(&self) -> Vec<wire::Sent> {
        self.wire.sends_to(&self.queue_url)
    }

    /// The same table and clients with a FIFO queue of its own. SQS (and the local server)
    /// drops a message whose de-duplication id it saw in the last 5 minutes, deleted or not: a
    /// test that sends the same message again (a replay) sends it here, rather than wait.
    pub async fn with_another_queue(&self) -> Local {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let queue_url = fifo_queue(&self.sqs, &format!("{}-again{n}.fifo", self.table)).await;
        Local {
            dynamo: self.dynamo.clone(),
            sqs: self.sqs.clone(),
            table: self.table.clone(),
            queue_url,
            wire: self.wire.clone(),
        }
    }

    /// The same server, clients and queue with a table of its own that also has the previous
    /// version's sweeper index, `by_pending` (a table in the first step of the upgrade from
    /// that version: docs/deploy.md, "Upgrading").
    pub async fn with_pending_index(&self) -> Local {
        let table = format!("{}-with-pending", self.table);
        webhook_aws::table::create_table_of(&self.dynamo, &table, true)
            .await
            .expect("create table");
        Local {
            dynamo: self.dynamo.clone(),
            sqs: self.sqs.clone(),
            table,
            queue_url: self.queue_url.clone(),
            wire: self.wire.clone(),
        }
    }

    /// A function's app against these resources, serving `gateway`, with the events' token.
    pub fn app(&self, gateway: impl Gateway + 'static) -> App<DynamoStore, SqsForwarder> {
        self.app_with(gateway, Token::new(Some(TOKEN)), &self.queue_url)
    }

    pub fn app_with(
        &self,
        gateway: impl Gateway + 'static,
        token: Token,
        queue_url: &str,
    ) -> App<DynamoStore, SqsForwarder> {
        App {
            gateway: std::sync::Arc::new(gateway),
            token,
            allowed_sources: SourceAllowList::default(),
            store: DynamoStore::new(self.dynamo.clone(), &self.table),
            forwarder: SqsForwarder::new(self.sqs.clone(), queue_url),
            delivery: Delivery::default(),
            metrics: Default::default(),
        }
    }

    /// A function's app whose clock is `clock` (moved by the test: a retry 20 hours later).
    pub fn app_at(
        &self,
        gateway: impl Gateway + 'static,
        clock: &ManualClock,
    ) -> App<DynamoStore, SqsForwarder> {
        App {
            delivery: Delivery {
                clock: std::sync::Arc::new(clock.clone()),
                ..Delivery::default()
            },
            ..self.app(gateway)
        }
    }

    /// The URL of a FIFO queue that does not exist, beside this test's: every send to it fails.
    pub fn missing_queue_url(&self) -> String {
        format!("{}-missing.fifo", self.queue_url.trim_end_matches(".fifo"))
    }

    /// A function's app at `clock` whose queue does not exist: every send fails, so what it
    /// stores is answered 503 `forward_failed` and stays owed.
    pub fn app_with_the_queue_down(
        &self,
        gateway: impl Gateway + 'static,
        clock: &ManualClock,
    ) -> App<DynamoStore, SqsForwarder> {
        App {
            forwarder: SqsForwarder::new(self.sqs.clone(), self.missing_queue_url()),
            ..self.app_at(gateway, clock)
        }
    }

    /// A function's app whose DynamoDB and SQS clients go to the given endpoints (a
    /// [`proxy::FaultyProxy`], say), with the production SDK settings (timeouts, retries),
    /// through this test's wire.
    pub async fn app_via(
        &self,
        gateway: impl Gateway + 'static,
        dynamo_endpoint: &str,
        sqs_endpoint: &str,
    ) -> App<DynamoStore, SqsForwarder> {
        let (dynamo, _) = clients(&production_sdk_config(dynamo_endpoint).await, &self.wire);
        let (_, sqs) = clients(&production_sdk_config(sqs_endpoint).await, &self.wire);
        App {
            gateway: std::sync::Arc::new(gateway),
            token: Token::new(Some(TOKEN)),
            allowed_sources: SourceAllowList::default(),
            store: DynamoStore::new(dynamo, &self.table),
            forwarder: SqsForwarder::new(sqs, &self.queue_url),
            delivery: Delivery::default(),
            metrics: Default::default(),
        }
    }

    /// Every item in the table, in key order.
    pub async fn items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort_by_key(|i| (text(i, "pk"), text(i, "sk")));
        items
    }

    /// The items of kind `event`, in key order (an entity's in sequence order).
    pub async fn events(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let mut items = self.items().await;
        items.retain(webhook_aws::table::is_event);
        items
    }

    /// Every item but the quarantine's (what a refusal must not change).
    pub async fn items_but_quarantine(
        &self,
    ) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let mut items = self.items().await;
        items.retain(|i| text(i, "kind") != "quarantine");
        items
    }

    /// How many deliveries the quarantine counted, over every request it kept.
    pub async fn quarantined_deliveries(&self) -> u64 {
        self.items()
            .await
            .iter()
            .filter(|i| text(i, "kind") == "quarantine")
            .map(|i| webhook_aws::table::number(i, "deliveries").unwrap_or(0))
            .sum()
    }

    /// Rewrites the stored body of notification `sequence` of `pk`: what a parser or key-rule
    /// change does to a stored notification (it no longer reads as what it was stored as).
    pub async fn rewrite_raw_body(&self, pk: &str, sequence: u64, body: &str) {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key(
                "sk",
                AttributeValue::S(webhook_aws::table::event_sk(sequence)),
            )
            .update_expression("SET raw_body = :b")
            .expression_attribute_values(":b", AttributeValue::S(body.to_owned()))
            .send()
            .await
            .expect("rewritten");
    }

    /// The head item (the counters) of entity `pk`.
    pub async fn head(&self, pk: &str) -> webhook_core::delivery::EntityHead {
        let items = self.items().await;
        let item = items
            .iter()
            .find(|i| text(i, "pk") == pk && text(i, "sk") == webhook_aws::table::HEAD_SK)
            .unwrap_or_else(|| panic!("no head for {pk}"));
        webhook_aws::table::head(item).expect("a readable head")
    }

    /// Takes every message off the queue, deleting them ten at a time (for large queues).
    pub async fn drain_all(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                return all;
            }
            let mut delete = self.sqs.delete_message_batch().queue_url(&self.queue_url);
            for (i, m) in batch.iter().enumerate() {
                delete = delete.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().expect("receipt handle"))
                        .build()
                        .expect("entry"),
                );
            }
            delete.send().await.expect("delete batch");
            all.extend(batch);
        }
    }

    /// Takes every message off the queue (receiving and deleting), in delivery order.
    pub async fn drain(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                return all;
            }
            for m in &batch {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().expect("receipt handle"))
                    .send()
                    .await
                    .expect("delete");
            }
            all.extend(batch);
        }
    }
}

/// A FIFO queue named `name` as `template.yaml` defines the events queue; its URL.
async fn fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        // High-throughput FIFO, as template.yaml's queue.
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// A string attribute of an item, or "" when absent.
pub fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    }
}

/// An API Gateway event file from `events/`, as the request lambda_http hands the handler.
pub fn event_file(relative: &str) -> lambda_http::Request {
    let path = workspace().join("events").join(relative);
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    through_runtime(&json)
}

/// The request the handler gets for an API Gateway event, by the same steps as in a function:
/// deserialise, screen (see `webhook_lambda::screen`), convert.
pub fn through_runtime(event_json: &str) -> lambda_http::Request {
    let mut event: lambda_http::request::LambdaRequest = serde_json::from_str(event_json)
        .unwrap_or_else(|e| panic!("not an event ({e}): {event_json}"));
    webhook_lambda::screen::screen(&mut event);
    event.into()
}

/// A form POST as API Gateway (REST, v1) delivers it, with the events' token in the query.
pub fn form_post(body: &str) -> lambda_http::Request {
    post(body, "application/x-www-form-urlencoded", Some(TOKEN))
}

pub fn post(body: &str, content_type: &str, token: Option<&str>) -> lambda_http::Request {
    let query = token.map_or(
        serde_json::Value::Null,
        |t| serde_json::json!({ "token": t }),
    );
    let event = serde_json::json!({
        "resource": "/iugu/invoices",
        "path": "/iugu/invoices",
        "httpMethod": "POST",
        "headers": { "Content-Type": content_type },
        "multiValueHeaders": { "Content-Type": [content_type] },
        "queryStringParameters": query,
        "multiValueQueryStringParameters": token.map_or(serde_json::Value::Null, |t| serde_json::json!({ "token": [t] })),
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "Prod",
            "requestId": "test-request",
            "identity": { "sourceIp": "54.207.210.151" },
            "resourcePath": "/iugu/invoices",
            "httpMethod": "POST",
            "apiId": "local",
            "protocol": "HTTP/1.1"
        },
        "body": body,
        "isBase64Encoded": false
    });
    through_runtime(&event.to_string())
}

/// An HTTP API (payload 2.0) event for iPag's route, as API Gateway hands it to the function:
/// `method` (POST or PUT), the headers as given (names lower-cased), `?token=` when given.
pub fn ipag_event(
    method: &str,
    body: &str,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> serde_json::Value {
    const ROUTE: &str = "/ipag/events";
    let mut all = serde_json::Map::new();
    for (name, value) in headers {
        all.insert(name.to_ascii_lowercase(), serde_json::json!(value));
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {ROUTE}"),
        "rawPath": ROUTE,
        "rawQueryString": token.map_or(String::new(), |t| format!("token={t}")),
        "headers": all,
        "queryStringParameters": token.map(|t| serde_json::json!({ "token": t })),
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "local",
            "domainPrefix": "local",
            "http": { "method": method, "path": ROUTE, "protocol": "HTTP/1.1",
                      "sourceIp": "52.73.203.226", "userAgent": "iPag-Webhook" },
            "requestId": "test-request", "routeKey": format!("{method} {ROUTE}"),
            "stage": "$default",
            "time": "17/Jun/2024:12:00:00 +0000", "timeEpoch": 1718625600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A handler's answer as status and JSON body (every answer is JSON).
pub fn answer(response: &lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let body = match response.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("expected a text body, got {other:?}"),
    };
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    (response.status().as_u16(), json)
}
