//! `recover`'s commands, one test binary (one link instead of five): the CLI as an operator
//! runs it, and each command against the local DynamoDB + SQS server (moto).

mod cli;
mod quarantine;
mod reconcile;
mod replay;
mod resend;
