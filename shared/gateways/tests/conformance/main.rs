//! The parsing core and the delivery rule, one test binary (one link instead of eight): every
//! refusal, the fuzz seeds, the golden envelopes, the reference samples, iPag's parser, the
//! properties, and store-once-forward-in-order and the sweeper over the in-memory store.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod bad_input;
mod fuzz_seeds;
mod golden;
mod ingest;
mod ipag;
mod properties;
mod reference_samples;
mod stored;
mod sweep;
