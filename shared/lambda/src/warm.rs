//! Connections warmed during init: a function opens its HTTPS connections to DynamoDB and SQS
//! while it starts, so that the first request does not pay for them.
//!
//! A connection costs a TCP and a TLS handshake. During init Lambda runs a function at full
//! speed; a 128 MB function then runs its requests on about 7 % of a vCPU, where the same
//! handshakes (key exchange, certificate checks) take many times longer, on the request that
//! woke the function (bench/README.md, "The first request after a cold start").
//!
//! [`connections`] makes one cheap call to each service, both at once, and the clients keep
//! the connections in their pool (the functions' clients share one HTTP client, and so one
//! pool: `runtime::sdk_settings`):
//!
//! - DynamoDB: a `Query` of the key [`WARM_UP_KEY`], which no item ever has (every stored `pk`
//!   has a `#`, but the sweeper's cursor, `sweeper`), `Limit` 1: nothing is returned, one read unit at most is charged
//!   (0.5 for an eventually consistent read), and the role already allows `Query`.
//! - SQS: `GetQueueAttributes` of the queue, asking for no attribute: one SQS request
//!   ($0.50 per million on a FIFO queue), and the one action the role gets for this alone
//!   (`template.yaml`, `WarmUp`). `SendMessage` is the only other SQS action the role has,
//!   and a warm-up must not send anything.
//!
//! It is bounded: both calls together get [`budget`] (default [`DEFAULT_BUDGET`]), no retry,
//! and whatever has not answered by then is dropped. It never fails: an unreachable, slow or
//! refusing endpoint is a log line, and the first request opens its connection itself, as
//! without the warm-up. The function's start is delayed by the warm-up only where it outlasts
//! the secret read it runs beside (`runtime::app`), so by the budget at most.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

/// The variable that sets the budget, in milliseconds; `0` turns the warm-up off.
pub const BUDGET_VARIABLE: &str = "WARM_UP_MS";
/// The budget when [`BUDGET_VARIABLE`] is unset: about ten times what a handshake and one call
/// take in the same region at full speed.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(500);
/// The largest budget [`budget`] accepts: a warm-up is an optimisation, and Lambda's init phase
/// (10 s) must stay free for the secret read.
pub const MAX_BUDGET: Duration = Duration::from_secs(2);
/// The partition key the warm-up's `Query` asks for. Every key the functions write has a `#`
/// (`<type>#<id>`, `dedup#...`, `resend#...`: `aws::table`) but the sweeper's cursor
/// (`sweeper`), so this one matches nothing.
pub const WARM_UP_KEY: &str = "warm-up";

/// Reads the budget from the value of [`BUDGET_VARIABLE`]: unset or blank is
/// [`DEFAULT_BUDGET`], `0` is off, at most [`MAX_BUDGET`].
pub fn budget(value: Option<&str>) -> Result<Duration, String> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_BUDGET);
    };
    let millis: u64 = text
        .parse()
        .map_err(|_| format!("{BUDGET_VARIABLE} `{text}` is not a whole number of milliseconds"))?;
    let budget = Duration::from_millis(millis);
    if budget > MAX_BUDGET {
        return Err(format!(
            "{BUDGET_VARIABLE} `{text}` is over the most a warm-up may take ({} ms)",
            MAX_BUDGET.as_millis()
        ));
    }
    Ok(budget)
}

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

    fn describe(&self) -> String {
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
    let (dynamodb, sqs) = tokio::join!(
        within(budget, start, query),
        within(budget, start, attributes)
    );
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
            let error = webhook_aws::error_text(&error);
            let after = start.elapsed();
            if answered {
                Outcome::Answered { after, error }
            } else {
                Outcome::Failed { after, error }
            }
        }
    }
}

/// One log line for the warm-up: `info` when both calls succeeded (or it is off), `warn`
/// otherwise, a service that answered with an error included (a wrong table or queue name, a
/// missing permission: the first request will meet it too). It names services and errors (an
/// SDK error names the action, the table or queue and the role), never a secret or a
/// notification.
pub fn log(warm_up: &WarmUp) {
    let (dynamodb, sqs) = (warm_up.dynamodb.describe(), warm_up.sqs.describe());
    let fine = |o: &Outcome| matches!(o, Outcome::Open { .. } | Outcome::Off);
    if fine(&warm_up.dynamodb) && fine(&warm_up.sqs) {
        tracing::info!(dynamodb = %dynamodb, sqs = %sqs, "connections warmed");
    } else {
        tracing::warn!(
            dynamodb = %dynamodb,
            sqs = %sqs,
            "connections not all warmed; the first request opens what is missing"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_defaults_turns_off_and_is_bounded() {
        assert_eq!(budget(None), Ok(DEFAULT_BUDGET));
        assert_eq!(budget(Some("  ")), Ok(DEFAULT_BUDGET));
        assert_eq!(budget(Some("0")), Ok(Duration::ZERO));
        assert_eq!(budget(Some(" 250 ")), Ok(Duration::from_millis(250)));
        assert_eq!(budget(Some("2000")), Ok(MAX_BUDGET));
        for bad in ["2001", "-1", "0.5", "500ms", "1e3"] {
            let error = budget(Some(bad)).expect_err(bad);
            assert!(error.contains(BUDGET_VARIABLE), "{bad}: {error}");
        }
    }

    #[test]
    fn the_warm_up_key_is_none_the_functions_write() {
        // Every key `aws::table` writes is `<something>#<something>`.
        assert!(!WARM_UP_KEY.contains('#'));
        assert!(webhook_aws::table::marker_pk("k").contains('#'));
        assert!(webhook_aws::table::resend_pk("iugu").contains('#'));
        assert_ne!(WARM_UP_KEY, webhook_aws::table::SWEEPER_PK);
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
