//! The business code the merchant writes: one trait, [`Business`], handed each notification to
//! book as a [`Booking`]: the envelope and its typed view, what the gateway's API confirmed,
//! and whether it comes late (after later notifications of its entity, with what was booked
//! since).
//!
//! The kit calls it once per `(entity_key, sequence)` that is to be booked, in order per entity
//! (a late one excepted, and marked), never for a copy, a notification the API contradicts or
//! a copy the API shows to be one. It may call it again for the same booking if the process
//! died after the business code ran and before the ledger settled it: [`Booking::id`] is the
//! key to make its own writes idempotent (a conditional put keyed by it, as
//! `webhook_consumer::bookings` does).

use std::future::Future;
use std::ops::RangeInclusive;

use webhook_core::{Envelope, Gap};
use webhook_iugu::{Typed as _, TypedEvent};

use crate::confirm::Confirmation;
use crate::ipag::IpagView;
use crate::ledger::Entry;

/// One notification to book.
#[derive(Debug, Clone, Copy)]
pub struct Booking<'a> {
    /// `<entity_key>#<sequence>`: unique per booking, the same on every call for it.
    pub id: &'a str,
    pub envelope: &'a Envelope,
    /// What the gateway's API said, if it was asked.
    pub confirmation: &'a Confirmation,
    /// Set when it comes after later notifications of its entity (a redrive from the
    /// dead-letter queue, or a gap record's notification): what was booked since, in order.
    pub late: Option<&'a [Entry]>,
    /// Sequences of its entity never seen before it (they are in the dead-letter queue, or the
    /// ledger started after them).
    pub missing_before: Option<&'a RangeInclusive<u64>>,
    /// It is the notification a gap record stood for.
    pub fills_gap: bool,
}

/// The notification's documented fields, typed, by gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed<'a> {
    /// iugu's views (statuses as enums, cents as integers, dates parsed).
    Iugu(TypedEvent<'a>),
    Ipag(IpagView<'a>),
    /// A gap record: the notification was not received; its names and keys, and why.
    Gap(&'a Gap),
    /// Another gateway's.
    Other,
}

impl<'a> Booking<'a> {
    pub fn typed(&self) -> Typed<'a> {
        let envelope = self.envelope;
        if let Some(gap) = &envelope.gap {
            return Typed::Gap(gap);
        }
        if envelope.provider == webhook_iugu::PROVIDER {
            return Typed::Iugu(envelope.typed());
        }
        IpagView::of(envelope).map_or(Typed::Other, Typed::Ipag)
    }

    pub fn sequence(&self) -> Option<u64> {
        self.envelope.sequence
    }
}

/// Why the business code could not book: the message fails and is retried (then kept by the
/// dead-letter queue). Say what, never personal data: it is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BusinessError(pub String);

/// The merchant's code.
pub trait Business {
    fn book(&self, booking: &Booking<'_>) -> impl Future<Output = Result<(), BusinessError>>;
}
