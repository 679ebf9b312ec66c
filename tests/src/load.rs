//! A load run: many notifications (every documented event) through the real handler against
//! the local server, with gateway retries, real repeats (the same content again after another
//! notification of its entity) and faults (the queue refusing a first attempt), then a count of
//! what the table holds and what the queue delivered.
//!
//! `tests/tests/end_to_end/load.rs` runs one in CI and asserts 0 lost and 0 unflagged doubles;
//! the bench's `load` example runs a larger one and prints the figures
//! docs/delivery-semantics.md quotes.

use std::collections::HashMap;
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
    /// Deliveries in all, retries and repeats included.
    pub deliveries: usize,
    /// One delivery in `duplicate_every` is a gateway retry of an earlier notification (10 →
    /// 10%).
    pub duplicate_every: usize,
    /// One delivery in `repeat_every` starts a real repeat: another notification of an earlier
    /// one's entity, then that earlier content again (suspended, activated, suspended); 0: none.
    pub repeat_every: usize,
    /// One first attempt in `fault_every` meets a queue that refuses it (503; the gateway
    /// retries); 0: none.
    pub fault_every: usize,
    /// Requests in flight at once (parallel invocations).
    pub concurrency: usize,
    /// A 5xx is retried, as the gateway would, at most this many times.
    pub max_retries: usize,
}

/// What happened, and what the table and the queue hold afterwards.
#[derive(Debug)]
pub struct Report {
    pub plan: Plan,
    /// Notifications the gateway sent: every occurrence, a real repeat counted again.
    pub distinct: usize,
    /// Of those, real repeats (the same content again, after another of its entity).
    pub real_repeats: usize,
    pub elapsed: Duration,
    /// Handler latency of every request, retries included, sorted.
    pub latencies: Vec<Duration>,
    /// Answers by status and outcome (`200 stored`, `200 duplicate`, `503 store_failed`...).
    pub answers: HashMap<String, usize>,
    pub gave_up: usize,
    /// Event items.
    pub stored: usize,
    /// Distinct messages the consumer received (entity and sequence).
    pub forwarded: usize,
    /// Occurrences the gateway sent that no message carries.
    pub lost: usize,
    /// Messages whose content an earlier message of its entity already had, each flagged with
    /// `repeat_of` and a reason.
    pub flagged_repeats: usize,
    /// Of those, more than the gateway really sent (a copy, flagged).
    pub flagged_copies: usize,
    /// Messages whose content an earlier one already had, without `repeat_of` and its reason:
    /// a silent double.
    pub unflagged: usize,
    /// A message received twice (same entity and sequence).
    pub received_twice: usize,
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
/// rule must take it for a retry, never a new occurrence. Every `repeat_every`-th delivery
/// makes one of the last 100 streams a real repeat: another notification of its entity (its
/// content changed), then its first content again: the rule must forward that, flagged.
/// Returns the streams and how many times the gateway really sent each content.
fn schedule(plan: Plan, samples: &[String]) -> (Vec<Vec<String>>, HashMap<String, usize>) {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next_random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let parse = |body: &str| {
        let now = time::OffsetDateTime::now_utc();
        webhook_iugu::parse(body.as_bytes(), now).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    let key = |body: &str| parse(body).dedup_key;
    // A notification keyed by its own content (`notification#<dedup_key>`) has no other
    // notification of its entity: it cannot be repeated after one.
    let has_siblings = |body: &str| !parse(body).entity_key.starts_with("notification#");
    let mut streams: Vec<Vec<String>> = Vec::with_capacity(plan.deliveries);
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut made = 0;
    let mut i = 0;
    while i < plan.deliveries {
        let recent = streams.len().min(100);
        if (i + 1) % plan.duplicate_every == 0 && recent > 0 {
            let at = streams.len() - 1 - (next_random() % recent as u64) as usize;
            let again = streams[at][0].clone();
            streams[at].push(again);
        } else if let Some(at) = (plan.repeat_every > 0 && (i + 1) % plan.repeat_every == 0)
            .then(|| {
                streams
                    .len()
                    .checked_sub(1 + (next_random() % recent.max(1) as u64) as usize)
            })
            .flatten()
            .filter(|at| has_siblings(&streams[*at][0]))
        {
            let first = streams[at][0].clone();
            let changed = format!("{first}&data%5Bload_step%5D={i}");
            *expected.entry(key(&changed)).or_default() += 1;
            *expected.entry(key(&first)).or_default() += 1;
            streams[at].push(changed);
            streams[at].push(first);
            i += 1;
        } else {
            let body = notification(samples, made);
            made += 1;
            let previous = expected.insert(key(&body), 1);
            assert!(previous.is_none(), "distinct by construction");
            streams.push(vec![body]);
        }
        i += 1;
    }
    (streams, expected)
}

/// Runs `plan` against a fresh table and queue of `local`.
pub async fn run(local: &Local, plan: Plan) -> Report {
    let samples = sample_bodies();
    assert!(samples.len() >= 20, "expected most samples to parse");
    let (streams, expected) = schedule(plan, &samples);
    let app = Arc::new(local.app(Iugu::ALL_EVENTS));
    // The same function whose queue refuses every send: a first attempt that meets a fault.
    let missing = local.missing_queue_url();
    let down = Arc::new(local.app_with(
        Iugu::ALL_EVENTS,
        webhook_lambda::auth::Token::new(Some(crate::TOKEN)),
        &missing,
    ));
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
    for (s, stream) in streams.into_iter().enumerate() {
        let (app, down, slots) = (Arc::clone(&app), Arc::clone(&down), Arc::clone(&slots));
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            // Each delivery of the stream, each retried on 5xx; the tries of each.
            let mut deliveries = Vec::new();
            for (d, body) in stream.iter().enumerate() {
                let mut tries = Vec::new();
                let faulty = plan.fault_every > 0 && (s * 7 + d) % plan.fault_every == 0;
                for attempt in 0..=plan.max_retries {
                    let t = Instant::now();
                    let function = if faulty && attempt == 0 { &down } else { &app };
                    let (status, json) = answer(&function.handle(form_post(body)).await);
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
    // What the consumer received, each message once by (entity, sequence).
    let mut received: HashMap<(String, u64), webhook_core::Envelope> = HashMap::new();
    let mut received_twice = 0;
    for m in &messages {
        let envelope: webhook_core::Envelope =
            serde_json::from_str(m.body().unwrap_or("{}")).expect("an envelope");
        let at = (
            envelope.entity_key.clone(),
            envelope.sequence.unwrap_or_default(),
        );
        if received.insert(at, envelope).is_some() {
            received_twice += 1;
        }
    }
    // By content: the messages in sequence order; all but the first must say what they repeat.
    let mut by_content: HashMap<String, Vec<&webhook_core::Envelope>> = HashMap::new();
    for envelope in received.values() {
        by_content
            .entry(envelope.dedup_key.clone())
            .or_default()
            .push(envelope);
    }
    let (mut lost, mut flagged_repeats, mut flagged_copies, mut unflagged) = (0, 0, 0, 0);
    for (content, sent) in &expected {
        let got = by_content.get(content).map_or(0, Vec::len);
        lost += sent.saturating_sub(got);
    }
    for (content, messages) in &mut by_content {
        messages.sort_by_key(|e| e.sequence);
        for later in messages.iter().skip(1) {
            match later.repeat_of {
                Some(of) if of.reason.is_some() => flagged_repeats += 1,
                _ => unflagged += 1,
            }
        }
        let sent = expected.get(content).copied().unwrap_or(0);
        flagged_copies += messages.len().saturating_sub(sent.max(1));
    }
    // A message for content nobody sent is a double too.
    unflagged += by_content
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .count();
    Report {
        plan,
        distinct: expected.values().sum(),
        real_repeats: expected.values().map(|n| n - 1).sum(),
        elapsed,
        latencies,
        answers,
        gave_up,
        stored: events.len(),
        forwarded: received.len(),
        lost,
        flagged_repeats,
        flagged_copies,
        unflagged,
        received_twice,
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
