//! The end-to-end tests, one binary: the functions' handler (and, in `function`, the function
//! binaries themselves) against a local DynamoDB + SQS server (moto), each module a subject.
//! One binary rather than one per file: each links the AWS SDK, and linking was most of the
//! time CI spent building tests. The log tests (`logs.rs`, `ipag_logs.rs`) keep their own
//! binaries: a scoped log subscriber misses lines when other tests run on other threads.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod conflicts;
mod consumer;
mod consumer_cases;
mod consumer_template;
mod delivery_semantics;
mod faults;
mod flood;
mod function;
mod hostile;
mod ipag;
mod ipag_replay;
mod load;
mod parameters;
mod pipeline;
mod races;
mod request_fuzz_seeds;
mod resends;
mod sam_local;
mod secrets;
mod stuck;
mod sweeper;
mod sweeper_iam;
mod template;
mod warm_up;
