//! `recover backfill-retention`: gives the notifications stored before sequences ("legacy"
//! event items: `kind = event`, no `sequence`, no `expires_at`; `webhook_aws::table`) the
//! `expires_at` the newer ones get when stored, `received_at` + `RETENTION_DAYS`, so that
//! DynamoDB's TTL deletes them (and their copies in the old `by_received_day` index, bodies with
//! names, CPF and e-mail addresses) like every other notification. Once it has run, the index
//! can go (TableIndexes `without-legacy`; docs/deploy.md, "Upgrading").
//!
//! A one-off: a `Scan` of the whole table (read once, whatever its size), filtered to legacy
//! event items, then one conditional `UpdateItem` per item, which never overwrites an
//! `expires_at` set meanwhile (both `webhook_aws::operator`). Running it again finds nothing
//! left to do.

use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use webhook_aws::table::{self, attr};
use webhook_aws::DynamoStore;

use crate::error::RecoverError;
use crate::report::{Progress, Table};

/// What a back-fill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Legacy event items found.
    pub found: u64,
    /// Given an `expires_at` (with `dry_run`: would be).
    pub updated: u64,
    /// Of those, already past their retention: TTL deletes them within about two days.
    pub already_expired: u64,
    /// Items whose `expires_at` appeared meanwhile (left as they were).
    pub raced: u64,
    /// Items without a readable `received_at`: `(pk, sk)`, left as they are.
    pub unreadable: Vec<(String, String)>,
}

/// The `expires_at` of a notification received at `received_at`.
pub fn expires_at(received_at: OffsetDateTime, retention_days: u32) -> OffsetDateTime {
    received_at + Duration::days(i64::from(retention_days))
}

/// Back-fills `table`'s legacy event items with `retention_days` of retention.
pub async fn backfill(
    client: &Client,
    table_name: &str,
    retention_days: u32,
    dry_run: bool,
    progress: &mut Progress,
    now: OffsetDateTime,
) -> Result<Backfilled, RecoverError> {
    let store = DynamoStore::new(client.clone(), table_name);
    let mut done = Backfilled::default();
    let mut start = None;
    loop {
        let page = store
            .legacy_without_expiry(start)
            .await
            .map_err(|why| RecoverError::aws("DynamoDB Scan", why))?;
        for item in page.items {
            done.found += 1;
            let pk = table::text(&item, attr::PK).unwrap_or_default().to_owned();
            let sk = table::text(&item, attr::SK).unwrap_or_default().to_owned();
            let received = table::text(&item, attr::RECEIVED_AT)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            let Some(received) = received else {
                done.unreadable.push((pk, sk));
                continue;
            };
            let expires = expires_at(received, retention_days);
            if !dry_run
                && !store
                    .set_expiry_if_absent(&pk, &sk, expires)
                    .await
                    .map_err(|why| RecoverError::aws("DynamoDB UpdateItem", why))?
            {
                done.raced += 1;
                continue;
            }
            done.updated += 1;
            if expires <= now {
                done.already_expired += 1;
            }
        }
        progress.step(&format!(
            "{} legacy notifications found, {} {}",
            done.found,
            done.updated,
            if dry_run {
                "would be given expires_at"
            } else {
                "given expires_at"
            }
        ));
        start = page.next;
        if start.is_none() {
            return Ok(done);
        }
    }
}

/// The summary `backfill-retention` prints.
pub fn report(done: &Backfilled, retention_days: u32, dry_run: bool) -> String {
    let mut table = Table::new(&["legacy notifications", "count"]);
    table.row(vec![
        "found without expires_at".into(),
        done.found.to_string(),
    ]);
    table.row(vec![
        format!(
            "{} expires_at = received_at + {retention_days} days",
            if dry_run { "would get" } else { "given" }
        ),
        done.updated.to_string(),
    ]);
    table.row(vec![
        "  of which already past it (TTL deletes them within about 2 days)".into(),
        done.already_expired.to_string(),
    ]);
    table.row(vec![
        "given one meanwhile by someone else (left as is)".into(),
        done.raced.to_string(),
    ]);
    table.row(vec![
        "without a readable received_at (left as is)".into(),
        done.unreadable.len().to_string(),
    ]);
    let mut out = table.render();
    for (pk, sk) in done.unreadable.iter().take(20) {
        out.push_str(&format!("  no readable received_at: {pk} / {sk}\n"));
    }
    if !dry_run && done.unreadable.is_empty() {
        out.push_str(
            "Every legacy notification now expires. Once TTL has deleted those past their \
             retention, the by_received_day index holds nothing more: drop it with \
             TableIndexes=without-legacy (docs/deploy.md, \"Upgrading\").\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_notification_expires_as_a_new_one_would() {
        let received = time::macros::datetime!(2026-01-10 12:00 UTC);
        assert_eq!(
            expires_at(received, 90),
            time::macros::datetime!(2026-04-10 12:00 UTC)
        );
    }
}
