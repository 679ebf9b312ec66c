//! `POST /iugu/events`: every iugu event, known or not.

use shared::http::Route;

fn main() -> std::process::ExitCode {
    shared::runtime::serve(Route::All)
}
