//! The sweeper: EventBridge invokes it on a schedule; it forwards what was stored but never
//! forwarded (`shared::sweep`).

use shared::ipag::Ipag;
use shared::iugu::Iugu;
use shared::stored::Parsers;

/// Every gateway whose notifications the table holds.
static GATEWAYS: [&dyn Parsers; 2] = [&Iugu::ALL_EVENTS, &Ipag::UNSIGNED];

fn main() -> std::process::ExitCode {
    shared::sweeper::serve(&GATEWAYS)
}
