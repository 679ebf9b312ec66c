//! `POST /iugu/payment-requests`: payment_request.*.

use shared::http::Route;
use shared::iugu::Family;

fn main() -> std::process::ExitCode {
    shared::runtime::serve(Route::Family(Family::PaymentRequests))
}
