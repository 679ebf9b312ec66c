//! Connections warmed during init: a function opens its HTTPS connections to DynamoDB and SQS
//! while it starts, so that the first request does not pay for them.
//!
//! A connection costs a TCP and a TLS handshake. During init Lambda runs a function at full
//! speed; a 128 MB function then runs its requests on about 7 % of a vCPU, where the same
//! handshakes (key exchange, certificate checks) take many times longer, on the request that
//! woke the function (bench/README.md, "The first request after a cold start").
//!
//! `webhook_aws::warm` makes one cheap call to DynamoDB and one to SQS, both at once, and the
//! clients keep the connections in their pool (`webhook_aws::Clients::warm_up`); here are its
//! budget and its log line.
//!
//! It is bounded: both calls together get [`budget`] (default [`DEFAULT_BUDGET`]), no retry,
//! and whatever has not answered by then is dropped. It never fails: an unreachable, slow or
//! refusing endpoint is a log line, and the first request opens its connection itself, as
//! without the warm-up. The function's start is delayed by the warm-up only where it outlasts
//! the secret read it runs beside (`runtime::app`), so by the budget at most.

use std::time::Duration;

use webhook_aws::warm::{Outcome, WarmUp};

/// The variable that sets the budget, in milliseconds; `0` turns the warm-up off.
pub const BUDGET_VARIABLE: &str = "WARM_UP_MS";
/// The budget when [`BUDGET_VARIABLE`] is unset: about ten times what a handshake and one call
/// take in the same region at full speed.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(500);
/// The largest budget [`budget`] accepts: a warm-up is an optimisation, and Lambda's init phase
/// (10 s) must stay free for the secret read.
pub const MAX_BUDGET: Duration = Duration::from_secs(2);

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
}
