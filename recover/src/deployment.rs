//! A deployed stack as the deployment commands (`urls`, `register`, `smoke`) see it: its
//! outputs (CloudFormation `DescribeStacks`) and its two gateways' tokens (their secrets).
//! No value read here is ever logged; only `urls` prints the tokens, on purpose.

use std::collections::BTreeMap;

use reqwest::Url;
use serde_json::Value;
use webhook_iugu::Family;

use crate::error::RecoverError;

/// The outputs the commands read (template.yaml, `Outputs`).
pub mod output {
    pub const API: &str = "ApiEndpoint";
    pub const TABLE: &str = "EventsTableName";
    pub const QUEUE: &str = "EventsQueueUrl";
    pub const IUGU_SECRET: &str = "IuguWebhookSecretArn";
    pub const IPAG_SECRET: &str = "IpagWebhookSecretArn";
    pub const ALARM_TEST: &str = "AlarmTestName";
}

/// A deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    /// The HTTP API's base URL, without a trailing `/`.
    pub api: String,
    pub table: String,
    pub queue_url: String,
    pub iugu_secret: String,
    pub ipag_secret: String,
    /// An alarm to fire by hand (`aws cloudwatch set-alarm-state`).
    pub alarm_test: Option<String>,
}

impl Stack {
    /// The stack `name`'s outputs, through CloudFormation.
    pub async fn describe(
        client: &aws_sdk_cloudformation::Client,
        name: &str,
    ) -> Result<Stack, RecoverError> {
        let described = client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                RecoverError::aws(
                    "CloudFormation DescribeStacks",
                    crate::event_table::aws_message(&e),
                )
            })?;
        let stack = described
            .stacks
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| RecoverError::Refused(format!("no stack `{name}` in this region")))?;
        let outputs = stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value?)))
            .collect();
        Stack::from_outputs(name, &outputs)
    }

    /// A stack from its outputs; every one the commands need must be there.
    pub fn from_outputs(
        name: &str,
        outputs: &BTreeMap<String, String>,
    ) -> Result<Stack, RecoverError> {
        let get = |key: &str| {
            outputs.get(key).cloned().ok_or_else(|| {
                RecoverError::Refused(format!(
                    "stack `{name}` has no output {key}: deploy this version of template.yaml first"
                ))
            })
        };
        let api = get(output::API)?;
        Url::parse(&api).map_err(|e| {
            RecoverError::Refused(format!("output {} `{api}` is not a URL: {e}", output::API))
        })?;
        Ok(Stack {
            name: name.to_owned(),
            api: api.trim_end_matches('/').to_owned(),
            table: get(output::TABLE)?,
            queue_url: get(output::QUEUE)?,
            iugu_secret: get(output::IUGU_SECRET)?,
            ipag_secret: get(output::IPAG_SECRET)?,
            alarm_test: outputs.get(output::ALARM_TEST).cloned(),
        })
    }

    /// The URL of a route (`/iugu/events`) on this stack's API.
    pub fn route(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// The host every URL of this stack has: a webhook whose URL has it is this stack's.
    pub fn host(&self) -> Option<String> {
        Url::parse(&self.api)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    }
}

/// iugu's routes: one per family, and `/iugu/events` for every event (the last).
pub fn iugu_routes() -> Vec<(Family, &'static str)> {
    let mut routes: Vec<_> = Family::ALL
        .into_iter()
        .filter(|f| *f != Family::Other)
        .map(|f| (f, webhook_iugu::route_path(f)))
        .collect();
    routes.push((Family::Other, webhook_iugu::route_path(Family::Other)));
    routes
}

/// A webhook token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The two gateways' current tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub iugu: Token,
    pub ipag: Token,
}

impl Tokens {
    /// Reads both secrets of `stack`.
    pub async fn read(
        client: &aws_sdk_secretsmanager::Client,
        stack: &Stack,
    ) -> Result<Tokens, RecoverError> {
        Ok(Tokens {
            iugu: token(client, &stack.iugu_secret, webhook_iugu::NAME).await?,
            ipag: token(client, &stack.ipag_secret, webhook_ipag::NAME).await?,
        })
    }
}

/// The `token` of `gateway`'s secret `id` (`{"gateway": ..., "token": ...}`; docs/secrets.md).
pub async fn token(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    gateway: &str,
) -> Result<Token, RecoverError> {
    let text = webhook_aws::secrets::secret_text(client, id)
        .await
        .map_err(|e| match e {
            webhook_aws::secrets::ReadError::Unreadable(why) => {
                RecoverError::aws("Secrets Manager GetSecretValue", why)
            }
            webhook_aws::secrets::ReadError::Binary => {
                RecoverError::Refused(format!("the secret {id} holds binary data, not JSON"))
            }
        })?;
    token_of(&text, gateway).map_err(|why| RecoverError::Refused(format!("the secret {id}: {why}")))
}

/// The token in a secret's text, which must be `gateway`'s. The error never holds the value.
pub fn token_of(text: &str, gateway: &str) -> Result<Token, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| "it is not a JSON object".to_owned())?;
    if value.get("gateway").and_then(Value::as_str) != Some(gateway) {
        return Err(format!(
            "it is not {gateway}'s secret (its \"gateway\" differs)"
        ));
    }
    value
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(|t| Token(t.to_owned()))
        .ok_or_else(|| "it has no \"token\"".to_owned())
}

/// `url` with the value of its `token` query parameter hidden, for printing.
pub fn redacted(url: &str) -> String {
    match url.split_once("token=") {
        Some((before, after)) => {
            let rest = after.find('&').map_or("", |i| &after[i..]);
            format!("{before}token=<token>{rest}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> BTreeMap<String, String> {
        [
            (
                output::API,
                "https://abc.execute-api.sa-east-1.amazonaws.com/",
            ),
            (output::TABLE, "events"),
            (output::QUEUE, "https://sqs/q.fifo"),
            (output::IUGU_SECRET, "arn:iugu"),
            (output::IPAG_SECRET, "arn:ipag"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_stack_needs_its_outputs() {
        let stack = Stack::from_outputs("webhooks", &outputs()).expect("a stack");
        assert_eq!(stack.api, "https://abc.execute-api.sa-east-1.amazonaws.com");
        assert_eq!(
            stack.route("/iugu/events"),
            "https://abc.execute-api.sa-east-1.amazonaws.com/iugu/events"
        );
        assert_eq!(
            stack.host().as_deref(),
            Some("abc.execute-api.sa-east-1.amazonaws.com")
        );
        let mut missing = outputs();
        missing.remove(output::API);
        let refused = Stack::from_outputs("webhooks", &missing);
        assert!(
            matches!(&refused, Err(RecoverError::Refused(m)) if m.contains("no output ApiEndpoint")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_token_is_read_from_its_own_gateways_secret_only() {
        let iugu = r#"{"gateway": "iugu", "token": "tok-0123456789abcdef"}"#;
        assert_eq!(
            token_of(iugu, "iugu").map(|t| t.expose().to_owned()),
            Ok("tok-0123456789abcdef".to_owned())
        );
        let wrong = token_of(iugu, "ipag");
        assert!(
            matches!(&wrong, Err(why) if !why.contains("tok-")),
            "{wrong:?}"
        );
        assert!(token_of("not json", "iugu").is_err());
        assert!(token_of(r#"{"gateway": "iugu"}"#, "iugu").is_err());
        assert_eq!(
            format!("{:?}", token_of(iugu, "iugu")),
            "Ok(Token(<redacted>))"
        );
    }

    #[test]
    fn printed_urls_hide_the_token() {
        assert_eq!(
            redacted("https://h/ipag/events?token=abc123&x=1"),
            "https://h/ipag/events?token=<token>&x=1"
        );
        assert_eq!(redacted("https://h/iugu/events"), "https://h/iugu/events");
    }
}
