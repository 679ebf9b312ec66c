//! iugu, the first gateway: its form bodies ([`form`]), event names and families ([`event`]),
//! which entity a notification is about ([`entity`]), its de-duplication key ([`dedup`]), the
//! typed views of its documented fields ([`status`], [`typed`]), and its parser ([`mod@parse`]),
//! from a body to an [`Envelope`](crate::envelope::Envelope). Core only: nothing here knows
//! HTTP or AWS.

pub mod dedup;
pub mod entity;
pub mod event;
pub mod form;
pub mod parse;
pub mod status;
pub mod typed;

pub use event::{EventName, Family};
pub use parse::parse;
pub use typed::{Typed, TypedEvent};

use crate::envelope::Provider;

/// The `provider` of iugu's envelopes.
pub const PROVIDER: Provider = Provider::from_static("iugu");
