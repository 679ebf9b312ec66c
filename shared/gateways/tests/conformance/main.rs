//! The gateways' conformance, one test binary (one link instead of six): every refusal, the
//! fuzz seeds, the golden envelopes, the reference samples, the properties, stored
//! notifications rebuilt through the registry, and the sweeper over the in-memory store. Each
//! gateway's own parser tests are in its crate (`shared/ipag/tests`), the core's ingest in the
//! core's (`shared/core/tests`).
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod bad_input;
mod fuzz_seeds;
mod gateway_checklist;
mod golden;
mod properties;
mod reference_samples;
mod stored;
mod sweep;
