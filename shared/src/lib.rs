//! The crate every function shares.
//!
//! The domain core (the crate `webhook-core`, re-exported here) knows nothing of AWS nor of
//! any gateway: [`envelope`] (the normalised
//! notification consumers read, and how it reads back), [`fields`] (the nested map a form
//! parses into), [`canonical`] (the hashing every de-duplication key uses), [`delivery`] (the
//! rule that tells a retry or a resend from a new occurrence), [`stored`] (a stored
//! notification, forwarded again) and [`ingest`] (store once, forward once, in order, over two
//! ports; [`memory`] has both in memory; [`clock`] says what time it is) and [`sweep`] (forward
//! what the request path could not). The gateways are siblings, each from a body to an
//! envelope: [`iugu`] (form bodies) and [`ipag`] (JSON bodies). The `http`
//! feature adds the handler and what it checks: [`auth`], [`source_ip`], [`screen`], [`http`],
//! and the seam each gateway implements for it, [`gateway`];
//! `lambda` adds the adapters at the edge: [`aws`] (DynamoDB and SQS), [`secrets`] (the
//! tokens and iPag's signing key, from Secrets Manager), [`runtime`] (a function's start-up) and
//! [`warm`] (its connections opened during init).

/// iPag, the second gateway: its own crate (`webhook-ipag`, shared/ipag).
pub use webhook_ipag as ipag;
/// iugu, the first gateway: its own crate (`webhook-iugu`, shared/iugu).
pub use webhook_iugu as iugu;

// The domain core is its own crate (`webhook-core`, shared/core): re-exported under the paths
// it had here.
pub use webhook_core::{
    canonical, clock, delivery, envelope, error, fields, ingest, memory, quarantine, stored, sweep,
};

#[cfg(feature = "http")]
pub mod admission;
#[cfg(feature = "http")]
pub mod auth;
/// The AWS adapters: their own crate (`webhook-aws`, shared/aws).
#[cfg(feature = "lambda")]
pub use webhook_aws as aws;
#[cfg(feature = "http")]
pub use webhook_core::gateway;
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
pub use webhook_aws::trust;
#[cfg(feature = "lambda")]
pub mod warm;

pub use webhook_core::{
    Data, EntityRef, Envelope, ErrorClass, Event, EventFamily, Fields, Node, ParseError, Provider,
    RepeatOf,
};
