//! The Lambda edge: what turns an API Gateway request into a stored, forwarded notification
//! and a JSON answer, and what starts a function. It knows no gateway of its own: a function's
//! `main` chooses one (`webhook_iugu::Iugu`, `webhook_ipag::Ipag`) and the handler asks it
//! everything that differs between gateways through the seam `webhook_core::gateway::Gateway`.
//!
//! Feature `http` (no AWS; the request-path fuzz target builds with it alone): [`http`] (the
//! handler: check → parse → ingest → answer), [`auth`] (the token), [`source_ip`] (the
//! allow-list), [`screen`] (the raw event, before `lambda_http` decodes it), [`metrics`] (a
//! metric line per request).
//!
//! Feature `lambda` adds the start-up, over the AWS adapters (`webhook_aws`, which makes every
//! AWS call: this crate names no SDK crate): [`secrets`] (a gateway's token and signing key,
//! from its secret's text), [`warm`] (the warm-up's budget and log line), [`runtime`] (a
//! function's start-up and the log format), [`shutdown`] (the refusal counts written when
//! Lambda retires an instance) and [`sweeper`] (the sweeper function's).

#[cfg(feature = "http")]
pub mod auth;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod runtime;
#[cfg(feature = "http")]
pub mod screen;
#[cfg(feature = "lambda")]
pub mod secrets;
#[cfg(feature = "lambda")]
pub mod shutdown;
#[cfg(feature = "http")]
pub mod source_ip;
#[cfg(feature = "lambda")]
pub mod sweeper;
#[cfg(feature = "lambda")]
pub mod warm;
