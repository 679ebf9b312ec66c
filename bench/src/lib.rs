//! What the benchmarks share: the peak-memory probe (`peak`, with its test), and the cost model
//! the `units` and `cost` examples price calls with: DynamoDB's capacity-unit rules
//! (`capacity`), the bill of a list of calls (`metering`) and AWS's prices (`pricing`), each
//! with AWS's worked examples as its tests (bench/METHOD.md).
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark's helpers fail loudly; clippy exempts #[test] only (Cargo.toml)"
)]

pub mod capacity;
pub mod metering;
pub mod peak;
pub mod pricing;
