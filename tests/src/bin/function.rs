//! A function exactly as Lambda runs one (`shared::runtime::serve`), for the tests that start
//! it as a process against `pipeline_tests::runtime_api` (tests/tests/end_to_end/function.rs): the
//! deployed functions are this call with their route fixed.
//!
//! usage: function <invoices|ipag>

use std::process::ExitCode;

use shared::http::Route;
use shared::iugu::Family;

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let route = match std::env::args().nth(1).as_deref() {
        Some("invoices") => Route::Family(Family::Invoices),
        Some("ipag") => Route::Ipag,
        _ => {
            eprintln!("usage: function <invoices|ipag>");
            return ExitCode::from(2);
        }
    };
    shared::runtime::serve(route)
}
