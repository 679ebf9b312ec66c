//! The sweeper: EventBridge invokes it on a schedule; it forwards what was stored but never
//! forwarded (`shared::sweep`).

fn main() -> std::process::ExitCode {
    shared::sweeper::serve()
}
