//! `recover`'s commands, one test binary (one link instead of five): the CLI as an operator
//! runs it, and each command against the local DynamoDB + SQS server (moto).
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

mod backfill;
mod cli;
mod quarantine;
mod reconcile;
mod register;
mod replay;
mod resend;
mod smoke;
mod stand_ins;
