//! The two ports of [`crate::ingest`] in memory, with no AWS: what the request-path fuzz target
//! (and its seeds in `cargo test`) and the per-request benchmark run the handler against.
//! `down` makes every call fail, as DynamoDB or SQS unreachable would.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::ingest::{Claim, DownstreamError, EventStore, Forwarder, Stored};
use crate::Envelope;

/// A store: de-duplication key → (first arrival, forwarded at), as the `dedup` item holds them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub items: Mutex<HashMap<String, (OffsetDateTime, Option<OffsetDateTime>)>>,
    pub down: bool,
}

impl EventStore for MemoryStore {
    async fn claim(&self, env: &Envelope, _raw: &str) -> Result<Claim, DownstreamError> {
        if self.down {
            return Err(DownstreamError::new("claim", "down"));
        }
        let mut items = self
            .items
            .lock()
            .map_err(|_| DownstreamError::new("claim", "poisoned"))?;
        Ok(match items.get(&env.dedup_key) {
            Some(&(first, forwarded)) => Claim::Duplicate(Stored {
                first_received_at: first,
                forwarded_at: forwarded,
            }),
            None => {
                items.insert(env.dedup_key.clone(), (env.received_at, None));
                Claim::New
            }
        })
    }

    async fn mark_forwarded(
        &self,
        env: &Envelope,
        at: OffsetDateTime,
    ) -> Result<(), DownstreamError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| DownstreamError::new("mark", "poisoned"))?;
        if let Some(item) = items.get_mut(&env.dedup_key) {
            item.1 = Some(at);
        }
        Ok(())
    }
}

/// A queue: the message bodies sent, serialised as `aws::SqsForwarder` serialises them.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<String>>,
    pub down: bool,
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
