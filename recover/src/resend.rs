//! `recover resend`: ask iugu to deliver notifications again.
//!
//! A resent notification has the same content as the one first delivered, and so has a real
//! new occurrence (a subscription suspended again): the functions cannot tell them apart by
//! content. So before asking iugu, `recover` records the request ([`request_for_period`],
//! [`request_for_invoice`]) where the functions' de-duplication rule reads it
//! (`webhook_core::delivery`), naming each stored notification it covers (entity and
//! sequence): while it is open ([`RESEND_HORIZON`]), a delivery whose content matches one of
//! them is taken as its resend, once per notification, and not forwarded again. A delivery
//! of content the request covers after each of its notifications was delivered again is
//! forwarded, flagged `resend_unmatched`.

use time::{Duration, OffsetDateTime};

use webhook_core::delivery::ResendRequest;

use crate::error::RecoverError;
use crate::iugu_api::{IuguApi, WebhookLog};
use crate::report::{Progress, Table};
use crate::windows::{Window, IUGU_OFFSET};

/// How long after a resend request its deliveries are expected: iugu queues a period's
/// resend "para processamento" and delivers it over the following minutes to hours.
pub const RESEND_HORIZON: Duration = Duration::hours(24);

/// A request id: when it was made, this process (two operators at once differ) and a count
/// (one run records several: `reconcile --fix`, one per invoice).
fn request_id(now: OffsetDateTime) -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{}-{n}", now.unix_timestamp_nanos(), std::process::id())
}

/// The request for a resend of `period` (São Paulo dates, both ends included), of `event`
/// only if given.
pub fn request_for_period(
    period: Window,
    event: Option<&str>,
    now: OffsetDateTime,
) -> ResendRequest {
    let midnight = |d: time::Date| d.midnight().assume_offset(IUGU_OFFSET);
    ResendRequest {
        id: request_id(now),
        from: midnight(period.from),
        until: period
            .to
            .next_day()
            .map_or(OffsetDateTime::now_utc(), midnight),
        event: event.map(str::to_owned),
        entity_key: None,
        expires_at: now + RESEND_HORIZON,
    }
}

/// The request for a retry of one invoice's deliveries of `event` (iugu's log names each
/// delivery's event, not its time): any notification of that event of the invoice, any time.
pub fn request_for_invoice(
    invoice_id: &str,
    event: Option<&str>,
    now: OffsetDateTime,
) -> ResendRequest {
    ResendRequest {
        id: request_id(now),
        from: OffsetDateTime::UNIX_EPOCH,
        until: now,
        event: event.map(str::to_owned),
        entity_key: Some(format!("invoice#{invoice_id}")),
        expires_at: now + RESEND_HORIZON,
    }
}

/// How one window went.
#[derive(Debug)]
pub struct WindowOutcome {
    pub window: Window,
    /// Attempts it took, or why it failed after every retry.
    pub result: Result<u32, String>,
}

/// Asks iugu to resend each window, one call per window. A window that still fails after the
/// retries is reported and the next one tried; a refused token stops the run.
pub async fn resend_windows<A: IuguApi>(
    api: &A,
    windows: &[Window],
    event: Option<&str>,
    progress: &mut Progress,
) -> Result<Vec<WindowOutcome>, RecoverError> {
    let mut outcomes = Vec::with_capacity(windows.len());
    for &window in windows {
        let result = match api.resend_period(window, event).await {
            Ok(accepted) => Ok(accepted.attempts),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        progress.step(&match &result {
            Ok(_) => format!("{window}: accepted"),
            Err(_) => format!("{window}: failed"),
        });
        outcomes.push(WindowOutcome { window, result });
    }
    Ok(outcomes)
}

pub fn windows_table(outcomes: &[WindowOutcome], event: Option<&str>) -> String {
    let mut table = Table::new(&["window", "event", "result"]);
    for o in outcomes {
        table.row(vec![
            o.window.to_string(),
            event.unwrap_or("(all)").to_owned(),
            match &o.result {
                Ok(1) => "accepted".to_owned(),
                Ok(n) => format!("accepted after {n} attempts"),
                Err(why) => format!("FAILED: {why}"),
            },
        ]);
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    format!(
        "{}\n{} windows: {} accepted, {failed} failed\n",
        table.render(),
        outcomes.len(),
        outcomes.len() - failed
    )
}

/// Which of an invoice's deliveries to ask for again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Those our URL did not answer 200 (`resend --invoice`).
    Undelivered,
    /// All of them (`reconcile --fix`: our store lacks something whatever iugu's log says,
    /// and a delivery we already stored is a harmless duplicate).
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryAction {
    /// Delivered (our URL answered 200): left alone.
    Skipped,
    /// iugu accepted the retry.
    Retried {
        attempts: u32,
    },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub invoice_id: String,
    pub log: WebhookLog,
    pub action: DeliveryAction,
}

/// Lists an invoice's deliveries and asks iugu to retry the chosen ones.
/// Asks iugu to retry the invoice's logged deliveries (`which`). With `record`, first records,
/// for the functions' rule, one resend request per event among the deliveries it retries (so a
/// real repeat of another event is never taken for this resend).
pub async fn resend_invoice<A: IuguApi>(
    api: &A,
    invoice_id: &str,
    which: Which,
    record: Option<(&crate::event_table::EventTable, OffsetDateTime)>,
    progress: &mut Progress,
) -> Result<Vec<DeliveryOutcome>, RecoverError> {
    let logs = api.webhook_logs(invoice_id).await?;
    if let Some((table, now)) = record {
        let mut events: Vec<Option<&str>> = logs
            .iter()
            .filter(|log| which == Which::All || !log.delivered())
            .map(|log| log.event.as_deref())
            .collect();
        events.sort_unstable();
        events.dedup();
        // A delivery whose event iugu did not log: the request covers every event.
        if events.contains(&None) {
            events = vec![None];
        }
        for event in events {
            table
                .record_resend(&request_for_invoice(invoice_id, event, now), now)
                .await?;
        }
    }
    let mut outcomes = Vec::with_capacity(logs.len());
    for log in logs {
        let action = if which == Which::Undelivered && log.delivered() {
            DeliveryAction::Skipped
        } else {
            match api.retry_delivery(&log.id).await {
                Ok(accepted) => DeliveryAction::Retried {
                    attempts: accepted.attempts,
                },
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => DeliveryAction::Failed(e.to_string()),
            }
        };
        progress.step(&format!(
            "invoice {invoice_id}, delivery {}: {}",
            log.id,
            action_text(&action)
        ));
        outcomes.push(DeliveryOutcome {
            invoice_id: invoice_id.to_owned(),
            log,
            action,
        });
    }
    Ok(outcomes)
}

fn action_text(action: &DeliveryAction) -> String {
    match action {
        DeliveryAction::Skipped => "delivered before, left alone".to_owned(),
        DeliveryAction::Retried { attempts: 1 } => "retry requested".to_owned(),
        DeliveryAction::Retried { attempts } => {
            format!("retry requested after {attempts} attempts")
        }
        DeliveryAction::Failed(why) => format!("FAILED: {why}"),
    }
}

pub fn deliveries_table(outcomes: &[DeliveryOutcome]) -> String {
    let mut table = Table::new(&["invoice", "delivery", "event", "our answer", "action"]);
    for o in outcomes {
        table.row(vec![
            o.invoice_id.clone(),
            o.log.id.clone(),
            o.log.event.clone().unwrap_or_else(|| "?".to_owned()),
            o.log.answered.clone().unwrap_or_else(|| "none".to_owned()),
            action_text(&o.action),
        ]);
    }
    let count = |f: fn(&DeliveryAction) -> bool| outcomes.iter().filter(|o| f(&o.action)).count();
    let retried = count(|a| matches!(a, DeliveryAction::Retried { .. }));
    let skipped = count(|a| matches!(a, DeliveryAction::Skipped));
    let failed = count(|a| matches!(a, DeliveryAction::Failed(_)));
    let body = if table.is_empty() {
        "iugu logged no delivery for this invoice (was a webhook registered then?)\n".to_owned()
    } else {
        table.render()
    };
    format!(
        "{body}\n{} deliveries: {retried} retried, {skipped} delivered before, {failed} failed\n",
        outcomes.len()
    )
}

pub fn any_failed(outcomes: &[DeliveryOutcome]) -> bool {
    outcomes
        .iter()
        .any(|o| matches!(o.action, DeliveryAction::Failed(_)))
}
