//! The domain core: what a notification is once parsed, and how it is stored once and forwarded
//! once, in order. It knows no gateway, no HTTP and no AWS (the crate's dependencies say so).
//!
//! - [`envelope`]: the gateway-neutral notification consumers read (its names, its data in one
//!   of two shapes), and how it reads back from its JSON; [`fields`] is the tree of named text
//!   fields, one of those shapes; [`error`] the faults a parser gives.
//! - [`canonical`]: the hashing every gateway's de-duplication key is built with.
//! - [`delivery`]: the rule that tells a retry or a resend from a new occurrence.
//! - [`ingest`]: store once, forward once, in order, over two ports (`EventStore`,
//!   `Forwarder`); [`stored`] is a stored notification rebuilt by its gateway's parser
//!   ([`stored::Parsers`]); [`sweep`] forwards what the request path could not; [`quarantine`]
//!   keeps refused requests.
//! - `gateway` (feature `http`): the seam each gateway implements for the HTTP handler;
//!   `admission` (feature `http`): a body through it to an envelope, or the refusal;
//!   `refusal` (feature `http`): every answer that is not a 200; [`code`]: every code one carries.
//! - [`memory`]: every port in memory, for tests and benchmarks; [`clock`]: what time it is.
//! - `schema` (feature `schema`): the envelope as a JSON Schema, derived from these types.

#[cfg(feature = "http")]
pub mod admission;
pub mod canonical;
pub mod clock;
pub mod code;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod fields;
#[cfg(feature = "http")]
pub mod gateway;
pub mod ingest;
pub mod memory;
pub mod quarantine;
#[cfg(feature = "http")]
pub mod refusal;
#[cfg(feature = "schema")]
pub mod schema;
pub mod stored;
pub mod sweep;

pub use envelope::{
    Data, EntityRef, Envelope, Event, EventFamily, Gap, GapReason, Provider, RepeatOf,
    RepeatReason, SCHEMA_VERSION,
};
pub use error::{ErrorClass, ParseError};
pub use fields::{Fields, Node};
