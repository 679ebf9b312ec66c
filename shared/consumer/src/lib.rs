//! The consumer kit: what a merchant deploys beside the front door so that every real event is
//! booked once, in order, and what the gateway's API contradicts is not booked at all
//! (docs/consumers.md).
//!
//! The rule: each `(entity_key, sequence)` is booked once, in a ledger, by a conditional write;
//! never "skip what is at or below the last sequence", which skips a message redriven from the
//! dead-letter queue after later ones of its entity.
//!
//! The core knows no AWS and no HTTP (its dependencies say so) and is tested in memory:
//!
//! - [`message`]: a queue message's body read back as the front door's [`Envelope`], whatever
//!   the gateway; [`batch`]: a batch processed message by message with FIFO-correct partial
//!   failures (after a group's first failure, the rest of that group in the batch fails too).
//! - [`ledger`]: the ledger's decisions (a copy, the next, after a gap, late) over a port
//!   ([`ledger::Ledger`]), the contiguous watermark, the claim (in progress, with an expiry).
//! - [`confirm`]: which notifications are confirmed with the gateway's API before they are
//!   booked (a doubtful `repeat_of`, every money-moving event), what to ask, and whether the
//!   answer agrees, over a port ([`confirm::GatewayApi`]).
//! - [`business`]: the one trait the merchant writes ([`business::Business`]), and what it is
//!   handed ([`business::Booking`]: the typed envelope, what was confirmed, late or not);
//!   [`ipag`]: the typed view of iPag's transaction bodies.
//! - [`consumer`]: one message through all of it, and a batch; [`metrics`]: one EMF line per
//!   message; [`memory`]: the ports in memory, for tests.
//!
//! With feature `aws`: [`dynamo`] (the ledger on DynamoDB), [`api`] (iugu's and iPag's APIs over
//! HTTPS, with backoff), [`credentials`] (the API tokens from Secrets Manager), [`bookings`]
//! (the example business code, booking into a DynamoDB table), [`sqs`] (Lambda's SQS event and
//! batch response; a poller that feeds the local queue to the consumer as Lambda would). With
//! `lambda`: [`lambda`], the function's start-up. With `stand-in`: [`stand_in`], a local stand-in
//! for the gateways' APIs.
//!
//! [`Envelope`]: webhook_core::Envelope

pub mod batch;
pub mod business;
pub mod confirm;
pub mod consumer;
pub mod ipag;
pub mod ledger;
pub mod memory;
pub mod message;
pub mod metrics;

#[cfg(feature = "aws")]
pub mod api;
#[cfg(feature = "aws")]
pub mod bookings;
#[cfg(feature = "aws")]
pub mod credentials;
#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "aws")]
pub mod sqs;
#[cfg(feature = "stand-in")]
pub mod stand_in;

pub use business::{Booking, Business, BusinessError, Typed};
pub use confirm::{Confirmation, GatewayApi, Lookup, Policy, Snapshot};
pub use consumer::{Consumer, Failure, Outcome};
pub use ledger::{Entry, Head, Ledger, Status};
