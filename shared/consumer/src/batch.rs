//! A batch from a FIFO queue, message by message, with partial failures that keep each
//! group's order.
//!
//! Lambda's SQS event source hands a function up to 10 messages, in order within each message
//! group, several groups mixed. With `ReportBatchItemFailures` the function names the messages
//! that failed; SQS deletes the others and makes the failed ones visible again. If a group's
//! message fails and a later message of the same group succeeded, the later one would be
//! booked before the earlier: so once a group fails in a batch, every later message of that
//! group is reported failed too, unprocessed. Other groups go on. (AWS Lambda Powertools'
//! `SqsFifoPartialProcessor` with `skip_group_on_error=True` does the same.) A message without
//! a group (a standard queue) fails alone.

use std::collections::HashSet;

use crate::message::Record;

/// What happened to each message of a batch, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate<T, E> {
    Done(T),
    Failed(E),
    /// Not processed: an earlier message of its group failed in this batch.
    Held,
}

/// The message ids to report as failures: every message whose fate is not `Done`.
pub fn failures<T, E>(records: &[Record], fates: &[Fate<T, E>]) -> Vec<String> {
    records
        .iter()
        .zip(fates)
        .filter(|(_, fate)| !matches!(fate, Fate::Done(_)))
        .map(|(record, _)| record.message_id.clone())
        .collect()
}

/// Runs `process` on each record in order, skipping (as [`Fate::Held`]) every record of a
/// group that already failed in this batch.
pub async fn in_order<T, E>(
    records: &[Record],
    mut process: impl AsyncFnMut(&Record) -> Result<T, E>,
) -> Vec<Fate<T, E>> {
    let mut failed_groups: HashSet<&str> = HashSet::new();
    let mut fates = Vec::with_capacity(records.len());
    for record in records {
        if let Some(group) = record.group.as_deref() {
            if failed_groups.contains(group) {
                fates.push(Fate::Held);
                continue;
            }
        }
        match process(record).await {
            Ok(done) => fates.push(Fate::Done(done)),
            Err(e) => {
                if let Some(group) = record.group.as_deref() {
                    failed_groups.insert(group);
                }
                fates.push(Fate::Failed(e));
            }
        }
    }
    fates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, group: Option<&str>) -> Record {
        Record {
            message_id: id.to_owned(),
            group: group.map(str::to_owned),
            body: id.to_owned(),
        }
    }

    #[tokio::test]
    async fn after_a_groups_first_failure_its_later_messages_fail_unprocessed_and_others_go_on() {
        let records = [
            record("a1", Some("A")),
            record("b1", Some("B")),
            record("a2", Some("A")),
            record("b2", Some("B")),
            record("a3", Some("A")),
            record("c1", None),
            record("c2", None),
        ];
        let mut seen = Vec::new();
        let fates = in_order(&records, async |r| {
            seen.push(r.message_id.clone());
            if r.message_id == "a2" || r.message_id == "c1" {
                Err("failed")
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(seen, ["a1", "b1", "a2", "b2", "c1", "c2"], "a3 never ran");
        assert_eq!(
            fates,
            [
                Fate::Done(()),
                Fate::Done(()),
                Fate::Failed("failed"),
                Fate::Done(()),
                Fate::Held,
                Fate::Failed("failed"),
                Fate::Done(()),
            ]
        );
        assert_eq!(failures(&records, &fates), ["a2", "a3", "c1"]);
    }
}
