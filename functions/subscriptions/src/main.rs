//! `POST /iugu/subscriptions`: subscription.*.

use shared::http::Route;
use shared::iugu::Family;

fn main() -> std::process::ExitCode {
    shared::runtime::serve(Route::Family(Family::Subscriptions))
}
