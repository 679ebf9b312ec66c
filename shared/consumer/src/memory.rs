//! The ports in memory, with the conditions the DynamoDB ledger has: for the unit tests, and
//! for anyone who tests business code without AWS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::business::{Booking, Business, BusinessError};
use crate::confirm::{ApiError, GatewayApi, Lookup, Snapshot};
use crate::ledger::{
    Aside, Claim, ClaimRequest, Entry, Head, Ledger, LedgerError, Settlement, Slot, Status,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A row as the memory ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub entry: Entry,
    pub token: Option<String>,
    pub expires_at: Option<time::OffsetDateTime>,
    pub confirmation: &'static str,
    pub api_status: Option<String>,
}

#[derive(Debug, Default)]
struct Entity {
    head: Head,
    rows: BTreeMap<String, Row>,
    aside: BTreeMap<String, Aside>,
}

/// The ledger in memory. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    entities: Arc<Mutex<HashMap<String, Entity>>>,
}

impl MemoryLedger {
    /// The rows of `entity`, by sort key.
    pub fn rows(&self, entity: &str) -> Vec<Row> {
        lock(&self.entities)
            .get(entity)
            .map(|e| e.rows.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The asides of `entity`.
    pub fn aside(&self, entity: &str) -> Vec<Aside> {
        lock(&self.entities)
            .get(entity)
            .map(|e| e.aside.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn head_of(&self, entity: &str) -> Head {
        lock(&self.entities)
            .get(entity)
            .map(|e| e.head.clone())
            .unwrap_or_default()
    }
}

impl Ledger for MemoryLedger {
    async fn head(&self, entity: &str) -> Result<Head, LedgerError> {
        Ok(self.head_of(entity))
    }

    async fn entries_after(&self, entity: &str, sequence: u64) -> Result<Vec<Entry>, LedgerError> {
        let from = Slot::Sequence(sequence + 1).sort_key();
        Ok(lock(&self.entities)
            .get(entity)
            .map(|e| {
                e.rows
                    .range(from..)
                    .filter(|(k, _)| k.starts_with(crate::ledger::SEQUENCE_PREFIX))
                    .map(|(_, r)| r.entry.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn claim(&self, entity: &str, request: &ClaimRequest<'_>) -> Result<Claim, LedgerError> {
        let mut entities = lock(&self.entities);
        let rows = &mut entities.entry(entity.to_owned()).or_default().rows;
        let key = request.slot.sort_key();
        let filled_gap = match rows.get(&key) {
            None => false,
            Some(row) if row.entry.status == Status::Gap && request.may_fill_gap => true,
            Some(row)
                if row.entry.status == Status::InProgress
                    && row.expires_at.is_some_and(|at| at < request.now) =>
            {
                false
            }
            Some(row) if row.entry.status == Status::InProgress => return Ok(Claim::Busy),
            Some(row) => return Ok(Claim::Settled(row.entry.clone())),
        };
        let previous = rows.get(&key).cloned();
        rows.insert(
            key,
            Row {
                entry: Entry {
                    sequence: request.slot.sequence().unwrap_or(0),
                    status: Status::InProgress,
                    event: request.event.to_owned(),
                    dedup_key: request.dedup_key.to_owned(),
                    late: false,
                },
                token: Some(request.token.to_owned()),
                expires_at: Some(request.expires_at),
                confirmation: previous.map_or("", |p| p.confirmation),
                api_status: None,
            },
        );
        Ok(Claim::Claimed { filled_gap })
    }

    async fn settle(&self, entity: &str, s: &Settlement<'_>) -> Result<(), LedgerError> {
        let mut entities = lock(&self.entities);
        let state = entities.entry(entity.to_owned()).or_default();
        let key = s.slot.sort_key();
        let ours = state
            .rows
            .get(&key)
            .is_some_and(|r| r.token.as_deref() == Some(s.token));
        if !ours {
            return Err(LedgerError::ClaimLost);
        }
        if let Some((before, _)) = &s.head {
            if state.head.version != before.version {
                return Err(LedgerError::HeadMoved);
            }
        }
        if let Some(row) = state.rows.get_mut(&key) {
            row.entry.status = s.status;
            row.entry.late = s.details.late;
            row.token = None;
            row.expires_at = None;
            row.confirmation = s.details.confirmation;
            row.api_status = s.details.api_status.clone();
        }
        if let Some((_, after)) = &s.head {
            state.head = after.clone();
        }
        if let Some(aside) = &s.aside {
            state.aside.insert(key, aside.clone());
        }
        Ok(())
    }

    async fn release(
        &self,
        entity: &str,
        slot: Slot<'_>,
        token: &str,
        filled_gap: bool,
    ) -> Result<(), LedgerError> {
        let mut entities = lock(&self.entities);
        let Some(state) = entities.get_mut(entity) else {
            return Ok(());
        };
        let key = slot.sort_key();
        if state.rows.get(&key).and_then(|r| r.token.as_deref()) != Some(token) {
            return Ok(());
        }
        if filled_gap {
            if let Some(row) = state.rows.get_mut(&key) {
                row.entry.status = Status::Gap;
                row.token = None;
                row.expires_at = None;
            }
        } else {
            state.rows.remove(&key);
        }
        Ok(())
    }
}

/// A gateway API that answers from a table, counting the calls. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct FixedApi {
    answers: Arc<Mutex<HashMap<Lookup, Result<Snapshot, ApiError>>>>,
    calls: Arc<Mutex<Vec<Lookup>>>,
}

impl FixedApi {
    pub fn answer(&self, lookup: Lookup, answer: Result<Snapshot, ApiError>) {
        lock(&self.answers).insert(lookup, answer);
    }

    pub fn calls(&self) -> Vec<Lookup> {
        lock(&self.calls).clone()
    }
}

impl GatewayApi for FixedApi {
    async fn lookup(&self, lookup: &Lookup) -> Result<Snapshot, ApiError> {
        lock(&self.calls).push(lookup.clone());
        lock(&self.answers)
            .get(lookup)
            .cloned()
            .unwrap_or(Ok(Snapshot::Missing))
    }
}

/// What a [`Recorder`] kept of a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub id: String,
    pub event: String,
    pub sequence: Option<u64>,
    pub confirmation: &'static str,
    /// The sequences booked since, when it came late.
    pub late_after: Option<Vec<u64>>,
    pub missing_before: Option<(u64, u64)>,
    pub gap: bool,
}

/// Business code that keeps what it was handed, and fails the sequences it is told to. Clones
/// share it.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    booked: Arc<Mutex<Vec<Booked>>>,
    failing: Arc<Mutex<Vec<u64>>>,
}

impl Recorder {
    pub fn booked(&self) -> Vec<Booked> {
        lock(&self.booked).clone()
    }

    /// Fails every booking of `sequence` until [`Recorder::fixed`].
    pub fn fail(&self, sequence: u64) {
        lock(&self.failing).push(sequence);
    }

    pub fn fixed(&self) {
        lock(&self.failing).clear();
    }
}

impl Business for Recorder {
    async fn book(&self, booking: &Booking<'_>) -> Result<(), BusinessError> {
        let sequence = booking.sequence();
        if sequence.is_some_and(|n| lock(&self.failing).contains(&n)) {
            return Err(BusinessError("told to fail".to_owned()));
        }
        lock(&self.booked).push(Booked {
            id: booking.id.to_owned(),
            event: booking.envelope.event.to_string(),
            sequence,
            confirmation: booking.confirmation.as_str(),
            late_after: booking
                .late
                .map(|entries| entries.iter().map(|e| e.sequence).collect()),
            missing_before: booking.missing_before.map(|r| (*r.start(), *r.end())),
            gap: booking.envelope.gap.is_some(),
        });
        Ok(())
    }
}
