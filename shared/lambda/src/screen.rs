//! What the handler must see before `lambda_http` turns an API Gateway event into a request.
//!
//! `lambda_http` panics on two kinds of event, and with `panic = "abort"` a panic kills the
//! function: API Gateway answers a bare 502, and the next delivery pays a cold start and a
//! secret read, all from a caller who needs no token. [`screen_event`] runs first:
//!
//! - **A body flagged `isBase64Encoded` that is not base64**: decoded with `.expect(...)`
//!   (`aws_lambda_events::encodings::Body::from_maybe_encoded`). Such a body is replaced by
//!   nothing and the request carries [`BODY_ERROR_HEADER`] = [`INVALID_BASE64`], which the
//!   handler answers with a 400 and a JSON error like any other bad input.
//! - **A URL `http::Uri` refuses**: `lambda_http` builds the request's URI from the path, the
//!   stage, the `Host` header (or the request context's domain name), `X-Forwarded-Proto` and,
//!   for an HTTP API (v2) event, `rawQueryString` appended as it came, then `.expect(...)`s the
//!   build (and `unwrap`s its `Url::parse`). A query holding `"`, `<`, `>`, a space or a control
//!   byte (`token=...&a="x"`) killed the function. The screen percent-encodes, in the raw query
//!   string, the path and the stage, every byte outside RFC 3986's characters (the query's
//!   parameters decode to the same values, so the token is read as before); drops a `Host` or
//!   `X-Forwarded-Proto` header, or a domain name, that would not parse (nothing reads them but
//!   that URI); and builds the URI as `lambda_http` will ([`request_uri`]). If `http` would still
//!   refuse it (over 65,534 bytes, say), the path, stage and query are cleared and the request
//!   carries [`BODY_ERROR_HEADER`] = [`INVALID_URI`]: a 400 before any other check.

use base64::Engine;
use lambda_http::http::{header, HeaderMap, HeaderValue, Uri};
use lambda_http::request::LambdaRequest;
use lambda_http::LambdaEvent;

/// Set by [`screen_event`] only: a client's own header of that name is removed first, so it
/// cannot be forged (and would only get its own request refused).
pub const BODY_ERROR_HEADER: &str = "x-front-door-body-error";
/// The value of [`BODY_ERROR_HEADER`] for a body flagged base64 that is not.
pub const INVALID_BASE64: &str = "invalid-base64";
/// The value of [`BODY_ERROR_HEADER`] for a URL that cannot be made one `http` takes.
pub const INVALID_URI: &str = "invalid-uri";

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
            let context = &mut r.request_context;
            encode_in_place(&mut r.path);
            encode_in_place(&mut context.stage);
            screen_host(&mut r.headers, &mut context.domain_name);
            let query = [
                &r.multi_value_query_string_parameters,
                &r.query_string_parameters,
            ]
            .into_iter()
            .find(|q| !q.is_empty())
            .map(|q| q.to_query_string());
            let uri = request_uri(
                r.path.as_deref(),
                context.stage.as_deref(),
                &r.headers,
                context.domain_name.as_deref(),
                query.as_deref(),
            );
            if Uri::try_from(uri).is_err() {
                r.path = None;
                context.stage = None;
                r.query_string_parameters = Default::default();
                r.multi_value_query_string_parameters = Default::default();
                mark_invalid_uri(&mut r.headers, &mut context.domain_name);
                r.multi_value_headers.remove(header::HOST);
            }
        }
        LambdaRequest::ApiGatewayV2(r) => {
            screen_body(&mut r.is_base64_encoded, &mut r.body, &mut r.headers);
            let context = &mut r.request_context;
            encode_in_place(&mut r.raw_path);
            encode_in_place(&mut context.stage);
            encode_in_place(&mut r.raw_query_string);
            screen_host(&mut r.headers, &mut context.domain_name);
            let uri = request_uri(
                r.raw_path.as_deref(),
                context.stage.as_deref(),
                &r.headers,
                context.domain_name.as_deref(),
                r.raw_query_string.as_deref(),
            );
            if Uri::try_from(uri).is_err() {
                r.raw_path = None;
                context.stage = None;
                r.raw_query_string = None;
                r.query_string_parameters = Default::default();
                mark_invalid_uri(&mut r.headers, &mut context.domain_name);
            }
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

/// Clears what names a host and marks the request as [`INVALID_URI`].
fn mark_invalid_uri(headers: &mut HeaderMap, domain_name: &mut Option<String>) {
    headers.remove(header::HOST);
    *domain_name = None;
    headers.insert(BODY_ERROR_HEADER, HeaderValue::from_static(INVALID_URI));
}

/// Whether `byte` may stand as it is in a URI's path or query (RFC 3986: unreserved,
/// sub-delimiters, `:`, `@`, `/`, and `%`, which starts an escape; not `?` and `#`, which end
/// a path, so that the path and the query stay what API Gateway said they were).
fn may_stand(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte)
}

/// `text` with every byte that may not stand in a URI percent-encoded; `None` when nothing
/// needs it (the usual case: no copy).
fn encoded(text: &str) -> Option<String> {
    if text.bytes().all(may_stand) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for byte in text.bytes() {
        if may_stand(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(out)
}

fn encode_in_place(text: &mut Option<String>) {
    if let Some(new) = text.as_deref().and_then(encoded) {
        *text = Some(new);
    }
}

/// Drops a `Host` header or a domain name that `lambda_http`'s `Url::parse` would refuse, and
/// an `X-Forwarded-Proto` that is neither `http` nor `https` (it becomes the URI's scheme).
fn screen_host(headers: &mut HeaderMap, domain_name: &mut Option<String>) {
    let parses = |host: &str| url::Url::parse(&format!("https://{host}/")).is_ok();
    let host_ok = headers
        .get(header::HOST)
        .map(|h| h.to_str().map_or(true, parses));
    if host_ok == Some(false) {
        headers.remove(header::HOST);
    }
    if domain_name.as_deref().is_some_and(|d| !parses(d)) {
        *domain_name = None;
    }
    let proto_ok = headers.get(FORWARDED_PROTO).map(|p| {
        p.to_str()
            .is_ok_and(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"))
    });
    if proto_ok == Some(false) {
        headers.remove(FORWARDED_PROTO);
    }
}

const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The URI `lambda_http` (1.3) builds from an event, as it builds it
/// (`lambda_http::request::{build_request_uri, apigw_path_with_stage}`): the stage before the
/// path unless the path starts with it (or `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set),
/// then `Url::parse` of `http://localhost<path>` (its path only) or, with a host,
/// `<X-Forwarded-Proto or https>://<host><path>`, then `?` and the query when there is one.
/// A `Url::parse` that fails here is a panic there: it comes back as an empty string, which
/// `http` refuses too.
pub fn request_uri(
    path: Option<&str>,
    stage: Option<&str>,
    headers: &HeaderMap,
    domain_name: Option<&str>,
    query: Option<&str>,
) -> String {
    let path = path.unwrap_or_default();
    let path = match stage {
        Some(stage)
            if stage != "$default"
                && std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_none()
                && !path.starts_with(&format!("/{stage}/")) =>
        {
            format!("/{stage}{path}")
        }
        _ => path.to_owned(),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(domain_name);
    let built = match host {
        None => url::Url::parse(&format!("http://localhost{path}")).map(|u| u.path().to_owned()),
        Some(host) => {
            let scheme = headers
                .get(FORWARDED_PROTO)
                .and_then(|p| p.to_str().ok())
                .unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}")).map(|u| u.to_string())
        }
    };
    let Ok(mut uri) = built else {
        return String::new();
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(query);
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Request, RequestExt};
    use serde_json::{json, Value};

    const TOKEN: &str = "token-0123456789abcdef";

    fn v2(raw_path: &str, query: &str, headers: Value, stage: &str, domain: &str) -> Value {
        json!({
            "version": "2.0",
            "routeKey": "POST /iugu/invoices",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "local", "domainName": domain,
                "http": { "method": "POST", "path": raw_path, "protocol": "HTTP/1.1",
                          "sourceIp": "54.207.210.151" },
                "requestId": "r", "routeKey": "POST /iugu/invoices", "stage": stage,
                "time": "17/Jun/2024:12:00:00 +0000", "timeEpoch": 1718625600000u64
            },
            "body": "a=1",
            "isBase64Encoded": false
        })
    }

    fn v1(path: &str, query: Value, headers: Value, stage: &str, domain: &str) -> Value {
        json!({
            "resource": "/iugu/invoices",
            "path": path,
            "httpMethod": "POST",
            "headers": headers,
            "multiValueHeaders": {},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": null,
            "requestContext": { "identity": { "sourceIp": "54.207.210.151" },
                                "httpMethod": "POST", "stage": stage, "domainName": domain },
            "body": "a=1",
            "isBase64Encoded": false
        })
    }

    /// The event screened, then converted as `lambda_http` converts it: a panic there fails
    /// the test (tests unwind; the functions abort).
    fn convert(event: &Value) -> Request {
        try_convert(event).expect("an event lambda_http reads")
    }

    /// As [`convert`]; `None` for an event that does not deserialise (a header value with a
    /// control byte, say): the runtime answers that invocation with an error, and goes on.
    fn try_convert(event: &Value) -> Option<Request> {
        let mut request: LambdaRequest = serde_json::from_value(event.clone()).ok()?;
        screen(&mut request);
        Some(request.into())
    }

    fn marked(request: &Request) -> Option<&str> {
        request
            .headers()
            .get(BODY_ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    /// Issue 24, item 1: `token=...&a="x"` in an HTTP API event's query killed the function in
    /// `lambda_http`'s conversion (`InvalidUri(InvalidUriChar)`).
    #[test]
    fn a_query_http_refuses_is_percent_encoded_and_still_read() {
        for extra in [
            r#"a="x""#, "a=<b>", "a=b c", "a=\u{1}", "a=\u{7f}", "a=`{|}^`", "a=[]\\", "a=%zz",
            "a=#frag", "a=ção",
        ] {
            let query = format!("token={TOKEN}&{extra}");
            let event = v2("/iugu/invoices", &query, json!({}), "$default", "local");
            let request = convert(&event);
            let params = request.query_string_parameters();
            assert_eq!(params.first("token"), Some(TOKEN), "{extra}");
            let (_, value) = extra.split_once('=').expect("a pair");
            if !value.contains('%') && !value.contains('#') {
                assert_eq!(params.first("a"), Some(value), "{extra}");
            }
            assert_eq!(marked(&request), None, "{extra}");
            assert_eq!(request.raw_http_path(), "/iugu/invoices");
        }
    }

    /// Every ASCII byte and a few others, in every part the URI is built from, in both event
    /// shapes: the conversion never panics.
    #[test]
    fn no_character_anywhere_in_the_url_panics_the_conversion() {
        let mut samples: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "é",
                "\u{feff}",
                "%",
                "%2",
                "//",
                "@x:99999",
                ":",
                "[::1",
                "1.2.3.999",
            ]
            .map(String::from),
        );
        let (mut tried, mut converted) = (0, 0);
        for s in &samples {
            let weird = format!("a{s}b");
            let headers = [
                json!({ "host": weird }),
                json!({ "x-forwarded-proto": weird, "host": "example.com" }),
                json!({ "host": format!("{s}") }),
            ];
            let paths = [format!("/iugu/invoices{s}"), weird.clone(), s.clone()];
            for path in &paths {
                for headers in &headers {
                    for stage in ["$default", "Prod", weird.as_str()] {
                        for domain in ["local", weird.as_str(), s.as_str()] {
                            let query = format!("token={TOKEN}&q={s}");
                            let events = [
                                v2(path, &query, headers.clone(), stage, domain),
                                v1(
                                    path,
                                    json!({ "token": TOKEN, "q": s }),
                                    headers.clone(),
                                    stage,
                                    domain,
                                ),
                            ];
                            for event in &events {
                                tried += 1;
                                if try_convert(event).is_some() {
                                    converted += 1;
                                } else {
                                    // Only a header value with a control byte does not
                                    // deserialise.
                                    assert!(
                                        s.chars().any(|c| c.is_control() && c != '\t'),
                                        "{event}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(converted * 4 > tried * 3, "{converted} of {tried}");
    }

    #[test]
    fn a_url_too_long_for_http_is_marked_and_emptied() {
        let long = format!("token={TOKEN}&a={}", "x".repeat(70_000));
        let request = convert(&v2("/iugu/invoices", &long, json!({}), "$default", "local"));
        assert_eq!(marked(&request), Some(INVALID_URI));
        assert_eq!(request.query_string_parameters().first("token"), None);
        let request = convert(&v1(
            "/iugu/invoices",
            json!({ "token": TOKEN, "a": "x".repeat(70_000) }),
            json!({}),
            "Prod",
            "local",
        ));
        assert_eq!(marked(&request), Some(INVALID_URI));
        // A client's own marker is dropped; a plain event is left as it came.
        let forged = convert(&v2(
            "/iugu/invoices",
            &format!("token={TOKEN}"),
            json!({ BODY_ERROR_HEADER: INVALID_URI }),
            "$default",
            "local",
        ));
        assert_eq!(marked(&forged), None);
        assert_eq!(forged.query_string_parameters().first("token"), Some(TOKEN));
    }
}
