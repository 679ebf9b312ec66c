//! A load run: many notifications (every documented event, some delivered twice) through the
//! real handler against the local server, then a count of what the table and the queue hold.
//!
//! `cargo run --release -p pipeline-tests --example load -- 10000` prints the figures
//! docs/delivery-semantics.md quotes; `tests/tests/end_to_end/load.rs` runs a smaller one in CI and asserts
//! 0 lost, 0 doubled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{answer, form_post, text, workspace, Local};
use webhook_iugu::Iugu;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Deliveries in all, duplicates included.
    pub deliveries: usize,
    /// One delivery in `duplicate_every` repeats an earlier notification (10 → 10%).
    pub duplicate_every: usize,
    /// Requests in flight at once (parallel invocations).
    pub concurrency: usize,
    /// A 5xx is retried, as the gateway would, at most this many times.
    pub max_retries: usize,
}

/// What happened, and what the table and the queue hold afterwards.
#[derive(Debug)]
pub struct Report {
    pub plan: Plan,
    pub distinct: usize,
    pub elapsed: Duration,
    /// Handler latency of every request, retries included, sorted.
    pub latencies: Vec<Duration>,
    /// Answers by status and outcome (`200 stored`, `200 duplicate`, `503 store_failed`...).
    pub answers: HashMap<String, usize>,
    pub gave_up: usize,
    pub stored: usize,
    pub forwarded: usize,
    /// Distinct notifications neither stored nor forwarded.
    pub lost: usize,
    /// Items or messages beyond one per distinct notification.
    pub doubled: usize,
    /// Stored as a new occurrence (`repeat_of`): each one's entity, with the entity's
    /// notifications as (sequence, received_at, event), for a failure to show.
    pub repeats: Vec<(String, Vec<StoredLine>)>,
}

/// One stored notification, for a report: (sequence, received_at, dedup_key).
pub type StoredLine = (String, String, String);

impl Report {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub fn throughput(&self) -> f64 {
        self.plan.deliveries as f64 / self.elapsed.as_secs_f64()
    }
}

/// The fixture bodies the parser accepts: every documented event, as iugu's samples show it.
pub fn sample_bodies() -> Vec<String> {
    let root = workspace().join("shared/gateways/tests/fixtures/iugu");
    let mut bodies = Vec::new();
    for dir in ["raw", "repaired", "constructed"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let body = std::fs::read_to_string(&path)
                .expect("fixture")
                .trim()
                .to_owned();
            let now = time::OffsetDateTime::now_utc();
            if webhook_iugu::parse(body.as_bytes(), now).is_ok() {
                bodies.push(body);
            }
        }
    }
    bodies
}

/// The `data[...]` fields entities are keyed by (`webhook_iugu::entity`).
const ID_FIELDS: [&str; 9] = [
    "id",
    "resource_id",
    "customer_payment_method_id",
    "deposit_id",
    "payment_request_id",
    "withdraw_request_id",
    "account_id",
    "sender_account_id",
    "receiver_account_id",
];

/// Notification `n`: sample `n % samples`, for one of 500 entities of its kind (every id field
/// gets `-L<entity>`), made distinct by a `data[load_seq]` field (a real change, so a distinct
/// de-duplication key). Two notifications of one entity are at least 500 apart.
fn notification(samples: &[String], n: usize) -> String {
    let mut body = samples[n % samples.len()].clone();
    let entity = n % 500;
    for field in ID_FIELDS {
        let name = format!("data%5B{field}%5D=");
        let Some(at) = body.find(&name) else {
            continue;
        };
        let value_at = at + name.len();
        let end = body[value_at..]
            .find('&')
            .map_or(body.len(), |e| value_at + e);
        body = format!("{}-L{entity}{}", &body[..end], &body[end..]);
    }
    format!("{body}&data%5Bload_seq%5D={n}")
}

/// The deliveries, as the gateway makes them: one stream per distinct notification, in order.
/// Every `duplicate_every`-th delivery is a gateway retry after a lost answer: one more
/// delivery of one of the last 100 notifications, made by that notification's own stream once
/// its previous delivery was answered (a gateway retries a notification one delivery at a time;
/// a picked notification is picked by a fixed pseudo-random sequence, so runs are comparable).
/// Nothing of its entity comes in between (an entity's notifications are 500 apart), so the
/// rule must take it for a retry, never a new occurrence.
fn schedule(plan: Plan, samples: &[String]) -> (Vec<Vec<String>>, HashSet<String>) {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next_random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut streams: Vec<Vec<String>> = Vec::with_capacity(plan.deliveries);
    let mut expected = HashSet::new();
    for i in 0..plan.deliveries {
        if (i + 1) % plan.duplicate_every == 0 {
            let recent = streams.len().min(100);
            let back = (next_random() % recent as u64) as usize;
            let at = streams.len() - 1 - back;
            let again = streams[at][0].clone();
            streams[at].push(again);
        } else {
            let body = notification(samples, expected.len());
            let now = time::OffsetDateTime::now_utc();
            let envelope =
                webhook_iugu::parse(body.as_bytes(), now).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert!(
                expected.insert(envelope.dedup_key),
                "distinct by construction"
            );
            streams.push(vec![body]);
        }
    }
    (streams, expected)
}

/// Runs `plan` against a fresh table and queue of `local`.
pub async fn run(local: &Local, plan: Plan) -> Report {
    let samples = sample_bodies();
    assert!(samples.len() >= 20, "expected most samples to parse");
    let (streams, expected) = schedule(plan, &samples);
    let app = Arc::new(local.app(Iugu::ALL_EVENTS));
    let slots = Arc::new(Semaphore::new(plan.concurrency));
    // A consumer reads the queue while the deliveries go in, as the customer's would; it also
    // keeps the local server's queue short (moto's SQS costs O(queue length) per send).
    let sending = Arc::new(AtomicBool::new(true));
    let consumer = tokio::spawn(consume(
        local.sqs.clone(),
        local.queue_url.clone(),
        Arc::clone(&sending),
    ));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for stream in streams {
        let (app, slots) = (Arc::clone(&app), Arc::clone(&slots));
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            // Each delivery of the stream, each retried on 5xx; the tries of each.
            let mut deliveries = Vec::new();
            for body in &stream {
                let mut tries = Vec::new();
                for _ in 0..=plan.max_retries {
                    let t = Instant::now();
                    let (status, json) = answer(&app.handle(form_post(body)).await);
                    let label = match status {
                        200 => format!("200 {}", json["status"].as_str().unwrap_or("?")),
                        other => format!("{other} {}", json["error"].as_str().unwrap_or("?")),
                    };
                    tries.push((t.elapsed(), label));
                    if status < 500 {
                        break;
                    }
                }
                deliveries.push(tries);
            }
            deliveries
        });
    }
    let mut latencies = Vec::with_capacity(plan.deliveries);
    let mut answers: HashMap<String, usize> = HashMap::new();
    let mut gave_up = 0;
    let mut done_tries = Vec::new();
    while let Some(done) = tasks.join_next().await {
        done_tries.extend(done.expect("no delivery panics"));
    }
    for tries in done_tries {
        if tries
            .last()
            .is_some_and(|(_, label)| !label.starts_with("200"))
        {
            gave_up += 1;
        }
        for (latency, label) in tries {
            latencies.push(latency);
            *answers.entry(label).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    sending.store(false, Ordering::SeqCst);
    let mut messages = consumer.await.expect("the consumer does not panic");
    messages.extend(local.drain_all().await);

    let events = local.events().await;
    let repeats = events
        .iter()
        .filter(|e| e.contains_key("repeat_of_received_at"))
        .map(|e| {
            let pk = text(e, "pk");
            let history = events
                .iter()
                .filter(|o| text(o, "pk") == pk)
                .map(|o| {
                    let n = webhook_aws::table::number(o, "sequence").unwrap_or_default();
                    (n.to_string(), text(o, "received_at"), text(o, "dedup_key"))
                })
                .collect();
            (pk, history)
        })
        .collect();
    let stored_keys: Vec<String> = events.iter().map(|e| text(e, "dedup_key")).collect();
    let sent_keys: Vec<String> = messages
        .iter()
        .map(|m| {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).expect("json message");
            body["dedup_key"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    let stored_set: HashSet<String> = stored_keys.iter().cloned().collect();
    let sent_set: HashSet<String> = sent_keys.iter().cloned().collect();
    // Lost: sent by the gateway, but not both stored and forwarded. Doubled: a second item or
    // message for one notification, or one nobody sent.
    let lost = expected
        .iter()
        .filter(|k| !stored_set.contains(*k) || !sent_set.contains(*k))
        .count();
    let doubled = (stored_keys.len() - stored_set.len())
        + (sent_keys.len() - sent_set.len())
        + stored_set.difference(&expected).count()
        + sent_set.difference(&expected).count();
    Report {
        plan,
        distinct: expected.len(),
        elapsed,
        latencies,
        answers,
        gave_up,
        stored: stored_set.len(),
        forwarded: sent_set.len(),
        lost,
        doubled,
        repeats,
    }
}

/// Receives and deletes messages until `sending` is over and the queue is empty.
async fn consume(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sending: Arc<AtomicBool>,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let still_sending = sending.load(Ordering::SeqCst);
        let batch = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            if still_sending {
                continue;
            }
            return all;
        }
        let mut delete = sqs.delete_message_batch().queue_url(&queue_url);
        for (i, m) in batch.iter().enumerate() {
            delete = delete.entries(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("entry"),
            );
        }
        delete.send().await.expect("delete batch");
        all.extend(batch);
    }
}
