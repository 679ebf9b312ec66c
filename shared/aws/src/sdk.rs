//! The settings every AWS client uses: explicit timeouts, bounded retries, and the HTTPS client
//! (rustls on ring, trusting [`crate::trust`]'s roots).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::ConfigLoader;

/// Most attempts per AWS call, the first included (the SDK's standard retry mode, with its
/// exponential backoff and jitter between attempts).
pub const MAX_ATTEMPTS: u32 = 3;

/// The SDK settings every AWS client of a function uses: explicit timeouts and bounded retries,
/// so that a hung or refused connection costs at most [`OPERATION_TIMEOUT`] per call and the
/// request answers 5xx well before the Lambda timeout (10 s in `template.yaml`; the handler
/// also caps a whole request within its gateway's wait: `http::Delivery::budget_for`, the edge). DynamoDB and SQS answer in
/// milliseconds; these bounds only ever bite on a fault. Tests build their clients with this
/// too, so the fault tests exercise the production settings.
///
/// The HTTPS client is rustls on ring, built here because the SDK's default client uses
/// aws-lc-rs (a larger binary; bench/README.md). It trusts Amazon Trust Services' roots
/// (`trust`), and does not read `HTTPS_PROXY` (a Lambda reaches DynamoDB and SQS directly or
/// through VPC endpoints).
pub fn sdk_settings(loader: ConfigLoader) -> ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(crate::trust::tls_context())
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    loader
        .http_client(https)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// Time to open a TCP (and TLS) connection to DynamoDB or SQS.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time for one attempt of one call, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Time for one call, all its attempts and backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
