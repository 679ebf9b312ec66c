//! The consumer: Lambda's SQS event source hands it the events queue's messages; each is booked
//! once per `(entity_key, sequence)` (`webhook_consumer`). Not part of the front door's
//! template: consumer/template.yaml deploys it.

use std::sync::Arc;

use webhook_consumer::bookings::Bookings;
use webhook_core::clock::SystemClock;

// As in the front door's functions: mimalloc serves many small allocations faster than the
// system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The business code: replace `Bookings` (the example, which books into BOOKINGS_TABLE)
    // with yours; it is built once, at start-up (docs/consumers.md).
    webhook_consumer::lambda::serve(async |sdk: &aws_config::SdkConfig| {
        let table = std::env::var("BOOKINGS_TABLE")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or("BOOKINGS_TABLE is not set")?;
        Ok(Bookings::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
            Arc::new(SystemClock),
        ))
    })
}
