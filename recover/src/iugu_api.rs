//! The calls this tool makes to iugu's API, behind traits, and their HTTP client: four for
//! recovering notifications ([`IuguApi`]) and four for registering webhooks ([`WebHooksApi`]).
//!
//! Authentication: HTTP Basic with the API token as user and an empty password (the reference's
//! "Autenticação" page, https://dev.iugu.com/reference, and the guide's examples,
//! `Authorization: Basic {{api_token in base64}}`). The token goes
//! in the header only, never in a URL (iugu also accepts `?api_token=`, which would put it in
//! every log line that prints a URL).
//!
//! | call | endpoint | source |
//! |---|---|---|
//! | resend a period | `GET /v1/web_hooks/resend?initial_date=AAAA-MM-DD&final_date=AAAA-MM-DD[&event=...]` | https://dev.iugu.com/reference/reenviar-gatilho-por-período |
//! | an invoice's deliveries | `GET /v1/web_hook_logs/{invoice_id}` | https://dev.iugu.com/reference/logs |
//! | retry one delivery | `GET /v1/web_hook_logs/{log_id}/retry` | https://dev.iugu.com/docs/reenviar-gatilhos-para-o-webhook ("Disparar novamente um gatilho específico") |
//! | invoices changed since | `GET /v1/invoices?updated_since=AAAA-MM-DDThh:mm:ss-03:00&start=N&limit=M` | https://dev.iugu.com/reference/paginação, https://dev.iugu.com/changelog?page=7 (the `updated_since` format) |
//!
//! Where the reference is silent, this client assumes (and says so in docs/operations.md):
//! - the resend's parameter names are `initial_date` / `final_date` (the reference page lists
//!   them only in its interactive form; public iugu clients send these names) and `event` is
//!   optional (left out, iugu resends every event of the period);
//! - a delivery "got a 200" when the log's `error` field (iugu puts the HTTP status our URL
//!   answered there, `"200"` in the documented example) is 200;
//! - the retry answers a non-JSON body (`{ "Hook reenviado!" }` in the guide): any 2xx is
//!   success, the body is not read;
//! - `totalItems` counts every invoice of the account "independentemente dos parâmetros de
//!   pesquisa" (the guide above), so paging stops at the first short page, not at `totalItems`.

use std::future::Future;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::RecoverError;
use crate::windows::{format_date, Window, IUGU_OFFSET};

pub const DEFAULT_BASE_URL: &str = "https://api.iugu.com/v1";

/// iugu's documented maximum page size for list endpoints.
pub const MAX_PAGE_SIZE: u32 = 100;

/// A request iugu accepted, and after how many attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub attempts: u32,
}

/// One delivery of a notification, as iugu logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookLog {
    pub id: String,
    /// The notification's event, from the logged body.
    pub event: Option<String>,
    /// The HTTP status our URL answered, as iugu logged it (`error`).
    pub answered: Option<String>,
}

impl WebhookLog {
    pub fn delivered(&self) -> bool {
        self.answered.as_deref() == Some("200")
    }
}

/// An invoice as the list endpoint returns it (only what a reconcile reads; the rest of the
/// invoice, personal data included, is never deserialised).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvoicePage {
    #[serde(rename = "totalItems", default)]
    pub total_items: u64,
    #[serde(default)]
    pub items: Vec<Invoice>,
}

/// What this tool asks of iugu. The HTTP client below is the real one; tests run it against
/// a local fake of these endpoints.
pub trait IuguApi {
    /// Asks iugu to resend the notifications of one window (at most 3 days).
    fn resend_period(
        &self,
        window: Window,
        event: Option<&str>,
    ) -> impl Future<Output = Result<Accepted, RecoverError>>;

    /// Every delivery iugu logged for one invoice.
    fn webhook_logs(
        &self,
        invoice_id: &str,
    ) -> impl Future<Output = Result<Vec<WebhookLog>, RecoverError>>;

    /// Asks iugu to deliver one logged notification again.
    fn retry_delivery(&self, log_id: &str) -> impl Future<Output = Result<Accepted, RecoverError>>;

    /// One page of the invoices updated since `since`.
    fn invoices_updated_since(
        &self,
        since: OffsetDateTime,
        start: u64,
        limit: u32,
    ) -> impl Future<Output = Result<InvoicePage, RecoverError>>;
}

/// Bounded retries with exponential backoff, for 429, 5xx and no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the first retry; doubled before each next one.
    pub base: Duration,
    /// No wait is longer, whatever iugu's `Retry-After` says.
    pub max: Duration,
}

impl RetryPolicy {
    /// 5 attempts over at most about 15 s (1, 2, 4, 8 s), unless iugu asks for longer.
    pub const STANDARD: RetryPolicy = RetryPolicy {
        attempts: 5,
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    /// The wait before retry number `retry` (1 for the first retry). A `Retry-After` from iugu
    /// wins over the schedule, within `max`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let scheduled = self.base.saturating_mul(factor);
        retry_after.unwrap_or(scheduled).min(self.max)
    }
}

/// iugu's API over HTTPS.
pub struct HttpIugu {
    http: reqwest::Client,
    base: Url,
    token: String,
    retry: RetryPolicy,
}

// Written by hand so that no `{:?}` can ever print the token.
impl std::fmt::Debug for HttpIugu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIugu")
            .field("base", &self.base.as_str())
            .field("token", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

/// A request to iugu: a form body when given; `idempotent`: safe to send again after a failure.
struct Request<'a> {
    method: reqwest::Method,
    what: &'a str,
    url: Url,
    form: Option<&'a [(&'a str, &'a str)]>,
    idempotent: bool,
}

/// A response read whole.
struct Answer {
    status: StatusCode,
    body: String,
    attempts: u32,
}

impl HttpIugu {
    pub fn new(base_url: &str, token: &str, retry: RetryPolicy) -> Result<Self, RecoverError> {
        let mut base = Url::parse(base_url).map_err(|e| {
            RecoverError::Refused(format!("IUGU_API_URL `{base_url}` is not a URL: {e}"))
        })?;
        if base.cannot_be_a_base() {
            return Err(RecoverError::Refused(format!(
                "IUGU_API_URL `{base_url}` cannot hold paths"
            )));
        }
        // `Url::join` would drop the last segment of `.../v1`; paths are pushed instead.
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("recover/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RecoverError::Refused(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpIugu {
            http,
            base,
            token: token.to_owned(),
            retry,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends a GET until iugu answers something final: 2xx (returned), 401/403 (the token),
    /// another 4xx (rejected), or 429/5xx/no answer `attempts` times (gave up).
    async fn get(&self, what: &str, url: Url) -> Result<Answer, RecoverError> {
        self.send(Request {
            method: reqwest::Method::GET,
            what,
            url,
            form: None,
            idempotent: true,
        })
        .await
    }

    /// Sends `request` until iugu answers something final, as [`HttpIugu::get`]. A request that
    /// is not idempotent (creating a webhook: the same call twice makes two) is retried only
    /// after a 429, which iugu answers before doing anything; after a 5xx or no answer it may
    /// have been done, so the caller looks before trying again.
    async fn send(&self, request: Request<'_>) -> Result<Answer, RecoverError> {
        let Request {
            method,
            what,
            url,
            form,
            idempotent,
        } = request;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts.max(1) {
            if attempt > 1 {
                let wait = self.retry.delay(attempt - 1, retry_after(&last));
                tokio::time::sleep(wait).await;
            }
            let mut builder = self
                .http
                .request(method.clone(), url.clone())
                .basic_auth(&self.token, Some(""))
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(form) = form {
                builder = builder.form(form);
            }
            let sent = builder.send().await;
            let response = match sent {
                Ok(response) => response,
                Err(e) if idempotent => {
                    // No answer (refused, reset, timed out): worth another try.
                    last = format!("no answer ({})", e.without_url());
                    continue;
                }
                Err(e) => {
                    return Err(RecoverError::GaveUp {
                        attempts: attempt,
                        what: what.to_owned(),
                        last: format!("no answer ({})", e.without_url()),
                    })
                }
            };
            let status = response.status();
            let wait_hint = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            if status.is_success() {
                return Ok(Answer {
                    status,
                    body,
                    attempts: attempt,
                });
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RecoverError::Unauthorized {
                    status: status.as_u16(),
                    what: what.to_owned(),
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                last = format!("HTTP {}", status.as_u16());
                if let Some(hint) = wait_hint {
                    last.push_str(&format!(" (Retry-After: {hint})"));
                }
                if idempotent || status == StatusCode::TOO_MANY_REQUESTS {
                    continue;
                }
                return Err(RecoverError::GaveUp {
                    attempts: attempt,
                    what: what.to_owned(),
                    last,
                });
            }
            return Err(RecoverError::Rejected {
                status: status.as_u16(),
                what: what.to_owned(),
                message: error_message(&body),
            });
        }
        Err(RecoverError::GaveUp {
            attempts: self.retry.attempts.max(1),
            what: what.to_owned(),
            last,
        })
    }
}

/// `Retry-After` in seconds, as recorded in the last failure's text.
fn retry_after(last: &str) -> Option<Duration> {
    let (_, rest) = last.split_once("Retry-After: ")?;
    let seconds = rest.trim_end_matches(')').trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

/// What iugu said went wrong: its `errors` or `message` field, else the start of the body.
/// (iugu's error answers name fields and limits, not customers.)
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let field = v.get("errors").or_else(|| v.get("message"))?.clone();
            Some(match field {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    let mut short: String = text.chars().take(200).collect();
    if short.is_empty() {
        short = "(no message)".to_owned();
    }
    short
}

/// `updated_since` as the reference writes it: `AAAA-MM-DDThh:mm:ss-03:00`.
pub fn format_updated_since(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    let local = t.to_offset(IUGU_OFFSET);
    local.format(fmt).unwrap_or_else(|_| local.to_string())
}

#[derive(Deserialize)]
struct RawLog {
    id: serde_json::Value,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl IuguApi for HttpIugu {
    async fn resend_period(
        &self,
        window: Window,
        event: Option<&str>,
    ) -> Result<Accepted, RecoverError> {
        let mut url = self.url(&["web_hooks", "resend"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("initial_date", &format_date(window.from));
            query.append_pair("final_date", &format_date(window.to));
            if let Some(event) = event {
                query.append_pair("event", event);
            }
        }
        let answer = self.get(&format!("the resend of {window}"), url).await?;
        Ok(Accepted {
            attempts: answer.attempts,
        })
    }

    async fn webhook_logs(&self, invoice_id: &str) -> Result<Vec<WebhookLog>, RecoverError> {
        let what = format!("the webhook logs of invoice {invoice_id}");
        let answer = self
            .get(&what, self.url(&["web_hook_logs", invoice_id]))
            .await?;
        let bad = |why: String| RecoverError::BadAnswer {
            what: what.clone(),
            why,
        };
        let raw: Vec<RawLog> = serde_json::from_str(&answer.body)
            .map_err(|e| bad(format!("expected a JSON list of logs ({e})")))?;
        raw.into_iter()
            .map(|log| {
                let id = as_text(&log.id).ok_or_else(|| bad("a log has no id".to_owned()))?;
                Ok(WebhookLog {
                    id,
                    event: log
                        .data
                        .as_ref()
                        .and_then(|d| d.get("event"))
                        .and_then(as_text),
                    answered: log.error.as_ref().and_then(as_text),
                })
            })
            .collect()
    }

    async fn retry_delivery(&self, log_id: &str) -> Result<Accepted, RecoverError> {
        let answer = self
            .get(
                &format!("the retry of delivery {log_id}"),
                self.url(&["web_hook_logs", log_id, "retry"]),
            )
            .await?;
        debug_assert!(answer.status.is_success());
        Ok(Accepted {
            attempts: answer.attempts,
        })
    }

    async fn invoices_updated_since(
        &self,
        since: OffsetDateTime,
        start: u64,
        limit: u32,
    ) -> Result<InvoicePage, RecoverError> {
        let mut url = self.url(&["invoices"]);
        url.query_pairs_mut()
            .append_pair("updated_since", &format_updated_since(since))
            .append_pair("start", &start.to_string())
            .append_pair("limit", &limit.min(MAX_PAGE_SIZE).to_string());
        let what = format!("the list of invoices (start {start})");
        let answer = self.get(&what, url).await?;
        serde_json::from_str(&answer.body).map_err(|e| RecoverError::BadAnswer {
            what,
            why: format!("expected {{\"totalItems\": ..., \"items\": [...]}} ({e})"),
        })
    }
}

/// One webhook ("gatilho") as iugu lists it: what `recover register` reads. Its `authorization`
/// value is never kept (iugu may list it; it is the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebHook {
    pub id: String,
    pub event: String,
    pub url: String,
}

/// The webhook calls `recover register` makes: list, create, delete, and the events the account
/// may register. Creating is not idempotent (the same call twice makes two webhooks) and an
/// account holds at most [`WEB_HOOK_LIMIT`]; `register` lists first and plans within the limit.
///
/// | call | endpoint | source |
/// |---|---|---|
/// | list | `GET /v1/web_hooks` | https://dev.iugu.com/reference (Gatilhos) |
/// | create | `POST /v1/web_hooks` (`event`, `url`, optional `authorization`) | https://dev.iugu.com/docs/gatilhos-da-iugu ("Criar Gatilho") |
/// | delete | `DELETE /v1/web_hooks/{id}` | https://dev.iugu.com/reference (Gatilhos) |
/// | events | `GET /v1/web_hooks/supported_events` | https://dev.iugu.com/docs/gatilhos-da-iugu ("Listar Eventos Disponíveis") |
///
/// Assumed where iugu's reference is silent (docs/deploy.md says so): the list is a JSON array
/// of `{id, event, url, ...}` (or an object with `items`); `supported_events` is a JSON array
/// of names (or of objects with `event` or `name`, or an object with `events` or `items`);
/// `event=all` subscribes to every event, as public clients register it.
pub trait WebHooksApi {
    fn list_web_hooks(&self) -> impl Future<Output = Result<Vec<WebHook>, RecoverError>>;
    fn create_web_hook(
        &self,
        event: &str,
        url: &str,
        authorization: &str,
    ) -> impl Future<Output = Result<WebHook, RecoverError>>;
    fn delete_web_hook(&self, id: &str) -> impl Future<Output = Result<(), RecoverError>>;
    fn supported_events(&self) -> impl Future<Output = Result<Vec<String>, RecoverError>>;
}

/// How many webhooks an iugu account holds: public SDKs report that a 21st is refused (422).
pub const WEB_HOOK_LIMIT: usize = 20;

/// The array in an answer: the answer itself, or its field `key` (or `items`).
fn listed<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a Vec<serde_json::Value>> {
    value
        .as_array()
        .or_else(|| value.get(key).and_then(serde_json::Value::as_array))
        .or_else(|| value.get("items").and_then(serde_json::Value::as_array))
}

fn web_hook(value: &serde_json::Value) -> Option<WebHook> {
    Some(WebHook {
        id: as_text(value.get("id")?)?,
        event: as_text(value.get("event")?)?,
        url: as_text(value.get("url")?)?,
    })
}

impl WebHooksApi for HttpIugu {
    async fn list_web_hooks(&self) -> Result<Vec<WebHook>, RecoverError> {
        let what = "the list of webhooks";
        let answer = self.get(what, self.url(&["web_hooks"])).await?;
        let bad = |why: &str| RecoverError::BadAnswer {
            what: what.to_owned(),
            why: why.to_owned(),
        };
        let value: serde_json::Value =
            serde_json::from_str(&answer.body).map_err(|_| bad("expected JSON"))?;
        listed(&value, "web_hooks")
            .ok_or_else(|| bad("expected a JSON list of webhooks"))?
            .iter()
            .map(|v| web_hook(v).ok_or_else(|| bad("a webhook has no id, event or url")))
            .collect()
    }

    async fn create_web_hook(
        &self,
        event: &str,
        url: &str,
        authorization: &str,
    ) -> Result<WebHook, RecoverError> {
        let what = format!("the creation of the `{event}` webhook");
        let form = [
            ("event", event),
            ("url", url),
            ("authorization", authorization),
        ];
        let answer = self
            .send(Request {
                method: reqwest::Method::POST,
                what: &what,
                url: self.url(&["web_hooks"]),
                form: Some(&form),
                idempotent: false,
            })
            .await?;
        let created = serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("id").and_then(as_text));
        Ok(WebHook {
            id: created.unwrap_or_default(),
            event: event.to_owned(),
            url: url.to_owned(),
        })
    }

    async fn delete_web_hook(&self, id: &str) -> Result<(), RecoverError> {
        self.send(Request {
            method: reqwest::Method::DELETE,
            what: &format!("the removal of webhook {id}"),
            url: self.url(&["web_hooks", id]),
            form: None,
            idempotent: true,
        })
        .await
        .map(|_| ())
    }

    async fn supported_events(&self) -> Result<Vec<String>, RecoverError> {
        let what = "the list of supported events";
        let answer = self
            .get(what, self.url(&["web_hooks", "supported_events"]))
            .await?;
        let bad = || RecoverError::BadAnswer {
            what: what.to_owned(),
            why: "expected a JSON list of event names".to_owned(),
        };
        let value: serde_json::Value = serde_json::from_str(&answer.body).map_err(|_| bad())?;
        listed(&value, "events")
            .ok_or_else(bad)?
            .iter()
            .map(|v| {
                as_text(v)
                    .or_else(|| v.get("event").and_then(as_text))
                    .or_else(|| v.get("name").and_then(as_text))
                    .ok_or_else(bad)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy::STANDARD;
        let waits: Vec<u64> = (1..=7).map(|r| policy.delay(r, None).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))).as_secs(), 7);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(600))).as_secs(),
            30
        );
        assert_eq!(
            retry_after("HTTP 429 (Retry-After: 12)"),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after("HTTP 503"), None);
    }

    #[test]
    fn updated_since_is_written_in_sao_paulo_time() {
        let t = time::macros::datetime!(2026-11-20 03:00 UTC);
        assert_eq!(format_updated_since(t), "2026-11-20T00:00:00-03:00");
    }

    #[test]
    fn error_messages_prefer_iugus_fields() {
        assert_eq!(
            error_message(r#"{"errors":"O maior intervalo permitido é de 3 dias"}"#),
            "O maior intervalo permitido é de 3 dias"
        );
        assert_eq!(error_message("  "), "(no message)");
        assert_eq!(error_message(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let api = HttpIugu::new(DEFAULT_BASE_URL, "secret-token-123", RetryPolicy::STANDARD)
            .expect("client");
        let shown = format!("{api:?}");
        assert!(!shown.contains("secret-token-123"), "{shown}");
    }

    #[test]
    fn paths_are_appended_to_the_base_path() {
        let api =
            HttpIugu::new("http://127.0.0.1:9/v1/", "t", RetryPolicy::STANDARD).expect("client");
        assert_eq!(
            api.url(&["web_hook_logs", "AB/C", "retry"]).as_str(),
            "http://127.0.0.1:9/v1/web_hook_logs/AB%2FC/retry"
        );
    }
}
