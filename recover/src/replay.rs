//! `recover replay`: send stored notifications to the queue again, for a consumer that lost
//! messages. Each message is the one the first forward sent: the envelope is rebuilt from the
//! stored raw body and arrival time, and sent by the functions' own forwarder (same JSON body,
//! same attributes, FIFO group = the entity key, de-duplication id = the notification's key).
//!
//! SQS drops a FIFO message whose de-duplication id it saw in the last 5 minutes: a replay
//! sooner than that after the first forward (or another replay) is silently dropped by the
//! queue. That is the exactly-once promise holding, not a failure.

use shared::ingest::Forwarder;
use shared::Envelope;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::error::RecoverError;
use crate::event_table::{text, EventTable, Item};
use crate::report::{Progress, Table};

/// Rebuilds the envelope the first forward sent, from a stored `event` item.
///
/// The one place that knows how each provider's raw body becomes an envelope: a new provider
/// is one more arm of the `match`. The rebuilt envelope must have the stored key and entity,
/// or the item is refused: a replay never sends a message the first forward did not.
pub fn envelope_from_item(item: &Item) -> Result<Envelope, RecoverError> {
    let pk = text(item, "pk").unwrap_or_default();
    let sk = text(item, "sk").unwrap_or_default();
    let refuse = |why: String| RecoverError::Unreplayable {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        why,
    };
    let field = |name: &str| text(item, name).ok_or_else(|| refuse(format!("it has no `{name}`")));
    let raw_body = field("raw_body")?;
    let received_at = OffsetDateTime::parse(field("received_at")?, &Rfc3339)
        .map_err(|e| refuse(format!("`received_at` is not RFC 3339: {e}")))?;
    let envelope = match field("provider")? {
        "iugu" => Envelope::from_iugu_form(raw_body.as_bytes(), received_at)
            .map_err(|e| refuse(format!("its raw body no longer parses: {e}")))?,
        // iPag names the event in a header, not the body: the item's `event` is that header.
        "ipag" => Envelope::from_ipag_json(raw_body.as_bytes(), Some(field("event")?), received_at)
            .map_err(|e| refuse(format!("its raw body no longer parses: {e}")))?,
        other => return Err(refuse(format!("unknown provider `{other}`"))),
    };
    if envelope.dedup_key != field("dedup_key")? || envelope.entity_key != pk {
        return Err(refuse(
            "its raw body now parses to another key or entity than it was stored under".to_owned(),
        ));
    }
    Ok(envelope)
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
                shared::aws::dynamo::format_time(since),
                shared::aws::dynamo::format_time(until)
            )));
        }
        if since > now {
            return Err(RecoverError::Refused(format!(
                "--since {} is in the future: nothing arrived there yet",
                shared::aws::dynamo::format_time(since)
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
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Replayed {
    pub pk: String,
    pub received_at: String,
    pub event: String,
    pub dedup_key: String,
    pub result: Sent,
}

/// Replays the selection, in arrival order, through `forwarder`; with `dry_run`, only says
/// what it would send.
pub async fn replay<F: Forwarder>(
    table: &EventTable,
    forwarder: &F,
    selection: &Selection,
    dry_run: bool,
    progress: &mut Progress,
) -> Result<Vec<Replayed>, RecoverError> {
    let mut replayed = Vec::new();
    match selection {
        Selection::Entity(pk) => {
            let items = table.events_of(pk).await?;
            send_all(&items, forwarder, dry_run, progress, &mut replayed).await;
        }
        Selection::Period { since, until } => {
            let from_sk = shared::aws::dynamo::format_time(*since);
            let to_sk = shared::aws::dynamo::format_time(*until);
            // One query per UTC day, days in order: arrival order overall.
            let mut day = since.to_offset(time::UtcOffset::UTC).date();
            let last = until.to_offset(time::UtcOffset::UTC).date();
            while day <= last {
                let key = crate::windows::format_date(day);
                let items = table.events_of_day(&key, &from_sk, &to_sk).await?;
                send_all(&items, forwarder, dry_run, progress, &mut replayed).await;
                match day.checked_add(Duration::DAY) {
                    Some(next) => day = next,
                    None => break,
                }
            }
        }
    }
    Ok(replayed)
}

async fn send_all<F: Forwarder>(
    items: &[Item],
    forwarder: &F,
    dry_run: bool,
    progress: &mut Progress,
    out: &mut Vec<Replayed>,
) {
    for item in items {
        let attr = |name: &str| text(item, name).unwrap_or("?").to_owned();
        let result = match envelope_from_item(item) {
            Err(e) => Sent::Failed(e.to_string()),
            Ok(_) if dry_run => Sent::WouldSend,
            Ok(envelope) => match forwarder.forward(&envelope).await {
                Ok(()) => Sent::Sent,
                Err(e) => Sent::Failed(crate::event_table::aws_message(&e)),
            },
        };
        let entry = Replayed {
            pk: attr("pk"),
            received_at: attr("received_at"),
            event: attr("event"),
            dedup_key: attr("dedup_key"),
            result,
        };
        progress.step(&format!(
            "{} {} {}: {}",
            entry.received_at,
            entry.pk,
            entry.event,
            result_text(&entry.result)
        ));
        out.push(entry);
    }
}

fn result_text(result: &Sent) -> String {
    match result {
        Sent::Sent => "sent".to_owned(),
        Sent::WouldSend => "would send (dry run)".to_owned(),
        Sent::Failed(why) => format!("FAILED: {why}"),
    }
}

pub fn replay_table(replayed: &[Replayed], dry_run: bool) -> String {
    let mut table = Table::new(&["received_at", "pk", "event", "dedup_key", "result"]);
    for r in replayed {
        table.row(vec![
            r.received_at.clone(),
            r.pk.clone(),
            r.event.clone(),
            r.dedup_key.clone(),
            result_text(&r.result),
        ]);
    }
    let failed = replayed
        .iter()
        .filter(|r| matches!(r.result, Sent::Failed(_)))
        .count();
    let ok = replayed.len() - failed;
    let verb = if dry_run { "would be sent" } else { "sent" };
    let body = if table.is_empty() {
        "no stored notification matches\n".to_owned()
    } else {
        table.render()
    };
    format!(
        "{body}\n{} notifications: {ok} {verb}, {failed} failed\n",
        replayed.len()
    )
}

pub fn any_failed(replayed: &[Replayed]) -> bool {
    replayed.iter().any(|r| matches!(r.result, Sent::Failed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use time::macros::datetime;

    const PAID: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid";

    fn item(body: &str, provider: &str) -> Item {
        let received_at = datetime!(2026-11-20 10:00:26.398562 UTC);
        let envelope = Envelope::from_iugu_form(body.as_bytes(), received_at).expect("parses");
        let key = shared::aws::dynamo::event_key(&envelope);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        Item::from([
            ("pk".to_owned(), s(&key.pk)),
            ("sk".to_owned(), s(&key.sk)),
            ("provider".to_owned(), s(provider)),
            ("raw_body".to_owned(), s(body)),
            ("received_at".to_owned(), s(&key.received_at)),
            ("dedup_key".to_owned(), s(&envelope.dedup_key)),
        ])
    }

    #[test]
    fn the_envelope_is_rebuilt_exactly() {
        let received_at = datetime!(2026-11-20 10:00:26.398562 UTC);
        let original = Envelope::from_iugu_form(PAID.as_bytes(), received_at).expect("parses");
        let rebuilt = envelope_from_item(&item(PAID, "iugu")).expect("replayable");
        assert_eq!(rebuilt, original);
        assert_eq!(
            serde_json::to_string(&rebuilt).expect("json"),
            serde_json::to_string(&original).expect("json")
        );
    }

    #[test]
    fn an_unknown_provider_or_a_changed_key_is_refused() {
        let err = envelope_from_item(&item(PAID, "stripe")).expect_err("unknown provider");
        assert!(
            err.to_string().contains("unknown provider `stripe`"),
            "{err}"
        );
        let mut tampered = item(PAID, "iugu");
        tampered.insert("dedup_key".to_owned(), AttributeValue::S("0".repeat(64)));
        let err = envelope_from_item(&tampered).expect_err("other key");
        assert!(err.to_string().contains("another key"), "{err}");
        let mut bare = item(PAID, "iugu");
        bare.remove("raw_body");
        let err = envelope_from_item(&bare).expect_err("no body");
        assert!(err.to_string().contains("no `raw_body`"), "{err}");
    }

    /// iPag's event name comes from a header: the item's `event` attribute carries it back.
    #[test]
    fn an_ipag_envelope_is_rebuilt_from_its_body_and_event() {
        let received_at = datetime!(2026-11-20 10:00:26.398562 UTC);
        let body = r#"{"id":3012161,"uuid":"178dea199ac2071615afc44551baf794","resource":"transactions","attributes":{"status":{"code":8,"message":"CAPTURED"}}}"#;
        let original =
            Envelope::from_ipag_json(body.as_bytes(), Some("TransactionCaptured"), received_at)
                .expect("parses");
        let key = shared::aws::dynamo::event_key(&original);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut stored = Item::from([
            ("pk".to_owned(), s(&key.pk)),
            ("sk".to_owned(), s(&key.sk)),
            ("provider".to_owned(), s("ipag")),
            ("event".to_owned(), s("TransactionCaptured")),
            ("raw_body".to_owned(), s(body)),
            ("received_at".to_owned(), s(&key.received_at)),
            ("dedup_key".to_owned(), s(&original.dedup_key)),
        ]);
        assert_eq!(key.pk, "ipag-transaction#3012161");
        let rebuilt = envelope_from_item(&stored).expect("replayable");
        assert_eq!(
            serde_json::to_string(&rebuilt).expect("json"),
            serde_json::to_string(&original).expect("json")
        );
        // Another event name is another notification (another key): refused, not resent.
        stored.insert("event".to_owned(), s("TransactionDenied"));
        let err = envelope_from_item(&stored).expect_err("other key");
        assert!(err.to_string().contains("another key"), "{err}");
        stored.remove("event");
        let err = envelope_from_item(&stored).expect_err("no event");
        assert!(err.to_string().contains("no `event`"), "{err}");
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
