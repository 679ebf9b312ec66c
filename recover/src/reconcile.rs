//! `recover reconcile`: compare what iugu says of each invoice changed in a period with the
//! latest status we stored, and list the gaps; with `--fix`, ask iugu to deliver exactly
//! those invoices' notifications again.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::RecoverError;
use crate::event_table::{EventTable, StoredStatus};
use crate::iugu_api::{Invoice, IuguApi};
use crate::report::{Progress, Table};
use crate::resend::{resend_invoice, DeliveryAction, DeliveryOutcome, Which};
use crate::windows::{format_date, Window, IUGU_OFFSET};

#[derive(Debug, Clone)]
pub struct Gap {
    pub invoice_id: String,
    pub iugu_status: String,
    pub ours: StoredStatus,
    /// With `--fix`: what iugu was asked, or why that failed.
    pub fix: Option<Result<Vec<DeliveryOutcome>, String>>,
}

#[derive(Debug, Default)]
pub struct Reconciled {
    /// Invoices iugu reported as changed in the period.
    pub checked: usize,
    /// Pages of iugu's list read.
    pub pages: u32,
    pub gaps: Vec<Gap>,
    /// Entities of any type with a notification stored and not yet forwarded: the sweeper's
    /// list and the period's arrivals (the sweeper's work; `recover replay` sends them too).
    pub unforwarded: Vec<webhook_core::sweep::PendingEntity>,
    /// Requests refused and kept on the period's days, not yet resolved (`recover quarantine`).
    pub quarantined: Vec<webhook_aws::table::QuarantineItem>,
}

impl Reconciled {
    /// Whether anything is left that this run did not (or could not) fix.
    pub fn anything_left(&self) -> bool {
        self.gaps.iter().any(gap_left)
            || !self.unforwarded.is_empty()
            || !self.quarantined.is_empty()
    }
}

/// Most unforwarded entities a reconcile lists.
pub const MAX_UNFORWARDED_LISTED: usize = 1_000;

/// Every invoice iugu lists as updated in `period` (São Paulo dates, both ends included),
/// `page_size` per page.
pub async fn changed_invoices<A: IuguApi>(
    api: &A,
    period: Window,
    page_size: u32,
) -> Result<(Vec<Invoice>, u32), RecoverError> {
    let since = period.from.midnight().assume_offset(IUGU_OFFSET);
    let until = period
        .to
        .next_day()
        .map(|d| d.midnight().assume_offset(IUGU_OFFSET));
    let page_size = page_size.max(1);
    let mut invoices = Vec::new();
    let mut start = 0u64;
    let mut pages = 0u32;
    loop {
        let page = api.invoices_updated_since(since, start, page_size).await?;
        pages += 1;
        let got = page.items.len() as u64;
        // iugu filters by `updated_since` only; the end of the period is applied here. An
        // `updated_at` that does not parse keeps its invoice: better a check too many.
        invoices.extend(page.items.into_iter().filter(|invoice| {
            match (&invoice.updated_at, until) {
                (Some(at), Some(until)) => OffsetDateTime::parse(at, &Rfc3339)
                    .map(|at| at < until)
                    .unwrap_or(true),
                _ => true,
            }
        }));
        start += got;
        // A short page is the last; `totalItems` alone cannot be trusted to end the loop (it
        // may count the whole account), but no page starts past it.
        if got < u64::from(page_size) || start >= page.total_items {
            return Ok((invoices, pages));
        }
    }
}

/// Finds the gaps, and with `fix` asks iugu to retry every delivery of each gap's invoice.
pub async fn reconcile<A: IuguApi>(
    api: &A,
    table: &EventTable,
    period: Window,
    page_size: u32,
    fix: bool,
    progress: &mut Progress,
    now: OffsetDateTime,
) -> Result<Reconciled, RecoverError> {
    let (invoices, pages) = changed_invoices(api, period, page_size).await?;
    progress.note(&format!(
        "iugu lists {} invoices updated {} .. {} ({pages} pages)",
        invoices.len(),
        format_date(period.from),
        format_date(period.to)
    ));
    let mut report = Reconciled {
        checked: invoices.len(),
        pages,
        ..Reconciled::default()
    };
    for invoice in invoices {
        let iugu_status = invoice.status.clone().unwrap_or_default();
        let ours = table.latest_invoice_status(&invoice.id, now).await?;
        let in_step = match &ours {
            StoredStatus::Latest(status) => *status == iugu_status,
            StoredStatus::Never | StoredStatus::NoStatus => false,
        };
        progress.step(&format!(
            "invoice {}: iugu {iugu_status}, ours {}",
            invoice.id,
            ours_text(&ours)
        ));
        if in_step {
            continue;
        }
        let fix = if fix {
            // Recorded first, as `recover resend --invoice` does (see `resend`).
            let mut quiet = Progress::hidden();
            Some(
                match resend_invoice(api, &invoice.id, Which::All, Some((table, now)), &mut quiet)
                    .await
                {
                    Ok(outcomes) => Ok(outcomes),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => Err(e.to_string()),
                },
            )
        } else {
            None
        };
        report.gaps.push(Gap {
            invoice_id: invoice.id,
            iugu_status,
            ours,
            fix,
        });
    }
    // Every entity type: what waits to be forwarded (the sweeper's list, and the period's
    // arrivals not forwarded), and what was refused and kept.
    let since = period.from.midnight().assume_offset(IUGU_OFFSET);
    let until = period
        .to
        .next_day()
        .map_or(now, |d| d.midnight().assume_offset(IUGU_OFFSET))
        .min(now);
    report.unforwarded = table
        .unforwarded(since, until, MAX_UNFORWARDED_LISTED)
        .await?;
    report.quarantined = crate::quarantine::list(table, period.from, period.to, now)
        .await?
        .into_iter()
        .filter(|q| q.resolved_at.is_none())
        .collect();
    Ok(report)
}

fn ours_text(ours: &StoredStatus) -> String {
    match ours {
        StoredStatus::Never => "never seen".to_owned(),
        StoredStatus::NoStatus => "seen, no status".to_owned(),
        StoredStatus::Latest(s) => s.clone(),
    }
}

fn fix_text(fix: &Option<Result<Vec<DeliveryOutcome>, String>>) -> String {
    match fix {
        None => "-".to_owned(),
        Some(Err(why)) => format!("FAILED: {why}"),
        Some(Ok(outcomes)) if outcomes.is_empty() => {
            "nothing to retry: iugu logged no delivery".to_owned()
        }
        Some(Ok(outcomes)) => {
            let failed = outcomes
                .iter()
                .filter(|o| matches!(o.action, DeliveryAction::Failed(_)))
                .count();
            let retried = outcomes.len() - failed;
            if failed == 0 {
                format!("{retried} deliveries retried")
            } else {
                format!("{retried} deliveries retried, {failed} FAILED")
            }
        }
    }
}

/// True when a gap is left that `--fix` did not (or could not) ask iugu to close.
pub fn gap_left(gap: &Gap) -> bool {
    match &gap.fix {
        None | Some(Err(_)) => true,
        Some(Ok(outcomes)) => {
            outcomes.is_empty()
                || outcomes
                    .iter()
                    .any(|o| matches!(o.action, DeliveryAction::Failed(_)))
        }
    }
}

pub fn reconcile_table(report: &Reconciled, fix: bool) -> String {
    let mut table = Table::new(&["invoice", "iugu says", "we last stored", "fix"]);
    for gap in &report.gaps {
        table.row(vec![
            gap.invoice_id.clone(),
            gap.iugu_status.clone(),
            ours_text(&gap.ours),
            fix_text(&gap.fix),
        ]);
    }
    let body = if table.is_empty() {
        "no gaps: every invoice's latest stored status is iugu's\n".to_owned()
    } else {
        table.render()
    };
    let never = report
        .gaps
        .iter()
        .filter(|g| g.ours == StoredStatus::Never)
        .count();
    let tail = if fix || report.gaps.is_empty() {
        String::new()
    } else {
        " (run again with --fix to ask iugu to resend them)".to_owned()
    };
    let mut out = format!(
        "{body}\n{} invoices checked, {} gaps ({never} never seen, {} behind){tail}\n",
        report.checked,
        report.gaps.len(),
        report.gaps.len() - never
    );
    if !report.unforwarded.is_empty() {
        let mut waiting = Table::new(&["entity", "waiting since"]);
        for p in &report.unforwarded {
            waiting.row(vec![
                p.entity_key.clone(),
                webhook_aws::table::format_time(p.since),
            ]);
        }
        out.push_str(&format!(
            "\n{}\n{} entities with notifications stored and not forwarded (the sweeper sends \
             them; `recover replay --pk <entity>` now)\n",
            waiting.render(),
            report.unforwarded.len()
        ));
    }
    if !report.quarantined.is_empty() {
        out.push_str(&format!(
            "\n{}{} requests refused and kept, not resolved (`recover quarantine retry` once \
             the parser takes them)\n",
            crate::quarantine::list_table(&report.quarantined),
            report.quarantined.len()
        ));
    }
    out
}
