//! Connections warmed during a function's init: one cheap call to each service, both at once,
//! and the clients keep the connections in their pool (a function's clients share one HTTP
//! client, and so one pool: [`crate::connect`]). The edge decides the budget and logs the
//! outcome (`webhook_lambda::warm`); why it pays off is there too.
//!
//! - DynamoDB: a `Query` of the key [`WARM_UP_KEY`], which no item ever has (every stored `pk`
//!   has a `#`, but the sweeper's cursor, [`crate::table::SWEEPER_PK`]), `Limit` 1: nothing is
//!   returned, one read unit at most is charged (half for an eventually consistent read), and
//!   the role already allows `Query`.
//! - SQS: `GetQueueAttributes` of the queue, asking for no attribute: one SQS request, and the
//!   one action the role gets for this alone (`template.yaml`, `WarmUp`). `SendMessage` is the
//!   only other SQS action the role has, and a warm-up must not send anything.
//!
//! It is bounded: both calls together get the budget, no retry, and whatever has not answered
//! by then is dropped. It never fails: an unreachable, slow or refusing endpoint is an
//! [`Outcome`], and the first request opens its connection itself, as without the warm-up.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

/// The partition key the warm-up's `Query` asks for. Every key the functions write has a `#`
/// (`<type>#<id>`, `dedup#...`, `resend#...`: [`crate::table`]) but the sweeper's cursor
/// ([`crate::table::SWEEPER_PK`]), so this one matches nothing.
pub const WARM_UP_KEY: &str = "warm-up";

/// How the warm-up of one service ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded: the connection is open and pooled.
    Open { after: Duration },
    /// The service answered with an error (the queue does not exist, the role lacks the
    /// action...): the connection is open all the same, and the error is worth a look.
    Answered { after: Duration, error: String },
    /// No answer: the connection could not be made, or broke (the first request will try
    /// again with its own timeouts and retries).
    Failed { after: Duration, error: String },
    /// The budget ran out first; the attempt was dropped.
    Cut,
    /// The warm-up is off (budget 0).
    Off,
}

impl Outcome {
    /// Whether the service's connection is open and pooled.
    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Open { .. } | Outcome::Answered { .. })
    }

    /// The outcome in a few words, for the log line.
    pub fn describe(&self) -> String {
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        match self {
            Outcome::Open { after } => format!("open in {:.1} ms", ms(after)),
            Outcome::Answered { after, error } => {
                format!("open in {:.1} ms, the call failed: {error}", ms(after))
            }
            Outcome::Failed { after, error } => {
                format!("not open after {:.1} ms: {error}", ms(after))
            }
            Outcome::Cut => "not open: the budget ran out".to_owned(),
            Outcome::Off => "off".to_owned(),
        }
    }
}

/// What [`connections`] did, per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmUp {
    pub dynamodb: Outcome,
    pub sqs: Outcome,
}

/// Opens the connections to DynamoDB (`table`) and SQS (`queue_url`) within `budget`, both at
/// once (see the module documentation). Never fails; the result says what happened.
pub async fn connections(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    budget: Duration,
) -> WarmUp {
    if budget.is_zero() {
        return WarmUp {
            dynamodb: Outcome::Off,
            sqs: Outcome::Off,
        };
    }
    let query = dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(WARM_UP_KEY.to_owned()))
        .projection_expression("pk")
        .limit(1)
        .customize()
        // One attempt: a retry would only spend the budget. The timeouts are left as they are:
        // they key the HTTP client's connection pool, and an override would warm another pool.
        .config_override(
            aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled()),
        )
        .send();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .customize()
        .config_override(
            aws_sdk_sqs::config::Builder::default().retry_config(RetryConfig::disabled()),
        )
        .send();
    let start = Instant::now();
    // Both at once, on this task (`join` rather than `tokio::join!`, whose feature the
    // deployed binaries do not otherwise need).
    let (dynamodb, sqs) = futures_util::future::join(
        within(budget, start, query),
        within(budget, start, attributes),
    )
    .await;
    WarmUp { dynamodb, sqs }
}

/// `call`'s outcome, if it ends within `budget`.
async fn within<T, E, R>(
    budget: Duration,
    start: Instant,
    call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> Outcome
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match tokio::time::timeout(budget, call).await {
        Err(_) => Outcome::Cut,
        Ok(Ok(_)) => Outcome::Open {
            after: start.elapsed(),
        },
        Ok(Err(error)) => {
            let answered = matches!(error, SdkError::ServiceError(_));
            let error = crate::error_text(&error);
            let after = start.elapsed();
            if answered {
                Outcome::Answered { after, error }
            } else {
                Outcome::Failed { after, error }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_key_is_none_the_functions_write() {
        // Every key `table` writes is `<something>#<something>`.
        assert!(!WARM_UP_KEY.contains('#'));
        assert!(crate::table::marker_pk("k").contains('#'));
        assert!(crate::table::resend_pk("iugu").contains('#'));
        assert_ne!(WARM_UP_KEY, crate::table::SWEEPER_PK);
    }

    #[test]
    fn only_an_open_connection_counts_as_open() {
        let after = Duration::from_millis(3);
        assert!(Outcome::Open { after }.is_open());
        assert!(Outcome::Answered {
            after,
            error: "AccessDenied".into()
        }
        .is_open());
        assert!(!Outcome::Failed {
            after,
            error: "connection refused".into()
        }
        .is_open());
        assert!(!Outcome::Cut.is_open());
        assert!(!Outcome::Off.is_open());
    }
}
