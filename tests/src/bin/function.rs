//! A function exactly as Lambda runs one (`webhook_lambda::runtime::serve`), for the tests that start
//! it as a process against `pipeline_tests::runtime_api` (tests/tests/end_to_end/function.rs): the
//! deployed functions are this call with their route fixed.
//!
//! usage: function <invoices|ipag>

use std::process::ExitCode;
use webhook_ipag::Ipag;

use webhook_iugu::{Family, Iugu};

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("invoices") => webhook_lambda::runtime::serve(Iugu::family(Family::Invoices)),
        Some("ipag") => webhook_lambda::runtime::serve(Ipag::UNSIGNED),
        _ => {
            eprintln!("usage: function <invoices|ipag>");
            ExitCode::from(2)
        }
    }
}
