//! `POST /iugu/payment-methods`: customer_payment_method.*.

use webhook_iugu::{Family, Iugu};

// Every function allocates a few dozen small strings per request; mimalloc serves those
// markedly faster than the system allocator (see bench/README.md), for ~100 KiB of binary.
// Chosen here, in the binary: the library crates leave the allocator to whoever links them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    webhook_lambda::runtime::serve(Iugu::family(Family::PaymentMethods))
}
