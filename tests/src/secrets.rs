//! The gateways' webhook secrets in the local server (moto's Secrets Manager), shaped as
//! `template.yaml` creates them (see `webhook_lambda::secrets`).

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::{moto, sdk_config};

/// A Secrets Manager client against the local server.
pub async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(&moto().endpoint).await)
}

/// Creates a secret of its own with `value`, and returns its ARN.
pub async fn create(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    client
        .create_secret()
        .name(format!("webhooks-{}-{n}", std::process::id()))
        .secret_string(value)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN")
}

/// Stores `value` as the secret's new current version (what `aws secretsmanager
/// put-secret-value` does in the rotation procedure).
pub async fn put(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("put secret value");
}

/// iugu's secret: its token and, during a rotation, the previous one.
pub fn iugu(token: &str, previous: Option<&str>) -> String {
    let mut value = json!({ "gateway": "iugu", "token": token });
    if let Some(previous) = previous {
        value["previous_token"] = json!(previous);
    }
    value.to_string()
}

/// iPag's secret: its token, the previous one, and the signing key (iPag's API key).
pub fn ipag(token: &str, previous: Option<&str>, signing_key: Option<&str>) -> String {
    let mut value = json!({ "gateway": "ipag", "token": token });
    if let Some(previous) = previous {
        value["previous_token"] = json!(previous);
    }
    if let Some(key) = signing_key {
        value["signing_key"] = json!(key);
    }
    value.to_string()
}
