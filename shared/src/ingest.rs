//! Store once, forward once: the rule every function applies to a parsed notification.
//!
//! 1. `claim` stores the notification unless its de-duplication key was stored before. That is
//!    one conditional write, so of any number of deliveries (retries, resends, concurrent
//!    invocations) exactly one creates the item.
//! 2. If this delivery stored it, or a previous one stored it but never got it forwarded (its
//!    `send` failed, or the process died), it is sent to the queue now.
//! 3. Once the queue accepted it, the stored item is marked `forwarded_at`; a later duplicate
//!    then costs nothing but the conditional write.
//!
//! A failure to store or to send is an error for the caller (5xx for the gateway, which
//! retries); no step is skipped on error, so the retry takes up where this delivery stopped.
//! Two deliveries that both find the item unforwarded both send: a FIFO queue drops the second,
//! since both carry the de-duplication key as `MessageDeduplicationId` (SQS keeps it for 5
//! minutes).
//!
//! A failure to *mark* is not an error: the queue has the notification, so the gateway must
//! not retry. A retry would send it again, and if it came after SQS's 5-minute window the
//! consumer would get it twice. The item stays unmarked; the caller logs it (see
//! [`Accepted::unmarked`]), and only a later resend of the same notification would send again.
//!
//! This module knows nothing of AWS: [`EventStore`] and [`Forwarder`] are the ports; the
//! adapters live in `aws`, and tests swap in fakes.

use std::future::Future;

use thiserror::Error;
use time::OffsetDateTime;

use crate::envelope::Envelope;

/// Where a notification's item lives, as found by [`EventStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// When the first delivery of this notification arrived (it orders the item).
    pub first_received_at: OffsetDateTime,
    /// When the queue accepted it, if it has.
    pub forwarded_at: Option<OffsetDateTime>,
}

/// What [`EventStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery stored the notification.
    New,
    /// An earlier delivery did.
    Duplicate(Stored),
}

/// A failure of the store or the queue: worth a retry, never the gateway's fault.
#[derive(Debug, Error)]
#[error("{operation} failed: {source}")]
pub struct DownstreamError {
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DownstreamError {
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        DownstreamError {
            operation,
            source: source.into(),
        }
    }
}

/// Which side failed: the store (nothing or not all was recorded) or the queue.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("store: {0}")]
    Store(DownstreamError),
    #[error("forward: {0}")]
    Forward(DownstreamError),
}

/// Keeps notifications, once each.
pub trait EventStore: Send + Sync {
    /// Stores the notification and its raw body unless one with the same de-duplication key
    /// is already stored.
    fn claim(
        &self,
        envelope: &Envelope,
        raw_body: &str,
    ) -> impl Future<Output = Result<Claim, DownstreamError>> + Send;

    /// Records that the queue accepted the notification whose first delivery arrived at
    /// `envelope.received_at`.
    fn mark_forwarded(
        &self,
        envelope: &Envelope,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
}

/// Hands notifications to the customer's systems.
pub trait Forwarder: Send + Sync {
    fn forward(
        &self,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<(), DownstreamError>> + Send;
}

/// What happened to a delivery that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// First delivery: stored and forwarded.
    Stored,
    /// Stored before; forwarded now, because no earlier delivery got it forwarded.
    DuplicateForwarded,
    /// Stored and forwarded before: nothing to do.
    Duplicate,
}

impl Outcome {
    /// The `status` the gateway is answered with: the first delivery or a duplicate.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::DuplicateForwarded | Outcome::Duplicate => "duplicate",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::DuplicateForwarded => "duplicate_forwarded",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// A delivery the pipeline took: it is stored and the queue has it.
#[derive(Debug)]
pub struct Accepted {
    pub outcome: Outcome,
    /// Why the item could not be marked `forwarded_at`, if it could not (see the module
    /// documentation): worth a log line, not a retry.
    pub unmarked: Option<DownstreamError>,
}

/// Stores `envelope` once and forwards it once. `now` stamps `forwarded_at`.
pub async fn ingest<S: EventStore, F: Forwarder>(
    store: &S,
    forwarder: &F,
    mut envelope: Envelope,
    raw_body: &str,
    now: impl Fn() -> OffsetDateTime,
) -> Result<Accepted, IngestError> {
    let outcome = match store
        .claim(&envelope, raw_body)
        .await
        .map_err(IngestError::Store)?
    {
        Claim::New => Outcome::Stored,
        Claim::Duplicate(Stored {
            forwarded_at: Some(_),
            ..
        }) => {
            return Ok(Accepted {
                outcome: Outcome::Duplicate,
                unmarked: None,
            })
        }
        Claim::Duplicate(Stored {
            first_received_at, ..
        }) => {
            // Forward what was stored: the first delivery's arrival, not this retry's.
            envelope.received_at = first_received_at;
            Outcome::DuplicateForwarded
        }
    };
    forwarder
        .forward(&envelope)
        .await
        .map_err(IngestError::Forward)?;
    let unmarked = store.mark_forwarded(&envelope, now()).await.err();
    Ok(Accepted { outcome, unmarked })
}
