//! `POST /iugu/payment-methods`: customer_payment_method.*.

use shared::http::Route;
use shared::iugu::Family;

fn main() -> std::process::ExitCode {
    shared::runtime::serve(Route::Family(Family::PaymentMethods))
}
