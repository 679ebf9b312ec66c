//! The sweeper: EventBridge invokes it on a schedule; it forwards what was stored but never
//! forwarded (`webhook_core::sweep`).

// Every function allocates a few dozen small strings per request; mimalloc serves those
// markedly faster than the system allocator (see bench/README.md), for ~100 KiB of binary.
// Chosen here, in the binary: the library crates leave the allocator to whoever links them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Every gateway whose notifications the table holds.
    webhook_lambda::sweeper::serve(&webhook_gateways::ALL)
}
