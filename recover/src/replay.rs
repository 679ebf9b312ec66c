//! `recover replay`: send stored notifications to the queue again, for a consumer that lost
//! messages. Each message is the one the first forward sent: the envelope is rebuilt from the
//! stored raw body, arrival time, sequence and `repeat_of`, and sent by the functions' own
//! forwarder (same JSON body, same attributes, FIFO group = the entity key, de-duplication id =
//! the notification's key and sequence).
//!
//! The functions' order rule holds here too: no notification is sent while an earlier one of
//! its entity is stored but not forwarded. Those are sent first, in sequence order, and the
//! entity's `forwarded_sequence` moves up; after a failed send, nothing more of that entity is.
//!
//! SQS drops a FIFO message whose de-duplication id it saw in the last 5 minutes: a replay
//! sooner than that after the first forward (or another replay) is silently dropped by the
//! queue. After that the consumer receives it again, with the same `sequence`.

use std::collections::{HashMap, HashSet};

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use webhook_aws::table::{self, attr};
use webhook_core::ingest::{EventStore, Forwarder, Mark};
use webhook_core::stored::StoredNotification;
use webhook_core::Envelope;

use crate::error::RecoverError;
use crate::event_table::{text, EventTable, Item};
use crate::report::{Progress, Table};

/// Rebuilds the envelope the first forward sent, from a stored `event` item (see
/// `webhook_core::stored`): the rebuilt envelope must have the stored key and entity, or the item is
/// refused. A replay never sends a message the first forward did not.
pub fn envelope_from_item(item: &Item) -> Result<Envelope, RecoverError> {
    let refuse = |why: String| RecoverError::Unreplayable {
        pk: text(item, attr::PK).unwrap_or_default().to_owned(),
        sk: text(item, attr::SK).unwrap_or_default().to_owned(),
        why,
    };
    table::stored_notification(item)
        .map_err(&refuse)?
        .envelope(&webhook_gateways::ALL)
        .map_err(refuse)
}

/// Which stored notifications to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every notification of one entity, e.g. `invoice#<id>`.
    Entity(String),
    /// Every notification that arrived in `[since, until)`.
    Period {
        since: OffsetDateTime,
        until: OffsetDateTime,
    },
}

impl Selection {
    pub fn entity(pk: &str) -> Result<Selection, RecoverError> {
        let pk = pk.trim();
        match pk.split_once('#') {
            Some((kind, id)) if !kind.is_empty() && !id.is_empty() && kind != "dedup" => {
                Ok(Selection::Entity(pk.to_owned()))
            }
            _ => Err(RecoverError::Refused(format!(
                "--pk `{pk}` is not an entity key: write <type>#<id>, e.g. invoice#84F982E1A10F4FF1B483B829F4762C2C"
            ))),
        }
    }

    pub fn period(
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Selection, RecoverError> {
        let until = until.unwrap_or(now);
        if since >= until {
            return Err(RecoverError::Refused(format!(
                "--since {} is not before --until {}: nothing to replay",
                table::format_time(since),
                table::format_time(until)
            )));
        }
        if since > now {
            return Err(RecoverError::Refused(format!(
                "--since {} is in the future: nothing arrived there yet",
                table::format_time(since)
            )));
        }
        Ok(Selection::Period { since, until })
    }
}

/// `2026-11-20T03:00:00Z` (any RFC 3339 time) or `2026-11-20` (midnight UTC), for clap.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    crate::windows::parse_date(s)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            format!(
                "`{s}` is neither an RFC 3339 time (2026-11-20T03:00:00Z) nor a date (2026-11-20)"
            )
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Sent,
    WouldSend,
    /// Forwarded before, and the run was not asked for `--all`.
    Skipped,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Replayed {
    pub pk: String,
    pub sequence: Option<u64>,
    pub received_at: String,
    pub event: String,
    pub dedup_key: String,
    /// Not selected, but sent first: stored and never forwarded, before a selected one.
    pub waited: bool,
    pub result: Sent,
}

/// What a replay sends of the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Only what was stored and never forwarded (the default).
    Unforwarded,
    /// Everything selected (`--all`): consumers receive again what they had.
    All,
}

/// Replays the selection, in order, through `forwarder`; with `dry_run`, only says what it
/// would send. `now` decides which items are past their retention.
pub async fn replay<F: Forwarder>(
    table: &EventTable,
    forwarder: &F,
    selection: &Selection,
    which: Which,
    dry_run: bool,
    progress: &mut Progress,
    now: OffsetDateTime,
) -> Result<Vec<Replayed>, RecoverError> {
    let mut run = Run {
        table,
        forwarder,
        which,
        dry_run,
        forwarded: HashMap::new(),
        blocked: HashSet::new(),
        out: Vec::new(),
    };
    match selection {
        Selection::Entity(pk) => {
            for item in table.events_of(pk, now).await? {
                run.send(&item, progress, now).await?;
            }
        }
        Selection::Period { since, until } => {
            // One query per UTC day, days in order: arrival order overall.
            let mut day = since.to_offset(time::UtcOffset::UTC).date();
            let last = until.to_offset(time::UtcOffset::UTC).date();
            while day <= last {
                let key = crate::windows::format_date(day);
                for item in table.events_of_day(&key, *since, *until, now).await? {
                    run.send(&item, progress, now).await?;
                }
                match day.checked_add(Duration::DAY) {
                    Some(next) => day = next,
                    None => break,
                }
            }
        }
    }
    Ok(run.out)
}

struct Run<'a, F> {
    table: &'a EventTable,
    forwarder: &'a F,
    which: Which,
    dry_run: bool,
    /// Each entity's `forwarded_sequence`, read once, moved up as this run sends.
    forwarded: HashMap<String, u64>,
    /// Entities with a failed send: nothing more of theirs is sent (order).
    blocked: HashSet<String>,
    out: Vec<Replayed>,
}

impl<F: Forwarder> Run<'_, F> {
    async fn send(
        &mut self,
        item: &Item,
        progress: &mut Progress,
        now: OffsetDateTime,
    ) -> Result<(), RecoverError> {
        let pk = text(item, attr::PK).unwrap_or("?").to_owned();
        let sequence = table::number(item, attr::SEQUENCE);
        if let Some(n) = sequence {
            let forwarded = match self.forwarded.get(&pk) {
                Some(f) => *f,
                None => {
                    let f = self
                        .table
                        .head(&pk)
                        .await?
                        .map_or(0, |h| h.forwarded_sequence);
                    self.forwarded.insert(pk.clone(), f);
                    f
                }
            };
            if n > forwarded + 1 {
                let waiting = self
                    .table
                    .store()
                    .stored_range(&pk, forwarded + 1, n - 1)
                    .await
                    .map_err(|e| RecoverError::aws("DynamoDB Query", e))?;
                // Past its retention a notification is gone; one set aside goes as its gap
                // record, as the functions send it.
                for stored in waiting.into_iter().filter(|s| s.is_live(now)) {
                    let envelope = match &stored.aside {
                        Some(gap) => Ok(stored.gap(gap.clone())),
                        None => stored.envelope(&webhook_gateways::ALL).map_err(|why| {
                            RecoverError::Unreplayable {
                                pk: pk.clone(),
                                sk: table::event_sk(stored.sequence.unwrap_or_default()),
                                why,
                            }
                        }),
                    };
                    self.forward(&pk, envelope, describe(&stored), true, progress, now)
                        .await?;
                }
            }
        }
        let stored = table::stored_notification(item);
        let described = match &stored {
            Ok(s) => describe(s),
            Err(_) => Described {
                sequence,
                received_at: text(item, attr::RECEIVED_AT).unwrap_or("?").to_owned(),
                event: text(item, attr::EVENT).unwrap_or("?").to_owned(),
                dedup_key: text(item, attr::DEDUP_KEY).unwrap_or("?").to_owned(),
            },
        };
        let forwarded_before = match sequence {
            Some(n) => self.forwarded.get(&pk).is_some_and(|f| n <= *f),
            // Before sequences, an item said it itself.
            None => item.contains_key(attr::FORWARDED_AT),
        };
        // Stored before sequences and never forwarded, then stored anew (with a sequence) by
        // a later delivery: that one is the notification now, and was sent as such.
        if sequence.is_none() && !forwarded_before && self.superseded(item).await? {
            self.record(&pk, described, false, Sent::Skipped, progress);
            return Ok(());
        }
        if forwarded_before && self.which == Which::Unforwarded {
            self.record(&pk, described, false, Sent::Skipped, progress);
            return Ok(());
        }
        let envelope = envelope_from_item(item);
        self.forward(&pk, envelope, described, false, progress, now)
            .await
    }

    /// Whether a legacy item's content was stored again since, with a sequence (its marker
    /// now points at a sequenced notification).
    async fn superseded(&self, item: &Item) -> Result<bool, RecoverError> {
        let Some(dedup_key) = text(item, attr::DEDUP_KEY) else {
            return Ok(false);
        };
        let key = std::collections::HashMap::from([
            (attr::PK.to_owned(), table::s(table::marker_pk(dedup_key))),
            (attr::SK.to_owned(), table::s(table::MARKER_SK)),
        ]);
        let markers = self
            .table
            .store()
            .get_many(vec![key])
            .await
            .map_err(|e| RecoverError::aws("DynamoDB BatchGetItem", e))?;
        Ok(markers
            .first()
            .is_some_and(|m| table::number(m, attr::SEQUENCE).is_some()))
    }

    fn record(
        &mut self,
        pk: &str,
        described: Described,
        waited: bool,
        result: Sent,
        progress: &mut Progress,
    ) {
        let entry = Replayed {
            pk: pk.to_owned(),
            sequence: described.sequence,
            received_at: described.received_at,
            event: described.event,
            dedup_key: described.dedup_key,
            waited,
            result,
        };
        progress.step(&format!(
            "{} {} {}: {}",
            entry.received_at,
            entry.pk,
            entry.event,
            result_text(&entry)
        ));
        self.out.push(entry);
    }

    /// Sends one notification unless its entity is blocked; moves the entity's
    /// `forwarded_sequence` up when it was not yet there.
    async fn forward(
        &mut self,
        pk: &str,
        envelope: Result<Envelope, RecoverError>,
        described: Described,
        waited: bool,
        progress: &mut Progress,
        now: OffsetDateTime,
    ) -> Result<(), RecoverError> {
        let result = if self.blocked.contains(pk) {
            Sent::Failed(
                "not sent: an earlier notification of this entity failed (order)".to_owned(),
            )
        } else {
            match envelope {
                Err(e) => Sent::Failed(e.to_string()),
                Ok(_) if self.dry_run => Sent::WouldSend,
                Ok(envelope) => match self.forwarder.forward(&envelope).await {
                    Ok(()) => Sent::Sent,
                    Err(e) => Sent::Failed(crate::event_table::aws_message(&e)),
                },
            }
        };
        match (&result, described.sequence) {
            (Sent::Failed(_), Some(_)) => {
                self.blocked.insert(pk.to_owned());
            }
            (Sent::Sent, Some(n)) if self.forwarded.get(pk).is_some_and(|f| n > *f) => {
                let mark = Mark {
                    entity_key: pk.to_owned(),
                    through: Some(n),
                    answered: None,
                };
                self.table
                    .store()
                    .mark(&mark, now)
                    .await
                    .map_err(|e| RecoverError::aws("DynamoDB UpdateItem", e))?;
                self.forwarded.insert(pk.to_owned(), n);
            }
            (Sent::WouldSend, Some(n)) if self.forwarded.get(pk).is_some_and(|f| n > *f) => {
                // A dry run counts as if sent, so what it lists is what a real run would send.
                self.forwarded.insert(pk.to_owned(), n);
            }
            _ => {}
        }
        self.record(pk, described, waited, result, progress);
        Ok(())
    }
}

struct Described {
    sequence: Option<u64>,
    received_at: String,
    event: String,
    dedup_key: String,
}

fn describe(stored: &StoredNotification) -> Described {
    Described {
        sequence: stored.sequence,
        received_at: table::format_time(stored.received_at),
        event: stored.event.clone(),
        dedup_key: stored.dedup_key.clone(),
    }
}

fn result_text(entry: &Replayed) -> String {
    let text = match &entry.result {
        Sent::Sent => "sent".to_owned(),
        Sent::WouldSend => "would send (dry run)".to_owned(),
        Sent::Skipped => "skipped: forwarded before (--all sends it again)".to_owned(),
        Sent::Failed(why) => format!("FAILED: {why}"),
    };
    if entry.waited && !matches!(entry.result, Sent::Failed(_)) {
        format!("{text} first: stored, never forwarded")
    } else {
        text
    }
}

pub fn replay_table(replayed: &[Replayed], dry_run: bool) -> String {
    let mut table = Table::new(&[
        "received_at",
        "pk",
        "sequence",
        "event",
        "dedup_key",
        "result",
    ]);
    for r in replayed {
        table.row(vec![
            r.received_at.clone(),
            r.pk.clone(),
            r.sequence.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            r.event.clone(),
            r.dedup_key.clone(),
            result_text(r),
        ]);
    }
    let failed = replayed
        .iter()
        .filter(|r| matches!(r.result, Sent::Failed(_)))
        .count();
    let skipped = replayed
        .iter()
        .filter(|r| r.result == Sent::Skipped)
        .count();
    let ok = replayed.len() - failed - skipped;
    let verb = if dry_run { "would be sent" } else { "sent" };
    let body = if table.is_empty() {
        "no stored notification matches\n".to_owned()
    } else {
        table.render()
    };
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", {n} skipped (forwarded before; --all sends them again)"),
    };
    format!(
        "{body}\n{} notifications: {ok} {verb}, {failed} failed{skipped}\n",
        replayed.len()
    )
}

pub fn any_failed(replayed: &[Replayed]) -> bool {
    replayed.iter().any(|r| matches!(r.result, Sent::Failed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const PAID: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid";

    /// The rebuilding itself is `webhook_core::stored`'s (tested there); here, that an item that
    /// cannot be rebuilt is refused with its keys, and one that can is rebuilt.
    #[test]
    fn an_item_is_rebuilt_or_refused_with_its_keys() {
        let received_at = datetime!(2026-11-20 10:00:26.398562 UTC);
        let mut original = webhook_iugu::parse(PAID.as_bytes(), received_at).expect("parses");
        original.sequence = Some(2);
        let mut item = table::event_item(&original, PAID, received_at + Duration::days(90));
        assert_eq!(envelope_from_item(&item).expect("replayable"), original);
        item.insert(attr::PROVIDER.to_owned(), table::s("stripe"));
        let err = envelope_from_item(&item).expect_err("unknown provider");
        assert_eq!(
            err.to_string(),
            RecoverError::Unreplayable {
                pk: "invoice#84F982E1A10F4FF1B483B829F4762C2C".to_owned(),
                sk: table::event_sk(2),
                why: "unknown provider `stripe`".to_owned(),
            }
            .to_string()
        );
        item.remove(attr::RAW_BODY);
        let err = envelope_from_item(&item).expect_err("no body");
        assert!(err.to_string().contains("no `raw_body`"), "{err}");
    }

    #[test]
    fn selections_refuse_nonsense() {
        assert!(Selection::entity("invoice#ABC").is_ok());
        for bad in ["invoice", "#ABC", "invoice#", "dedup#abc"] {
            assert!(Selection::entity(bad).is_err(), "{bad}");
        }
        let now = datetime!(2026-11-23 12:00 UTC);
        let since = datetime!(2026-11-20 00:00 UTC);
        assert!(Selection::period(since, None, now).is_ok());
        assert!(Selection::period(since, Some(since), now).is_err());
        assert!(Selection::period(datetime!(2026-11-24 00:00 UTC), None, now).is_err());
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(
            parse_time("2026-11-20T03:00:00-03:00"),
            Ok(datetime!(2026-11-20 06:00 UTC))
        );
        assert_eq!(
            parse_time("2026-11-20"),
            Ok(datetime!(2026-11-20 00:00 UTC))
        );
        assert!(parse_time("yesterday").is_err());
    }
}
