//! What the deployment commands (`urls`, `register`, `smoke`) talk to, on loopback: a deployed
//! stack (a CloudFormation stack in the local server, with the outputs template.yaml gives, and
//! the two gateway secrets), and stand-ins for iugu's and iPag's webhook APIs that keep state
//! and enforce what the real ones are reported to: iugu refuses a 21st webhook (422), and a
//! creation is never idempotent.

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pipeline_tests::{moto, secrets};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const IUGU_API_TOKEN: &str = "iugu-api-token-for-tests-0123";
pub const IUGU_TOKEN: &str = "iugu-webhook-token-0123456789ab";
pub const IPAG_TOKEN: &str = "ipag-webhook-token-0123456789ab";
pub const IPAG_ID: &str = "ipag-api-id";
pub const IPAG_KEY: &str = "ipag-api-key-secret-0123";
pub const API: &str = "https://abc123.execute-api.sa-east-1.amazonaws.com";

/// A stack in the local server: its name. Its outputs point at `api`, `table`, `queue` and two
/// new secrets holding the tokens above.
pub async fn stack(api: &str, table: &str, queue: &str) -> String {
    stack_with(api, table, queue, IUGU_TOKEN).await
}

/// As [`stack`], with `iugu_token` in iugu's secret.
pub async fn stack_with(api: &str, table: &str, queue: &str, iugu_token: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "webhooks-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let client = secrets::client().await;
    let iugu = secrets::create(&client, &secrets::iugu(iugu_token, None)).await;
    let ipag = secrets::create(&client, &secrets::ipag(IPAG_TOKEN, None, None)).await;
    let outputs = BTreeMap::from([
        ("ApiEndpoint", api.to_owned()),
        ("EventsTableName", table.to_owned()),
        ("EventsQueueUrl", queue.to_owned()),
        ("IuguWebhookSecretArn", iugu),
        ("IpagWebhookSecretArn", ipag),
        ("AlarmTestName", format!("{name}-QuarantineAlarm")),
    ]);
    let template = json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs.iter().map(|(k, v)| (k.to_string(), json!({"Value": v}))).collect::<serde_json::Map<_, _>>(),
    });
    let config = pipeline_tests::sdk_config(&moto().endpoint).await;
    aws_sdk_cloudformation::Client::new(&config)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("create the stack");
    name
}

/// Runs `recover` with `args` against the local server and the stand-ins.
pub async fn recover(args: &[&str], env: &[(&str, String)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_recover"));
        command
            .args(&args)
            .env_remove("STACK_NAME")
            .env_remove("IUGU_API_TOKEN")
            .env_remove("IUGU_API_URL")
            .env_remove("IPAG_API_ID")
            .env_remove("IPAG_API_KEY")
            .env_remove("IPAG_API_URL")
            .env_remove("EVENTS_TABLE")
            .env_remove("RETENTION_DAYS")
            .env("AWS_ENDPOINT_URL", &moto().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .envs(env);
        command.output().expect("run recover")
    })
    .await
    .expect("joined")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A webhook a stand-in holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: String,
    pub event: String,
    pub url: String,
    /// iugu: the `authorization` value; iPag: its actions, comma-joined.
    pub extra: String,
}

#[derive(Default)]
struct State {
    hooks: Vec<Hook>,
    next: usize,
    /// (method, path, status) of every call.
    calls: Vec<(String, String, u16)>,
    /// Webhooks iugu counts but does not list (made by someone else meanwhile).
    hidden: usize,
}

/// iugu's webhook API (`/v1/web_hooks`), with its limit of 20.
#[derive(Clone)]
pub struct Iugu {
    state: Arc<Mutex<State>>,
    pub server: Arc<MockServer>,
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body)))
        .expect("a form body");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn authorized(request: &Request, user: &str, password: &str) -> bool {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

struct IuguResponder(Arc<Mutex<State>>);

impl Respond for IuguResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("state");
        let (verb, route) = (request.method.to_string(), request.url.path().to_owned());
        let (status, body) = if !authorized(request, IUGU_API_TOKEN, "") {
            (401, json!({"errors": "Unauthorized"}))
        } else if verb == "GET" && route == "/v1/web_hooks/supported_events" {
            (200, json!(webhook_iugu::EventName::KNOWN))
        } else if verb == "GET" {
            let list: Vec<Value> = state
                .hooks
                .iter()
                .map(|h| json!({"id": h.id, "event": h.event, "url": h.url, "mode": "live"}))
                .collect();
            (200, json!(list))
        } else if verb == "POST" {
            if state.hooks.len() + state.hidden >= 20 {
                (422, json!({"errors": "limite de 20 gatilhos atingido"}))
            } else {
                let fields = form(&request.body);
                state.next += 1;
                let hook = Hook {
                    id: format!("WH{}", state.next),
                    event: fields.get("event").cloned().unwrap_or_default(),
                    url: fields.get("url").cloned().unwrap_or_default(),
                    extra: fields.get("authorization").cloned().unwrap_or_default(),
                };
                let body = json!({"id": hook.id, "event": hook.event, "url": hook.url});
                state.hooks.push(hook);
                (200, body)
            }
        } else {
            let id = route.rsplit('/').next().unwrap_or_default().to_owned();
            let before = state.hooks.len();
            state.hooks.retain(|h| h.id != id);
            if state.hooks.len() < before {
                (200, json!({"id": id}))
            } else {
                (404, json!({"errors": "Not Found"}))
            }
        };
        state.calls.push((verb, route, status));
        ResponseTemplate::new(status).set_body_json(body)
    }
}

impl Iugu {
    pub async fn start(foreign: usize) -> Iugu {
        let state = Arc::new(Mutex::new(State::default()));
        {
            let mut s = state.lock().expect("state");
            for i in 0..foreign {
                s.next += 1;
                let id = format!("WH{}", s.next);
                s.hooks.push(Hook {
                    id,
                    event: "invoice.status_changed".into(),
                    url: format!("https://erp{i}.example.com/iugu"),
                    extra: String::new(),
                });
            }
        }
        let server = MockServer::start().await;
        for verb in ["GET", "POST"] {
            Mock::given(method(verb))
                .and(path_regex(r"^/v1/web_hooks(/supported_events)?$"))
                .respond_with(IuguResponder(Arc::clone(&state)))
                .mount(&server)
                .await;
        }
        Mock::given(method("DELETE"))
            .and(path_regex(r"^/v1/web_hooks/[^/]+$"))
            .respond_with(IuguResponder(Arc::clone(&state)))
            .mount(&server)
            .await;
        Iugu {
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// A webhook of ours, made before (a URL with the token in it, say).
    pub fn add(&self, event: &str, url: &str) {
        let mut s = self.state.lock().expect("state");
        s.next += 1;
        let id = format!("WH{}", s.next);
        s.hooks.push(Hook {
            id,
            event: event.into(),
            url: url.into(),
            extra: String::new(),
        });
    }

    /// Webhooks iugu counts but does not list (someone else made them meanwhile).
    pub fn hide(&self, n: usize) {
        self.state.lock().expect("state").hidden = n;
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.state.lock().expect("state").hooks.clone()
    }

    /// (method, path, status) of every call so far.
    pub fn calls(&self) -> Vec<(String, String, u16)> {
        self.state.lock().expect("state").calls.clone()
    }
}

/// iPag's webhook API (`/service/resources/webhooks`).
#[derive(Clone)]
pub struct Ipag {
    state: Arc<Mutex<State>>,
    pub server: Arc<MockServer>,
}

struct IpagResponder(Arc<Mutex<State>>);

impl Respond for IpagResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("state");
        let verb = request.method.to_string();
        let (status, body) = if !authorized(request, IPAG_ID, IPAG_KEY) {
            (401, json!({"message": "unauthorized"}))
        } else if verb == "GET" {
            let data: Vec<Value> = state
                .hooks
                .iter()
                .map(|h| {
                    json!({"id": h.id, "resource": "webhooks", "attributes": {
                    "http_method": "POST", "url": h.url, "description": "x",
                    "actions": h.extra.split(',').filter(|a| !a.is_empty()).collect::<Vec<_>>()}})
                })
                .collect();
            (200, json!({"data": data}))
        } else if verb == "POST" {
            let posted: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            state.next += 1;
            let hook = Hook {
                id: state.next.to_string(),
                event: String::new(),
                url: posted["url"].as_str().unwrap_or_default().to_owned(),
                extra: posted["actions"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
            };
            let answer =
                json!({"id": hook.id, "resource": "webhooks", "attributes": {"url": hook.url}});
            state.hooks.push(hook);
            (201, answer)
        } else {
            let id = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            state.hooks.retain(|h| h.id != id);
            (200, json!({"id": id}))
        };
        state
            .calls
            .push((verb, request.url.path().to_owned(), status));
        ResponseTemplate::new(status).set_body_json(body)
    }
}

impl Ipag {
    pub async fn start() -> Ipag {
        let state = Arc::new(Mutex::new(State::default()));
        let server = MockServer::start().await;
        Mock::given(path("/service/resources/webhooks"))
            .respond_with(IpagResponder(Arc::clone(&state)))
            .mount(&server)
            .await;
        Ipag {
            state,
            server: Arc::new(server),
        }
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.state.lock().expect("state").hooks.clone()
    }

    pub fn calls(&self) -> Vec<(String, String, u16)> {
        self.state.lock().expect("state").calls.clone()
    }
}

/// The environment `register` runs with against these stand-ins.
pub fn register_env(stack: &str, iugu: &Iugu, ipag: &Ipag) -> Vec<(&'static str, String)> {
    vec![
        ("STACK_NAME", stack.to_owned()),
        ("IUGU_API_URL", iugu.url()),
        ("IUGU_API_TOKEN", IUGU_API_TOKEN.to_owned()),
        ("IPAG_API_URL", ipag.server.uri()),
        ("IPAG_API_ID", IPAG_ID.to_owned()),
        ("IPAG_API_KEY", IPAG_KEY.to_owned()),
    ]
}
