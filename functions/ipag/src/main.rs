//! `POST /ipag/events` (or `PUT`): every iPag event, known or not.

use shared::http::Route;

fn main() -> std::process::ExitCode {
    shared::runtime::serve(Route::Ipag)
}
