//! iPag's webhook registration: the three calls `recover register` makes, behind a trait, and
//! their HTTP client.
//!
//! Authentication: HTTP Basic with the merchant's API id as user and API key as password
//! (https://developers.ipag.com.br/pt-br/webhook). Base `https://api.ipag.com.br`, sandbox
//! `https://sandbox.ipag.com.br` (`IPAG_API_URL`).
//!
//! | call | endpoint |
//! |---|---|
//! | list | `GET /service/resources/webhooks` |
//! | create | `POST /service/resources/webhooks` (JSON: `http_method`, `url`, `description`, `actions`) |
//! | delete | `DELETE /service/resources/webhooks?id=<id>` |
//!
//! The list's shape is read leniently (iPag's page shows the creation only): a JSON array, or an
//! object with `data` (or `webhooks`); each webhook's `id`, `url` and `actions` at its top level
//! or under `attributes`.

use std::future::Future;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

use crate::error::RecoverError;

pub const DEFAULT_BASE_URL: &str = "https://api.ipag.com.br";

/// One webhook as iPag lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpagWebHook {
    pub id: String,
    pub url: String,
    pub actions: Vec<String>,
}

pub trait IpagWebHooksApi {
    fn list_web_hooks(&self) -> impl Future<Output = Result<Vec<IpagWebHook>, RecoverError>>;
    fn create_web_hook(
        &self,
        url: &str,
        actions: &[&str],
    ) -> impl Future<Output = Result<IpagWebHook, RecoverError>>;
    fn delete_web_hook(&self, id: &str) -> impl Future<Output = Result<(), RecoverError>>;
}

/// iPag's API over HTTPS. Every call is tried once: the operator runs `register` again, and it
/// lists before it creates.
pub struct HttpIpag {
    http: reqwest::Client,
    base: Url,
    id: String,
    key: String,
}

// Written by hand so that no `{:?}` can ever print the key.
impl std::fmt::Debug for HttpIpag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIpag")
            .field("base", &self.base.as_str())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl HttpIpag {
    pub fn new(base_url: &str, id: &str, key: &str) -> Result<Self, RecoverError> {
        let base = Url::parse(base_url).map_err(|e| {
            RecoverError::Refused(format!("IPAG_API_URL `{base_url}` is not a URL: {e}"))
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("recover/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RecoverError::Refused(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpIpag {
            http,
            base,
            id: id.to_owned(),
            key: key.to_owned(),
        })
    }

    fn url(&self) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["service", "resources", "webhooks"]);
        }
        url
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<String, RecoverError> {
        let response = request
            .basic_auth(&self.id, Some(&self.key))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| RecoverError::GaveUp {
                attempts: 1,
                what: what.to_owned(),
                last: format!("no answer ({})", e.without_url()),
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RecoverError::Rejected {
                status: status.as_u16(),
                what: what.to_owned(),
                message: "iPag refused the credentials: check IPAG_API_ID and IPAG_API_KEY"
                    .to_owned(),
            });
        }
        Err(RecoverError::Rejected {
            status: status.as_u16(),
            what: what.to_owned(),
            message: body.chars().take(200).collect(),
        })
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A webhook from iPag's answer: its fields at the top level or under `attributes`.
fn web_hook(v: &Value) -> Option<IpagWebHook> {
    let field = |name: &str| v.get(name).or_else(|| v.get("attributes")?.get(name));
    Some(IpagWebHook {
        id: text(v.get("id"))?,
        url: text(field("url"))?,
        actions: field("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| text(Some(x))).collect())
            .unwrap_or_default(),
    })
}

impl IpagWebHooksApi for HttpIpag {
    async fn list_web_hooks(&self) -> Result<Vec<IpagWebHook>, RecoverError> {
        let what = "iPag's list of webhooks";
        let body = self.send(what, self.http.get(self.url())).await?;
        let bad = |why: &str| RecoverError::BadAnswer {
            what: what.to_owned(),
            why: why.to_owned(),
        };
        let value: Value = serde_json::from_str(&body).map_err(|_| bad("expected JSON"))?;
        let list = value
            .as_array()
            .or_else(|| value.get("data").and_then(Value::as_array))
            .or_else(|| value.get("webhooks").and_then(Value::as_array))
            .ok_or_else(|| bad("expected a list of webhooks"))?;
        list.iter()
            .map(|v| web_hook(v).ok_or_else(|| bad("a webhook has no id or url")))
            .collect()
    }

    async fn create_web_hook(
        &self,
        url: &str,
        actions: &[&str],
    ) -> Result<IpagWebHook, RecoverError> {
        let body = json!({
            "http_method": "POST",
            "url": url,
            "description": "webhook front door",
            "actions": actions,
        });
        let answer = self
            .send(
                "the creation of iPag's webhook",
                self.http.post(self.url()).json(&body),
            )
            .await?;
        let created = serde_json::from_str::<Value>(&answer).ok();
        let id = created
            .as_ref()
            .and_then(|v| text(v.get("id")).or_else(|| text(v.get("data")?.get("id"))))
            .unwrap_or_default();
        Ok(IpagWebHook {
            id,
            url: url.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    async fn delete_web_hook(&self, id: &str) -> Result<(), RecoverError> {
        let mut url = self.url();
        url.query_pairs_mut().append_pair("id", id);
        self.send(
            &format!("the removal of iPag's webhook {id}"),
            self.http.delete(url),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_read_at_the_top_or_under_attributes() {
        let flat =
            json!({"id": 7, "url": "https://x/ipag/events", "actions": ["TransactionCaptured"]});
        let nested = json!({"id": "8", "attributes": {"url": "https://y", "actions": []}});
        assert_eq!(
            web_hook(&flat),
            Some(IpagWebHook {
                id: "7".into(),
                url: "https://x/ipag/events".into(),
                actions: vec!["TransactionCaptured".into()]
            })
        );
        assert_eq!(
            web_hook(&nested).map(|w| w.url),
            Some("https://y".to_owned())
        );
        assert_eq!(web_hook(&json!({"url": "https://z"})), None);
    }

    #[test]
    fn the_path_goes_after_the_base_and_the_key_never_shows() {
        let api =
            HttpIpag::new("https://sandbox.ipag.com.br/", "id", "key-secret-1").expect("client");
        assert_eq!(
            api.url().as_str(),
            "https://sandbox.ipag.com.br/service/resources/webhooks"
        );
        assert!(!format!("{api:?}").contains("key-secret-1"));
    }
}
