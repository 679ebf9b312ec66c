//! The consumer kit against the local server: its DynamoDB ledger and the example bookings
//! table beside a test's front-door table (`Local`), the API stand-in on loopback, and the
//! messages the queue accepted (`Local::sends`) handed to the consumer as Lambda's SQS event
//! source would hand them (batches of up to 10, in order).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use webhook_consumer::api::{HttpGatewayApi, Pause, Retry};
use webhook_consumer::batch::Fate;
use webhook_consumer::bookings::Bookings;
use webhook_consumer::credentials::ApiCredentials;
use webhook_consumer::dynamo::DynamoLedger;
use webhook_consumer::metrics::Metrics;
use webhook_consumer::stand_in::StandIn;
use webhook_consumer::{Booking, Business, BusinessError, Consumer, Failure, Outcome};
use webhook_core::clock::ManualClock;

use crate::wire::Sent;
use crate::Local;

/// Waits recorded, never slept: a test of the API's backoff takes no time.
#[derive(Debug, Clone, Default)]
pub struct RecordedPause(pub Arc<Mutex<Vec<Duration>>>);

impl Pause for RecordedPause {
    fn pause(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(wait);
        Box::pin(std::future::ready(()))
    }
}

/// The example business code, failing the sequences a test names until it is fixed: the bug
/// that sends a message to the dead-letter queue.
#[derive(Clone)]
pub struct Flaky {
    pub inner: Bookings,
    pub failing: Arc<Mutex<HashSet<u64>>>,
}

impl Business for Flaky {
    async fn book(&self, booking: &Booking<'_>) -> Result<(), BusinessError> {
        let failing = booking.sequence().is_some_and(|n| {
            self.failing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&n)
        });
        if failing {
            return Err(BusinessError("a bug in the business code".to_owned()));
        }
        self.inner.book(booking).await
    }
}

pub type KitConsumer = Consumer<DynamoLedger, HttpGatewayApi, Flaky>;

/// The kit for one test.
pub struct Kit {
    pub consumer: KitConsumer,
    pub stand_in: StandIn,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub ledger_table: String,
    pub bookings_table: String,
    /// The EMF lines the consumer wrote.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// The API client's waits (429, backoff), recorded.
    pub pauses: Arc<Mutex<Vec<Duration>>>,
    failing: Arc<Mutex<HashSet<u64>>>,
}

/// A ledger row as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub sequence: u64,
    pub status: String,
    pub late: bool,
    pub confirmation: String,
}

impl Kit {
    /// The kit beside `local`'s table, its clock `clock`, the example business code, an API
    /// stand-in that knows nothing yet (every lookup 404 until a test says).
    pub async fn new(local: &Local, clock: &ManualClock) -> Kit {
        let ledger_table = format!("ledger-{}", local.table);
        let bookings_table = format!("bookings-{}", local.table);
        webhook_consumer::dynamo::create_table(&local.dynamo, &ledger_table)
            .await
            .expect("ledger table");
        webhook_consumer::bookings::create_table(&local.dynamo, &bookings_table)
            .await
            .expect("bookings table");
        let stand_in = StandIn::start("127.0.0.1:0").await.expect("API stand-in");
        let pauses = RecordedPause::default();
        let api = HttpGatewayApi::new(
            &ApiCredentials::new(Some("iugu-api-token"), Some(("ipag-id", "ipag-key"))),
            &stand_in.url,
            &stand_in.url,
            Retry::default(),
            Arc::new(pauses.clone()),
        )
        .expect("API client");
        let clock_arc: Arc<ManualClock> = Arc::new(clock.clone());
        let failing = Arc::new(Mutex::new(HashSet::new()));
        let business = Flaky {
            inner: Bookings::new(local.dynamo.clone(), &bookings_table, clock_arc.clone()),
            failing: Arc::clone(&failing),
        };
        let mut consumer = Consumer::new(
            DynamoLedger::new(local.dynamo.clone(), &ledger_table),
            api,
            business,
            clock_arc,
        );
        let (metrics, lines) = Metrics::captured("WebhookConsumerTest");
        consumer.metrics = metrics;
        Kit {
            consumer,
            stand_in,
            dynamo: local.dynamo.clone(),
            ledger_table,
            bookings_table,
            lines,
            pauses: pauses.0,
            failing,
        }
    }

    /// The business code fails sequence `n` (of any entity) until [`Kit::fixed`].
    pub fn fail(&self, n: u64) {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n);
    }

    pub fn fixed(&self) {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Hands `sends` to the consumer as Lambda would (batches of up to 10, in order), and
    /// returns each message's fate and each batch's response.
    pub async fn consume(
        &self,
        sends: &[Sent],
    ) -> (Vec<Fate<Outcome, Failure>>, Vec<SqsBatchResponse>) {
        let mut fates = Vec::new();
        let mut responses = Vec::new();
        for (b, chunk) in sends.chunks(10).enumerate() {
            let event = event(b, chunk);
            let (response, batch) =
                webhook_consumer::sqs::handle_event(&self.consumer, &event, None).await;
            fates.extend(batch);
            responses.push(response);
        }
        (fates, responses)
    }

    /// The outcome of each message, `failed` for a failure, `held` when its group failed.
    pub async fn outcomes(&self, sends: &[Sent]) -> Vec<&'static str> {
        self.consume(sends)
            .await
            .0
            .iter()
            .map(|fate| match fate {
                Fate::Done(outcome) => outcome.as_str(),
                Fate::Failed(_) => "failed",
                Fate::Held => "held",
            })
            .collect()
    }

    /// The ledger rows of `entity`, in sequence order.
    pub async fn rows(&self, entity: &str) -> Vec<Row> {
        self.query(&self.ledger_table, entity, "seq#")
            .await
            .iter()
            .map(|item| Row {
                sequence: number(item, "sequence"),
                status: crate::text(item, "status"),
                late: matches!(item.get("late"), Some(AttributeValue::Bool(true))),
                confirmation: crate::text(item, "confirmation"),
            })
            .collect()
    }

    /// (sequence, status) of every ledger row of `entity`.
    pub async fn statuses(&self, entity: &str) -> Vec<(u64, String)> {
        self.rows(entity)
            .await
            .into_iter()
            .map(|r| (r.sequence, r.status))
            .collect()
    }

    /// The items set aside for `entity` (contradicted notifications).
    pub async fn aside(&self, entity: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.query(&self.ledger_table, entity, "aside#").await
    }

    /// The head of `entity`: (watermark, highest).
    pub async fn head(&self, entity: &str) -> (u64, u64) {
        let items = self.query(&self.ledger_table, entity, "head").await;
        items
            .first()
            .map_or((0, 0), |h| (number(h, "watermark"), number(h, "highest")))
    }

    /// Every booking in the example table, by id.
    pub async fn bookings(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = self
            .dynamo
            .scan()
            .table_name(&self.bookings_table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        items.sort_by_key(|i| (crate::text(i, "entity_key"), number(i, "sequence")));
        items
    }

    /// The sequences booked for `entity`, in order.
    pub async fn booked(&self, entity: &str) -> Vec<u64> {
        self.bookings()
            .await
            .iter()
            .filter(|b| crate::text(b, "entity_key") == entity)
            .map(|b| number(b, "sequence"))
            .collect()
    }

    /// The `Outcome` of every EMF line so far.
    pub fn metric_outcomes(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|doc| doc["Outcome"].as_str().map(str::to_owned))
            .collect()
    }

    async fn query(
        &self,
        table: &str,
        pk: &str,
        prefix: &str,
    ) -> Vec<HashMap<String, AttributeValue>> {
        self.dynamo
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("query")
            .items
            .unwrap_or_default()
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The SQS event Lambda builds for `sends` (batch `b`).
pub fn event(b: usize, sends: &[Sent]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, sent) in sends.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m{b}-{i}"));
        message.receipt_handle = Some(format!("r{b}-{i}"));
        message.body = Some(sent.body.to_string());
        message.attributes = HashMap::from([
            ("MessageGroupId".to_owned(), sent.group.clone()),
            (
                "MessageDeduplicationId".to_owned(),
                sent.deduplication_id.clone(),
            ),
            ("ApproximateReceiveCount".to_owned(), "1".to_owned()),
        ]);
        message.event_source = Some("aws:sqs".to_owned());
        event.records.push(message);
    }
    event
}

/// A FIFO queue with a dead-letter queue, as template.yaml defines the events queue
/// (`maxReceiveCount` 5): (queue URL, its ARN, the dead-letter queue's URL).
pub async fn queue_with_dead_letters(local: &Local, name: &str) -> (String, String, String) {
    let fifo = |n: &str| {
        local
            .sqs
            .create_queue()
            .queue_name(n)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
    };
    let dlq = fifo(&format!("{name}-dlq.fifo"))
        .send()
        .await
        .expect("dead-letter queue")
        .queue_url
        .expect("url");
    let dlq_arn = queue_arn(local, &dlq).await;
    let queue = fifo(&format!("{name}.fifo"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string(),
        )
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let arn = queue_arn(local, &queue).await;
    (queue, arn, dlq)
}

pub async fn queue_arn(local: &Local, url: &str) -> String {
    local
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("an ARN")
}

/// What an operator's redrive does (the console's "Start DLQ redrive", or `aws sqs
/// start-message-move-task`): every message of the dead-letter queue back on the queue, in its
/// group. The local server de-duplicates by the real clock, so the move gets a de-duplication id
/// of its own (on AWS the original send is long past SQS's 5 minutes). Returns how many moved.
pub async fn redrive(local: &Local, dlq: &str, queue: &str) -> usize {
    let mut moved = 0;
    loop {
        let got = local
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return moved;
        }
        for m in got {
            let attribute = |name: aws_sdk_sqs::types::MessageSystemAttributeName| {
                m.attributes()
                    .and_then(|a| a.get(&name).cloned())
                    .unwrap_or_default()
            };
            local
                .sqs
                .send_message()
                .queue_url(queue)
                .message_body(m.body().unwrap_or_default())
                .message_group_id(attribute(
                    aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
                ))
                .message_deduplication_id(format!(
                    "{}-redriven",
                    attribute(
                        aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId
                    )
                ))
                .send()
                .await
                .expect("sent back");
            local
                .sqs
                .delete_message()
                .queue_url(dlq)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("deleted");
            moved += 1;
        }
    }
}

/// How many messages `url` holds (visible or not).
pub async fn depth(local: &Local, url: &str) -> usize {
    let attributes = local
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|n| attributes.get(n).and_then(|v| v.parse::<usize>().ok()))
    .sum()
}
