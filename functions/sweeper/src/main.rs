//! The sweeper: EventBridge invokes it on a schedule; it forwards what was stored but never
//! forwarded (`shared::sweep`).

use shared::ipag::Ipag;
use shared::iugu::Iugu;
use shared::stored::Parsers;

// Every function allocates a few dozen small strings per request; mimalloc serves those
// markedly faster than the system allocator (see bench/README.md), for ~100 KiB of binary.
// Chosen here, in the binary: the library crates leave the allocator to whoever links them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every gateway whose notifications the table holds.
static GATEWAYS: [&dyn Parsers; 2] = [&Iugu::ALL_EVENTS, &Ipag::UNSIGNED];

fn main() -> std::process::ExitCode {
    shared::sweeper::serve(&GATEWAYS)
}
