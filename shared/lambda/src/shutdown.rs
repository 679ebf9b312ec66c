//! What an instance still holds when Lambda retires it, written before it goes.
//!
//! The refusal metric folds a flood's refusals into one line per code and window
//! ([`crate::metrics`]); the counts folded after an instance's last line are written by its next
//! request, and an instance that gets none would take them with it. Lambda tells the runtime
//! before it shuts an instance down (SIGTERM, then up to 500 ms before SIGKILL) only when an
//! extension is registered
//! (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown),
//! so a function registers a no-op internal extension at start-up (subscribed to no event: it
//! never wakes) and, on SIGTERM, writes every count still folded
//! ([`crate::metrics::Metrics::flush_refusals`]), then exits.
//!
//! Where the Extensions API is missing or refuses (a local emulator), the function serves as
//! before, without the hook: a warning says so once, at start-up.

use lambda_extension::Extension;
use tokio::signal::unix::{signal, SignalKind};

use crate::metrics::Metrics;

/// The internal extension's name, unique within the function.
pub const EXTENSION_NAME: &str = "webhook-shutdown-flush";

/// Registers the extension and spawns what waits for SIGTERM. Call before the runtime loop
/// starts (extensions register during init). `true` when the hook is in place.
pub async fn flush_on_shutdown(metrics: Metrics) -> bool {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return false;
    }
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown hook: SIGTERM cannot be handled");
            return false;
        }
    };
    let registered = Extension::new()
        .with_events(&[])
        .with_extension_name(EXTENSION_NAME)
        .register()
        .await;
    let extension = match registered {
        Ok(extension) => extension,
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown hook: the extension was not registered");
            return false;
        }
    };
    tokio::spawn(async move {
        let wait_for_terminate = async move {
            if terminate.recv().await.is_some() {
                metrics.flush_refusals();
                #[allow(
                    clippy::exit,
                    reason = "SIGTERM's own action, which this handler replaced: Lambda is \
                              shutting the instance down, and nothing else runs after it"
                )]
                std::process::exit(0);
            }
        };
        // The extension's loop asks for its next event, which never comes (it subscribed to
        // none); Lambda needs the ask to end the instance's init. Its end or failure must not
        // stop the wait for SIGTERM.
        let ((), _) = tokio::join!(wait_for_terminate, extension.run());
    });
    true
}
