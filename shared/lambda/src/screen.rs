//! What the handler must see before `lambda_http` turns an API Gateway event into a request.
//!
//! `lambda_http` decodes a body flagged `isBase64Encoded` with `.expect(...)`
//! (`aws_lambda_events::encodings::Body::from_maybe_encoded`): a body that is not base64
//! would panic, and with `panic = "abort"` kill the function, so API Gateway answers a bare 502
//! and the next delivery pays a cold start. [`screen_event`] runs first: such a body is
//! replaced by nothing and the request carries [`BODY_ERROR_HEADER`], which the handler
//! answers with a 400 and a JSON error like any other bad input.

use base64::Engine;
use lambda_http::http::{HeaderMap, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::LambdaEvent;

/// Set by [`screen_event`] only: a client's own header of that name is removed first, so it
/// cannot be forged (and would only get its own request refused).
pub const BODY_ERROR_HEADER: &str = "x-front-door-body-error";
/// The value of [`BODY_ERROR_HEADER`] for a body flagged base64 that is not.
pub const INVALID_BASE64: &str = "invalid-base64";

/// Makes the event safe to decode; see the module documentation.
pub fn screen_event(event: &mut LambdaEvent<LambdaRequest>) {
    screen(&mut event.payload);
}

/// [`screen_event`] on the payload alone (what tests build from an event file).
pub fn screen(request: &mut LambdaRequest) {
    match request {
        LambdaRequest::ApiGatewayV1(r) => {
            r.multi_value_headers.remove(BODY_ERROR_HEADER);
            screen_body(&mut r.is_base64_encoded, &mut r.body, &mut r.headers);
        }
        LambdaRequest::ApiGatewayV2(r) => {
            screen_body(&mut r.is_base64_encoded, &mut r.body, &mut r.headers);
        }
        // Only the two shapes above are compiled in (see shared/lambda/Cargo.toml).
        _ => {}
    }
}

fn screen_body(is_base64: &mut bool, body: &mut Option<String>, headers: &mut HeaderMap) {
    headers.remove(BODY_ERROR_HEADER);
    let invalid = *is_base64
        && body
            .as_deref()
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err());
    if invalid {
        *is_base64 = false;
        *body = None;
        headers.insert(BODY_ERROR_HEADER, HeaderValue::from_static(INVALID_BASE64));
    }
}
