//! The crate every function shares.
//!
//! The domain core knows nothing of AWS: [`form`] (body → nested [`fields`]), [`event`] (names and
//! families), [`entity`] (which id a notification is stored under), [`dedup`] (the
//! de-duplication key), [`status`] and [`typed`] (typed views of documented fields), [`envelope`] (the
//! normalised notification consumers read), [`delivery`] (the rule that tells a retry or a
//! resend from a new occurrence), [`stored`] (a stored notification, forwarded again) and
//! [`ingest`] (store once, forward once, in order, over two ports; [`memory`] has both in
//! memory; [`clock`] says what time it is) and [`sweep`] (forward what the request path could
//! not). [`ipag`] is the second gateway's core (JSON bodies); [`gateway`] holds what an
//! envelope carries that differs by gateway, and [`wire`] reads an envelope back. The `http`
//! feature adds the handler and what it checks: [`auth`], [`source_ip`], [`screen`], [`http`];
//! `lambda` adds the adapters at the edge: [`aws`] (DynamoDB and SQS), [`secrets`] (the
//! tokens and iPag's signing key, from Secrets Manager), [`runtime`] (a function's start-up) and
//! [`warm`] (its connections opened during init).

pub mod clock;
pub mod dedup;
pub mod delivery;
pub mod entity;
pub mod envelope;
pub mod error;
pub mod event;
pub mod fields;
pub mod form;
pub mod gateway;
pub mod ingest;
pub mod ipag;
pub mod memory;
pub mod quarantine;
pub mod status;
pub mod stored;
pub mod sweep;
pub mod typed;
pub mod wire;

#[cfg(feature = "http")]
pub mod admission;
#[cfg(feature = "http")]
pub mod auth;
#[cfg(feature = "lambda")]
pub mod aws;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod runtime;
#[cfg(feature = "http")]
pub mod screen;
#[cfg(feature = "lambda")]
pub mod secrets;
#[cfg(feature = "http")]
pub mod source_ip;
#[cfg(feature = "lambda")]
pub mod sweeper;
#[cfg(feature = "lambda")]
pub mod trust;
#[cfg(feature = "lambda")]
pub mod warm;

pub use envelope::{Envelope, Provider, RepeatOf};
pub use error::{ErrorClass, ParseError};
pub use event::{EventName, Family};
pub use fields::{Fields, Node};
pub use gateway::{Data, Event, EventFamily};
