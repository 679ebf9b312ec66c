//! `recover smoke`: proof that a deployed stack works, end to end, without disturbing the
//! consumers. It posts one authenticated notification to the stack's URL, as iugu delivers them
//! (`POST /iugu/events`, a form body, the token in `Authorization: Basic`), then reads it back:
//! the answer, the stored item and the entity's head in the table (forwarded once the queue took
//! it), and the queue.
//!
//! The notification is `event=smoke.test` for the entity `smoke#smoke-<time>` (its own FIFO
//! group, so it holds up no real entity). Consumers skip event `smoke.test` (docs/envelope.md).
//! By default the message is left in the queue for them to skip: receiving from a queue that
//! consumers read would hide their messages and count a receive against each. With `--receive`
//! (a queue no consumer reads yet, e.g. right after the first deploy) it is received and
//! deleted, and only if the queue was empty before the post; any other message seen meanwhile is
//! made visible again at once, and said so.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;

use crate::deployment::{Stack, Token};
use crate::error::RecoverError;
use webhook_aws::operator::queue;

use crate::event_table::EventTable;
use crate::report::Table;

/// The smoke test's event: no consumer acts on it.
pub const EVENT: &str = "smoke.test";

/// How long to look for the message with `--receive`.
const RECEIVE_FOR: Duration = Duration::from_secs(20);

/// The notification: its body and the entity key the functions give it.
pub fn notification(now: OffsetDateTime) -> Result<(String, String), RecoverError> {
    let id = format!("smoke-{}", now.unix_timestamp_nanos());
    let body = format!("event={EVENT}&data%5Bid%5D={id}&data%5Bstatus%5D=smoke");
    let envelope = webhook_iugu::parse(body.as_bytes(), now).map_err(|e| {
        RecoverError::Refused(format!("the smoke notification does not parse: {e}"))
    })?;
    Ok((body, envelope.entity_key.as_str().to_owned()))
}

/// What `smoke` saw, one line per step, and whether every step passed.
#[derive(Debug, Default)]
pub struct Seen {
    pub lines: Vec<(String, bool, String)>,
}

impl Seen {
    fn step(&mut self, what: &str, ok: bool, detail: impl Into<String>) {
        self.lines.push((what.to_owned(), ok, detail.into()));
    }

    pub fn passed(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|(_, ok, _)| *ok)
    }

    pub fn render(&self) -> String {
        let mut table = Table::new(&["step", "result", "what was seen"]);
        for (what, ok, detail) in &self.lines {
            table.row(vec![
                what.clone(),
                if *ok { "ok" } else { "FAILED" }.to_owned(),
                detail.clone(),
            ]);
        }
        let mut out = table.render();
        out.push_str(if self.passed() {
            "smoke: the stack stored and forwarded the notification\n"
        } else {
            "smoke: FAILED (see above)\n"
        });
        out
    }
}

/// What the commands need of AWS and the stack.
pub struct Target<'a> {
    pub stack: &'a Stack,
    pub token: &'a Token,
    pub table: &'a EventTable,
    pub sqs: &'a aws_sdk_sqs::Client,
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), RecoverError> {
    queue::depth(sqs, url)
        .await
        .map_err(|why| RecoverError::aws("SQS GetQueueAttributes", why))
}

/// Runs the smoke test. An AWS call that fails is an error; a step that sees something wrong is
/// a failed line of [`Seen`].
pub async fn smoke(
    target: &Target<'_>,
    receive: bool,
    now: OffsetDateTime,
) -> Result<Seen, RecoverError> {
    let Target {
        stack,
        token,
        table,
        sqs,
    } = target;
    let mut seen = Seen::default();
    if receive {
        let (visible, in_flight) = queue_depth(sqs, &stack.queue_url).await?;
        if visible + in_flight > 0 {
            return Err(RecoverError::Refused(format!(
                "--receive: the queue holds {} messages ({visible} visible, {in_flight} being \
                 read): a consumer may be reading it, and receiving would hide its messages. \
                 Run without --receive: the smoke message then stays for consumers to skip \
                 (event {EVENT})",
                visible + in_flight
            )));
        }
    }

    let (body, entity_key) = notification(now)?;
    let url = stack.route(webhook_iugu::route_path(webhook_iugu::Family::Other));
    let basic = base64::engine::general_purpose::STANDARD.encode(token.expose());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| RecoverError::Refused(format!("cannot build the HTTP client: {e}")))?;
    let answer = http
        .post(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
        .body(body)
        .send()
        .await;
    let (status, answer) = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => {
            seen.step(
                "post",
                false,
                format!("{url}: no answer ({})", e.without_url()),
            );
            return Ok(seen);
        }
    };
    let json: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let stored = status == 200 && json["status"] == "stored";
    seen.step(
        "post",
        stored,
        format!(
            "POST {url} ({EVENT}, {entity_key}, Authorization: Basic): {status} {}",
            answer.chars().take(200).collect::<String>()
        ),
    );
    if !stored {
        return Ok(seen);
    }
    let sequence = json["sequence"].as_u64().unwrap_or_default();

    let events = table.events_of(&entity_key, now).await?;
    let item = events.iter().find(|i| {
        webhook_aws::table::number(i, webhook_aws::table::attr::SEQUENCE) == Some(sequence)
    });
    seen.step(
        "table",
        item.is_some(),
        match item {
            Some(item) => format!(
                "{} item {entity_key} / {}, event {}, expires_at set: {}",
                stack.table,
                webhook_aws::table::text(item, webhook_aws::table::attr::SK).unwrap_or_default(),
                webhook_aws::table::text(item, webhook_aws::table::attr::EVENT).unwrap_or_default(),
                item.contains_key(webhook_aws::table::attr::EXPIRES_AT)
            ),
            None => format!(
                "no item {entity_key} with sequence {sequence} in {}",
                stack.table
            ),
        },
    );
    let head = table.head(&entity_key).await?;
    let forwarded = head
        .as_ref()
        .is_some_and(|h| h.forwarded_sequence >= sequence);
    seen.step(
        "forwarded",
        forwarded,
        match &head {
            Some(h) => format!(
                "head of {entity_key}: forwarded through sequence {} (the function marks it once \
                 SQS has taken the message)",
                h.forwarded_sequence
            ),
            None => format!("{entity_key} has no head"),
        },
    );

    if !receive {
        let (visible, in_flight) = queue_depth(sqs, &stack.queue_url).await?;
        seen.step(
            "queue",
            true,
            format!(
                "left for the consumers, who skip event {EVENT} (group {entity_key}); the queue \
                 holds about {visible} visible and {in_flight} in-flight messages"
            ),
        );
        return Ok(seen);
    }
    seen.lines
        .push(receive_it(sqs, &stack.queue_url, &entity_key).await?);
    Ok(seen)
}

/// Receives the smoke message (and deletes it); any other message is made visible again at
/// once.
async fn receive_it(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    entity_key: &str,
) -> Result<(String, bool, String), RecoverError> {
    let started = std::time::Instant::now();
    let mut others = 0;
    while started.elapsed() < RECEIVE_FOR {
        let got = queue::receive(sqs, url, 10, 2)
            .await
            .map_err(|why| RecoverError::aws("SQS ReceiveMessage", why))?;
        for message in got {
            let handle = message.handle;
            let body: Value = serde_json::from_str(&message.body).unwrap_or(Value::Null);
            if body["entity_key"] == entity_key && body["event"] == EVENT {
                queue::delete(sqs, url, &handle)
                    .await
                    .map_err(|why| RecoverError::aws("SQS DeleteMessage", why))?;
                let mut detail = format!(
                    "received and deleted: {EVENT}, group {}, sequence {}",
                    entity_key, body["sequence"]
                );
                if others > 0 {
                    detail.push_str(&format!(
                        "; {others} other message(s) arrived meanwhile and were made visible again"
                    ));
                }
                return Ok(("queue".to_owned(), true, detail));
            }
            others += 1;
            queue::release(sqs, url, &handle)
                .await
                .map_err(|why| RecoverError::aws("SQS ChangeMessageVisibility", why))?;
        }
    }
    Ok((
        "queue".to_owned(),
        false,
        format!("the message of {entity_key} was not received within {RECEIVE_FOR:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smoke_notification_is_an_entity_of_its_own() {
        let now = time::macros::datetime!(2026-12-01 10:00 UTC);
        let (body, key) = notification(now).expect("it parses");
        assert!(body.starts_with("event=smoke.test&"), "{body}");
        assert_eq!(key, format!("smoke#smoke-{}", now.unix_timestamp_nanos()));
    }
}
