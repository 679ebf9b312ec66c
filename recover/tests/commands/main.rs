//! `recover`'s commands, one test binary (one link instead of five): the CLI as an operator
//! runs it, and each command against the local DynamoDB + SQS server (moto).
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod cli;
mod quarantine;
mod reconcile;
mod replay;
mod resend;
