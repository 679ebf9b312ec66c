//! The two ports of [`crate::ingest`] in memory, with no AWS: what the unit tests of the rule,
//! the request-path fuzz target (and its seeds in `cargo test`) and the per-request benchmark
//! run the handler against. It keeps what the DynamoDB store keeps, with the same conditions.
//! `down` makes every call fail, as DynamoDB or SQS unreachable would; `fail_mark` fails only
//! the mark.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::delivery::{EntityHead, Previous, PreviousKind, ResendEntry, Snapshot};
use crate::envelope::{Envelope, Gap};
use crate::ingest::{Append, DownstreamError, EventStore, Forwarder, Mark, WriteError};
use crate::quarantine::{Kept, QuarantineStore, QuarantinedRequest};
use crate::stored::StoredNotification;
use crate::sweep::{Arrival, Arrivals, SweepState, SweepStore};

/// One entity: its counters and its notifications by sequence.
#[derive(Debug, Default, Clone)]
pub struct MemoryEntity {
    pub head: EntityHead,
    pub notifications: BTreeMap<u64, StoredNotification>,
}

#[derive(Debug, Default)]
pub struct MemoryTables {
    pub entities: HashMap<String, MemoryEntity>,
    /// Content key → the latest notification with that content.
    pub markers: HashMap<String, Previous>,
    /// Every resend entry recorded, used or not.
    pub resend_entries: Vec<ResendEntry>,
    /// What the sweeper's last run left.
    pub sweep_state: Option<SweepState>,
    /// Body hash → (the request, deliveries).
    pub quarantine: HashMap<String, (QuarantinedRequest, u64)>,
    /// `<day>#<provider>` → (new items kept that day, requests counted over the cap).
    pub quarantine_days: HashMap<String, (u64, u64)>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    pub tables: Mutex<MemoryTables>,
    pub down: bool,
    pub fail_mark: bool,
}

impl MemoryStore {
    fn lock(
        &self,
        operation: &'static str,
    ) -> Result<MutexGuard<'_, MemoryTables>, DownstreamError> {
        if self.down {
            return Err(DownstreamError::new(operation, "down"));
        }
        self.tables
            .lock()
            .map_err(|_| DownstreamError::new(operation, "poisoned"))
    }

    /// How many notifications are stored, over every entity.
    pub fn stored(&self) -> usize {
        self.tables.lock().map_or(0, |t| {
            t.entities.values().map(|e| e.notifications.len()).sum()
        })
    }

    /// An entity's counters and notifications, if it has any.
    pub fn entity(&self, entity_key: &str) -> Option<MemoryEntity> {
        self.tables
            .lock()
            .ok()
            .and_then(|t| t.entities.get(entity_key).cloned())
    }

    /// Records resend entries (what `recover resend` records in the table).
    pub fn add_resend_entries(&self, entries: impl IntoIterator<Item = ResendEntry>) {
        if let Ok(mut t) = self.tables.lock() {
            t.resend_entries.extend(entries);
        }
    }
}

impl EventStore for MemoryStore {
    async fn snapshot(&self, envelope: &Envelope) -> Result<Snapshot, DownstreamError> {
        let t = self.lock("snapshot")?;
        Ok(Snapshot {
            head: t.entities.get(&envelope.entity_key).map(|e| e.head.clone()),
            previous: t.markers.get(&envelope.dedup_key).cloned(),
        })
    }

    async fn resend_entries(
        &self,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Vec<ResendEntry>, DownstreamError> {
        let t = self.lock("resend entries")?;
        Ok(t.resend_entries
            .iter()
            .filter(|e| e.dedup_key == envelope.dedup_key && e.expires_at > now)
            .cloned()
            .collect())
    }

    async fn append(&self, append: Append<'_>) -> Result<(), WriteError> {
        let mut t = self.lock("append")?;
        let env = append.envelope;
        let sequence = env
            .sequence
            .ok_or_else(|| DownstreamError::new("append", "the envelope has no sequence"))?;
        let head_now = t
            .entities
            .get(&env.entity_key)
            .map(|e| e.head.last_sequence);
        let marker_now = t.markers.get(&env.dedup_key).map(|p| p.version.clone());
        let seen_head = append.seen.head.as_ref().map(|h| h.last_sequence);
        let seen_marker = append.seen.previous.as_ref().map(|p| p.version.clone());
        if head_now != seen_head || marker_now != seen_marker {
            return Err(WriteError::Conflict);
        }
        let entity = t.entities.entry(env.entity_key.clone()).or_default();
        entity.head.last_sequence = sequence;
        for old in &append.forget_unacked {
            entity.head.unacked.remove(old);
        }
        entity.head.unacked.insert(sequence, env.received_at);
        entity.notifications.insert(
            sequence,
            StoredNotification {
                provider: env.provider.as_str().to_owned(),
                event: env.event.as_str().to_owned(),
                family: env.family.as_str().to_owned(),
                raw_body: append.raw_body.to_owned(),
                received_at: env.received_at,
                dedup_key: env.dedup_key.clone(),
                entity_key: env.entity_key.clone(),
                sequence: Some(sequence),
                repeat_of: env.repeat_of,
                expires_at: Some(append.expires_at),
                aside: None,
            },
        );
        t.markers.insert(
            env.dedup_key.clone(),
            Previous {
                entity_key: env.entity_key.clone(),
                kind: PreviousKind::Sequenced(sequence),
                received_at: env.received_at,
                expires_at: Some(append.expires_at),
                version: version(sequence),
            },
        );
        Ok(())
    }

    async fn use_resend(&self, entry: &ResendEntry, delivery_id: &str) -> Result<(), WriteError> {
        let mut t = self.lock("use resend")?;
        let found = t.resend_entries.iter_mut().find(|e| {
            e.request == entry.request
                && e.entity_key == entry.entity_key
                && e.sequence == entry.sequence
        });
        match found {
            Some(e) if e.used_by.as_deref().is_none_or(|by| by == delivery_id) => {
                e.used_by = Some(delivery_id.to_owned());
                Ok(())
            }
            _ => Err(WriteError::Conflict),
        }
    }

    async fn stored_range(
        &self,
        entity_key: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<StoredNotification>, DownstreamError> {
        let t = self.lock("stored range")?;
        Ok(t.entities.get(entity_key).map_or_else(Vec::new, |e| {
            e.notifications
                .range(from..=to)
                .map(|(_, n)| n.clone())
                .collect()
        }))
    }

    async fn set_aside(
        &self,
        entity_key: &str,
        sequence: u64,
        gap: &Gap,
        _at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        let mut t = self.lock("set aside")?;
        if let Some(n) = t
            .entities
            .get_mut(entity_key)
            .and_then(|e| e.notifications.get_mut(&sequence))
        {
            n.aside = Some(gap.clone());
        }
        Ok(())
    }

    async fn mark(&self, mark: &Mark, _at: OffsetDateTime) -> Result<(), DownstreamError> {
        if self.fail_mark {
            return Err(DownstreamError::new("mark", "down"));
        }
        let mut t = self.lock("mark")?;
        if let Some(entity) = t.entities.get_mut(&mark.entity_key) {
            if let Some(through) = mark.through {
                entity.head.forwarded_sequence = entity.head.forwarded_sequence.max(through);
            }
            if let Some(answered) = mark.answered {
                entity.head.unacked.remove(&answered);
            }
        }
        Ok(())
    }
}

/// Its arrival index is every stored notification: it shows each at once.
impl SweepStore for MemoryStore {
    async fn arrivals(
        &self,
        after: OffsetDateTime,
        until: OffsetDateTime,
        _limit: usize,
    ) -> Result<Arrivals, DownstreamError> {
        let t = self.lock("arrivals")?;
        let mut entries: Vec<Arrival> = t
            .entities
            .iter()
            .flat_map(|(key, e)| {
                e.notifications
                    .iter()
                    .filter(move |(_, n)| n.received_at > after && n.received_at <= until)
                    .map(move |(sequence, n)| Arrival {
                        entity_key: key.clone(),
                        sequence: *sequence,
                        received_at: n.received_at,
                    })
            })
            .collect();
        entries.sort_by(|a, b| {
            (a.received_at, &a.entity_key, a.sequence).cmp(&(
                b.received_at,
                &b.entity_key,
                b.sequence,
            ))
        });
        Ok(Arrivals {
            entries,
            complete_to: until,
        })
    }

    async fn glance(
        &self,
        entity_keys: &[String],
    ) -> Result<BTreeMap<String, EntityHead>, DownstreamError> {
        let t = self.lock("glance")?;
        Ok(entity_keys
            .iter()
            .filter_map(|key| Some((key.clone(), t.entities.get(key)?.head.clone())))
            .collect())
    }

    async fn head(&self, entity_key: &str) -> Result<Option<EntityHead>, DownstreamError> {
        Ok(self
            .lock("head")?
            .entities
            .get(entity_key)
            .map(|e| e.head.clone()))
    }

    async fn sweep_state(&self) -> Result<Option<SweepState>, DownstreamError> {
        Ok(self.lock("sweep state")?.sweep_state.clone())
    }

    async fn set_sweep_state(&self, state: &SweepState) -> Result<(), DownstreamError> {
        self.lock("sweep state")?.sweep_state = Some(state.clone());
        Ok(())
    }
}

impl QuarantineStore for MemoryStore {
    async fn quarantine(
        &self,
        request: &QuarantinedRequest,
        _expires_at: OffsetDateTime,
        max_items: u64,
    ) -> Result<Kept, DownstreamError> {
        let mut t = self.lock("quarantine")?;
        if let Some((_, deliveries)) = t.quarantine.get_mut(&request.body_sha256) {
            *deliveries += 1;
            return Ok(Kept::Again);
        }
        let day = format!("{}#{}", request.received_at.date(), request.provider);
        let (items, over) = t.quarantine_days.entry(day).or_default();
        if *items >= max_items {
            *over += 1;
            return Ok(Kept::OverCap);
        }
        *items += 1;
        t.quarantine
            .insert(request.body_sha256.clone(), (request.clone(), 1));
        Ok(Kept::New)
    }
}

/// The marker version of notification `sequence` (the DynamoDB store uses its `sk`).
fn version(sequence: u64) -> String {
    format!("seq#{sequence:020}")
}

/// A queue: the message bodies sent, serialised as `aws::SqsForwarder` serialises them.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<String>>,
    pub down: bool,
}

impl MemoryQueue {
    /// The envelopes sent, in order.
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.sent.lock().map_or_else(
            |_| Vec::new(),
            |sent| {
                sent.iter()
                    .filter_map(|json| serde_json::from_str(json).ok())
                    .collect()
            },
        )
    }
}

impl Forwarder for MemoryQueue {
    async fn forward(&self, env: &Envelope) -> Result<(), DownstreamError> {
        if self.down {
            return Err(DownstreamError::new("send", "down"));
        }
        let json = serde_json::to_string(env).map_err(|e| DownstreamError::new("send", e))?;
        self.sent
            .lock()
            .map_err(|_| DownstreamError::new("send", "poisoned"))?
            .push(json);
        Ok(())
    }
}
