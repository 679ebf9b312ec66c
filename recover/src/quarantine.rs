//! `recover quarantine`: the requests the functions refused (400, 413, 422) and kept
//! (`webhook_core::quarantine`). `list` shows them; `retry` runs each through the parser of the day
//! (after a fix is deployed) and stores and forwards what now parses, exactly as the request
//! path would: the same admission (`webhook_core::admission`: parse with the kept headers, route),
//! the same store-once-forward-in-order, the same mark. What still does not parse is
//! left as it is, with today's reason.
//!
//! A retried request is taken as arriving now: the notification's `received_at` is the retry's
//! time (its first delivery's is in the list). A body that was cut when kept (over its
//! gateway's body limit) is not retried.

use http::{HeaderMap, HeaderName, HeaderValue};
use time::{Date, Duration, OffsetDateTime};
use webhook_aws::table::{self, QuarantineItem};
use webhook_core::admission::body_text;
use webhook_core::clock::ManualClock;
use webhook_core::code;
use webhook_core::delivery::DeliverySettings;
use webhook_core::gateway::Gateway;
use webhook_core::ingest::{mark, store_and_forward, Forwarder, Outcome};
use webhook_core::refusal::Refusal;
use webhook_core::Envelope;

use crate::error::RecoverError;
use crate::event_table::EventTable;
use crate::report::{Progress, Table};
use crate::windows::format_date;

/// The live quarantined requests of every UTC day from `from` to `to`, both included.
pub async fn list(
    table: &EventTable,
    from: Date,
    to: Date,
    now: OffsetDateTime,
) -> Result<Vec<QuarantineItem>, RecoverError> {
    let mut items = Vec::new();
    let mut day = from;
    while day <= to {
        items.extend(table.quarantined(&format_date(day), now).await?);
        match day.checked_add(Duration::DAY) {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(items)
}

/// How many refused requests were counted and not kept (the days' caps were reached), every
/// UTC day from `from` to `to`.
pub async fn not_kept(table: &EventTable, from: Date, to: Date) -> Result<u64, RecoverError> {
    let mut total = 0;
    let mut day = from;
    while day <= to {
        total += table.quarantine_not_kept(&format_date(day)).await?;
        match day.checked_add(Duration::DAY) {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(total)
}

pub fn list_table(items: &[QuarantineItem]) -> String {
    let mut t = Table::new(&[
        "first_seen",
        "deliveries",
        "route",
        "error",
        "bytes",
        "sha256",
        "resolved",
    ]);
    for q in items {
        t.row(vec![
            table::format_time(q.first_seen),
            q.deliveries.to_string(),
            q.request.path.clone(),
            q.request.error.clone(),
            format!(
                "{}{}",
                q.request.body_size,
                if q.request.truncated() { " (cut)" } else { "" }
            ),
            q.request
                .body_sha256
                .get(..12)
                .unwrap_or_default()
                .to_owned(),
            q.resolution.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let open = items.iter().filter(|q| q.resolved_at.is_none()).count();
    let body = if t.is_empty() {
        "nothing quarantined\n".to_owned()
    } else {
        t.render()
    };
    format!("{body}\n{} quarantined: {open} not resolved\n", items.len())
}

/// What a retry made of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// It parses now: stored (or found stored) and in the queue.
    Accepted {
        outcome: &'static str,
        sequence: Option<u64>,
    },
    /// It still does not parse: today's code and message.
    StillRefused { code: String, message: String },
    /// Resolved by an earlier retry.
    AlreadyResolved,
    /// Its body was cut when kept.
    Truncated,
    /// The dry run's answer: it would be stored and forwarded.
    WouldAccept,
    /// The store or the queue failed: try again later.
    Failed(String),
}

/// The admission a retry uses: the functions' own (`webhook_core::admission::admit_to`), or, in
/// a test, one that "learned" something.
pub type Admit = dyn Fn(&dyn Gateway, &HeaderMap, &[u8], OffsetDateTime) -> Result<Envelope, Refusal>
    + Send
    + Sync;

/// What a retry runs with: where the requests and notifications are, where messages go, the
/// admission, the delivery rule's settings.
pub struct Retrier<'a, F> {
    pub table: &'a EventTable,
    pub forwarder: &'a F,
    pub admit: &'a Admit,
    pub settings: &'a DeliverySettings,
}

/// Retries `items` in order; with `dry_run`, only says what would happen.
pub async fn retry<F: Forwarder>(
    with: &Retrier<'_, F>,
    items: &[QuarantineItem],
    dry_run: bool,
    progress: &mut Progress,
    now: OffsetDateTime,
) -> Result<Vec<(QuarantineItem, Retried)>, RecoverError> {
    let mut out = Vec::new();
    for item in items {
        let result = retry_one(with, item, dry_run, now).await?;
        progress.step(&format!(
            "{} {} {}: {}",
            table::format_time(item.first_seen),
            item.request.path,
            item.request.error,
            result_text(&result)
        ));
        out.push((item.clone(), result));
    }
    Ok(out)
}

async fn retry_one<F: Forwarder>(
    with: &Retrier<'_, F>,
    item: &QuarantineItem,
    dry_run: bool,
    now: OffsetDateTime,
) -> Result<Retried, RecoverError> {
    let Retrier {
        table,
        forwarder,
        admit,
        settings,
    } = with;
    if item.resolved_at.is_some() {
        return Ok(Retried::AlreadyResolved);
    }
    if item.request.truncated() {
        return Ok(Retried::Truncated);
    }
    // Its signature is not checked again: the request was authenticated when it was kept.
    let Some(gateway) = webhook_gateways::route_of(&item.request.path) else {
        return Ok(Retried::StillRefused {
            code: code::NOT_FOUND.to_owned(),
            message: format!("no route ends in `{}`", item.request.path),
        });
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &item.request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let body = &item.request.body;
    let admitted = admit(gateway.as_ref(), &headers, body, now)
        .and_then(|envelope| Ok((envelope, body_text(body)?)));
    let (envelope, raw_body) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            return Ok(Retried::StillRefused {
                code: refusal.code.to_owned(),
                message: refusal.message,
            })
        }
    };
    if dry_run {
        return Ok(Retried::WouldAccept);
    }
    let store = table.store();
    let accepted = match store_and_forward(
        store,
        *forwarder,
        &webhook_gateways::ALL,
        envelope,
        raw_body,
        settings,
        &format!(
            "recover-{}-{}",
            now.unix_timestamp_nanos(),
            std::process::id()
        ),
    )
    .await
    {
        Ok(accepted) => accepted,
        Err(e) => return Ok(Retried::Failed(e.to_string())),
    };
    if let Some(to_mark) = &accepted.mark {
        // As the handler: the queue has it, so a failed mark is a line, not a failure.
        if let Err(e) = mark(store, to_mark, &ManualClock::at(now), 4).await {
            eprintln!("recover: forwarded, but not marked forwarded: {e}");
        }
    }
    let outcome = match accepted.outcome {
        Outcome::Stored => "stored",
        Outcome::Repeat => "stored (repeat)",
        Outcome::Retry | Outcome::Resend => "already stored",
    };
    let mut resolution = match accepted.sequence {
        Some(n) => format!("{outcome}, sequence {n}"),
        None => outcome.to_owned(),
    };
    if !accepted.in_queue {
        resolution.push_str(", behind its entity's backlog (the sweeper forwards it)");
    }
    table.resolve_quarantined(item, &resolution, now).await?;
    Ok(Retried::Accepted {
        outcome,
        sequence: accepted.sequence,
    })
}

fn result_text(r: &Retried) -> String {
    match r {
        Retried::Accepted { outcome, sequence } => match sequence {
            Some(n) => format!("{outcome}, sequence {n}"),
            None => (*outcome).to_owned(),
        },
        Retried::StillRefused { code, message } => format!("still refused: {code}: {message}"),
        Retried::AlreadyResolved => "resolved before".to_owned(),
        Retried::Truncated => "not retried: its body was cut when kept".to_owned(),
        Retried::WouldAccept => "would be stored and forwarded (dry run)".to_owned(),
        Retried::Failed(why) => format!("FAILED: {why}"),
    }
}

pub fn retry_table(results: &[(QuarantineItem, Retried)]) -> String {
    let mut t = Table::new(&["first_seen", "route", "was", "now"]);
    for (q, r) in results {
        t.row(vec![
            table::format_time(q.first_seen),
            q.request.path.clone(),
            q.request.error.clone(),
            result_text(r),
        ]);
    }
    let accepted = results
        .iter()
        .filter(|(_, r)| matches!(r, Retried::Accepted { .. } | Retried::WouldAccept))
        .count();
    let body = if t.is_empty() {
        "nothing quarantined\n".to_owned()
    } else {
        t.render()
    };
    format!(
        "{body}\n{} retried: {accepted} accepted, {} not\n",
        results.len(),
        results.len() - accepted
    )
}

pub fn any_failed(results: &[(QuarantineItem, Retried)]) -> bool {
    results.iter().any(|(_, r)| matches!(r, Retried::Failed(_)))
}
