//! What the benchmarks share with their tests: the peak-memory probe (`peak`).
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark's helpers fail loudly; clippy exempts #[test] only (Cargo.toml)"
)]

pub mod peak;
