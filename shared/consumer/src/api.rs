//! iugu's and iPag's APIs over HTTPS: the lookups that confirm a notification
//! ([`crate::confirm`]).
//!
//! | lookup | call | authentication |
//! |---|---|---|
//! | iugu invoice | `GET {IUGU_API_URL}/v1/invoices/{id}` | HTTP Basic, the API token as user, no password (https://dev.iugu.com/reference, "Autenticação") |
//! | iugu subscription | `GET {IUGU_API_URL}/v1/subscriptions/{id}` | the same |
//! | iPag transaction | `GET {IPAG_API_URL}/service/resources/transactions?id={id}` | HTTP Basic, the API id and key (https://developers.ipag.com.br/pt-br/transaction, "Consultar Transação") |
//!
//! `IUGU_API_URL` is `https://api.iugu.com` and `IPAG_API_URL` `https://api.ipag.com.br`
//! unless set (iPag's sandbox: `https://sandbox.ipag.com.br`; the local run: the stand-in). The
//! token goes in the header only, never in a URL.
//!
//! Neither gateway documents a rate limit for these calls. Both are respected as HTTP asks:
//! a 429 waits its `Retry-After` (seconds) or, without one, an exponential backoff with jitter;
//! a 5xx or no answer is retried the same way; all within [`Retry::budget`], after which the
//! message fails (SQS delivers it again later) and nothing is booked. Each instance makes one
//! call at a time, and the function's `MaximumConcurrency` bounds the instances.
//! Only the fields compared are read from an answer; the rest (the payer's name, document,
//! e-mail, card) is never deserialised, logged or kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::confirm::{ApiError, GatewayApi, Lookup, Snapshot};
use crate::credentials::ApiCredentials;

pub const IUGU_API_URL: &str = "https://api.iugu.com";
pub const IPAG_API_URL: &str = "https://api.ipag.com.br";

/// Waits between attempts. A trait so that tests record the waits instead of sleeping.
pub trait Pause: Send + Sync {
    fn pause(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Waits on tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

impl Pause for TokioPause {
    fn pause(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(wait))
    }
}

/// How often and how long a lookup is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff; doubled each time, with jitter (half to all of it).
    pub base: Duration,
    /// The most time all the waits of one lookup may add up to; a `Retry-After` beyond it
    /// fails the lookup at once.
    pub budget: Duration,
    /// One attempt, connection included.
    pub timeout: Duration,
}

impl Default for Retry {
    /// 4 attempts, 0.2 s backoff, 5 s of waits, 2 s an attempt: at most about 13 s, within the
    /// consumer's reserve for a message (`consumer::RESERVE`, 8 s, plus the batch's margin).
    fn default() -> Self {
        Retry {
            attempts: 4,
            base: Duration::from_millis(200),
            budget: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
        }
    }
}

struct Iugu {
    base: Url,
    token: String,
}

struct Ipag {
    base: Url,
    id: String,
    key: String,
}

/// The gateways' APIs. Never prints a credential.
pub struct HttpGatewayApi {
    http: reqwest::Client,
    iugu: Option<Iugu>,
    ipag: Option<Ipag>,
    retry: Retry,
    pause: Arc<dyn Pause>,
}

impl std::fmt::Debug for HttpGatewayApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGatewayApi")
            .field("iugu", &self.iugu.as_ref().map(|i| i.base.as_str()))
            .field("ipag", &self.ipag.as_ref().map(|i| i.base.as_str()))
            .field("retry", &self.retry)
            .finish()
    }
}

impl HttpGatewayApi {
    /// The APIs at `iugu_url` and `ipag_url` with `credentials`.
    pub fn new(
        credentials: &ApiCredentials,
        iugu_url: &str,
        ipag_url: &str,
        retry: Retry,
        pause: Arc<dyn Pause>,
    ) -> Result<HttpGatewayApi, String> {
        let parse = |name: &str, url: &str| {
            Url::parse(url).map_err(|e| format!("{name} `{url}` is not a URL: {e}"))
        };
        let iugu_base = parse("IUGU_API_URL", iugu_url)?;
        let ipag_base = parse("IPAG_API_URL", ipag_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(retry.timeout)
            .timeout(retry.timeout)
            .user_agent(concat!("webhook-consumer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpGatewayApi {
            http,
            iugu: credentials.iugu_token().map(|token| Iugu {
                base: iugu_base,
                token: token.to_owned(),
            }),
            ipag: credentials.ipag().map(|(id, key)| Ipag {
                base: ipag_base,
                id: id.to_owned(),
                key: key.to_owned(),
            }),
            retry,
            pause,
        })
    }

    fn request(&self, lookup: &Lookup) -> Result<reqwest::RequestBuilder, ApiError> {
        let resource = lookup.resource();
        let with_path = |base: &Url, segments: &[&str]| {
            let mut url = base.clone();
            url.path_segments_mut()
                .map_err(|()| ApiError::Refused(resource, "the API URL cannot take a path".into()))?
                .pop_if_empty()
                .extend(segments);
            Ok::<Url, ApiError>(url)
        };
        match lookup {
            Lookup::IuguInvoice(id) | Lookup::IuguSubscription(id) => {
                let iugu = self.iugu.as_ref().ok_or(ApiError::NoCredentials("iugu"))?;
                let collection = match lookup {
                    Lookup::IuguInvoice(_) => "invoices",
                    _ => "subscriptions",
                };
                let url = with_path(&iugu.base, &["v1", collection, id])?;
                Ok(self.http.get(url).basic_auth(&iugu.token, Some("")))
            }
            Lookup::IpagTransaction(id) => {
                let ipag = self.ipag.as_ref().ok_or(ApiError::NoCredentials("iPag"))?;
                let mut url = with_path(&ipag.base, &["service", "resources", "transactions"])?;
                url.query_pairs_mut().append_pair("id", id);
                Ok(self.http.get(url).basic_auth(&ipag.id, Some(&ipag.key)))
            }
        }
    }
}

/// The wait before retry `retry` (1 for the first): `base` doubled each time, with jitter.
fn backoff(base: Duration, retry: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let full = base.saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(retry);
    // Half of it, plus up to the other half.
    let half = full / 2;
    let extra = half.as_millis() as u64;
    let jitter = if extra == 0 { 0 } else { h.finish() % extra };
    half + Duration::from_millis(jitter)
}

/// `Retry-After` in seconds, if the answer has one (an HTTP date is left to the backoff).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The fields compared, from an answer's JSON.
pub fn snapshot_of(lookup: &Lookup, body: &Value) -> Result<Snapshot, String> {
    match lookup {
        Lookup::IuguInvoice(_) => {
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .ok_or("the invoice has no status")?;
            Ok(Snapshot::IuguInvoice {
                status: status.to_owned(),
                paid_cents: int(body.get("paid_cents")),
                total_cents: int(body.get("total_cents")),
            })
        }
        Lookup::IuguSubscription(_) => Ok(Snapshot::IuguSubscription {
            active: body.get("active").and_then(Value::as_bool),
            suspended: body.get("suspended").and_then(Value::as_bool),
            expires_at: body
                .get("expires_at")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
        Lookup::IpagTransaction(_) => {
            // iPag answers a missing transaction with {"code": "404", "message": ...}.
            let code = body.get("code").and_then(|c| match c {
                Value::String(s) => s.parse::<u16>().ok(),
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                _ => None,
            });
            if code == Some(404) && body.get("attributes").is_none() {
                return Ok(Snapshot::Missing);
            }
            let attributes = body
                .get("attributes")
                .ok_or("the transaction has no attributes")?;
            Ok(Snapshot::IpagTransaction {
                status_code: attributes
                    .pointer("/status/code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u32::try_from(c).ok()),
                captured_cents: attributes
                    .get("captured_amount")
                    .and_then(crate::ipag::cents),
            })
        }
    }
}

impl GatewayApi for HttpGatewayApi {
    async fn lookup(&self, lookup: &Lookup) -> Result<Snapshot, ApiError> {
        let resource = lookup.resource();
        let gateway = match lookup {
            Lookup::IpagTransaction(_) => "iPag",
            _ => "iugu",
        };
        let mut waited = Duration::ZERO;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            let request = self.request(lookup)?;
            let wait = match request.send().await {
                Err(e) => {
                    // Never the URL: it holds the id only, but keep lines uniform.
                    last = format!("no answer ({})", e.without_url());
                    None
                }
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        let bytes = response.bytes().await.map_err(|e| {
                            ApiError::Unavailable(
                                gateway,
                                format!("the answer broke off ({})", e.without_url()),
                            )
                        })?;
                        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                            ApiError::Refused(
                                gateway,
                                format!("an unreadable {resource} ({:?})", e.classify()),
                            )
                        })?;
                        return snapshot_of(lookup, &body)
                            .map_err(|why| ApiError::Refused(gateway, why));
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Ok(Snapshot::Missing);
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        return Err(ApiError::Refused(
                            gateway,
                            format!("{status}: check the API credentials in the consumer's secret"),
                        ));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        last = "429 Too Many Requests".to_owned();
                        retry_after(&response)
                    } else if status.is_server_error() {
                        last = status.to_string();
                        None
                    } else {
                        return Err(ApiError::Refused(gateway, status.to_string()));
                    }
                }
            };
            if attempt == self.retry.attempts {
                break;
            }
            let wait = wait.unwrap_or_else(|| backoff(self.retry.base, attempt));
            if waited + wait > self.retry.budget {
                last.push_str(&format!("; the next try is {} s away", wait.as_secs()));
                break;
            }
            waited += wait;
            self.pause.pause(wait).await;
        }
        Err(ApiError::Unavailable(gateway, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_for_the_fields_compared_only() {
        let invoice = serde_json::json!({"id": "X", "status": "paid", "paid_cents": 1000,
            "total_cents": "1000", "payer_name": "Fulano"});
        let snap = snapshot_of(&Lookup::IuguInvoice("X".into()), &invoice).expect("reads");
        assert_eq!(
            snap,
            Snapshot::IuguInvoice {
                status: "paid".into(),
                paid_cents: Some(1000),
                total_cents: Some(1000)
            }
        );
        let missing = serde_json::json!({"code": "404", "message": "Transaction Not Found"});
        assert_eq!(
            snapshot_of(&Lookup::IpagTransaction("1".into()), &missing),
            Ok(Snapshot::Missing)
        );
        let tx = serde_json::json!({"id": 1, "attributes": {"status": {"code": 8},
            "captured_amount": 529.19, "customer": {"name": "Fulano"}}});
        assert_eq!(
            snapshot_of(&Lookup::IpagTransaction("1".into()), &tx),
            Ok(Snapshot::IpagTransaction {
                status_code: Some(8),
                captured_cents: Some(52919)
            })
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_within_each_step() {
        for retry in 1..=4 {
            let full = Duration::from_millis(200) * 2u32.pow(retry - 1);
            let wait = backoff(Duration::from_millis(200), retry);
            assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
        }
    }
}
