//! The HTTP handler every function runs: from an API Gateway (REST v1 or HTTP API v2) or
//! function URL request to a stored, forwarded notification and a JSON answer.
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 200 | — | stored (`"status":"stored"`), stored as a new occurrence of earlier content (`"status":"repeat"`), or already stored (`"status":"duplicate"`); with `dedup_key` and `sequence` |
//! | 400 | the parse error's code, `invalid_base64` | the body is not a well-formed notification (iPag: `invalid_json`, `not_an_object`, ...) |
//! | 400 | `invalid_uri` | the URL cannot be made one `http` reads, even percent-encoded (`screen`): over 65,534 bytes, say; before any other check |
//! | 401 | `unauthorized` | no token, a wrong token (another gateway's included), or no token configured |
//! | 401 | `invalid_signature` | iPag only, with a `signing_key` in iPag's secret: no or a wrong `X-Ipag-Signature` |
//! | 403 | `forbidden` | `ALLOWED_SOURCE_IPS` is set and the source address is not in it |
//! | 404 | `not_found` | the path is not one of the function's gateway's routes (extra segments, say) |
//! | 405 | `method_not_allowed` | not a POST (iPag: not a POST or a PUT) |
//! | 413 | `body_too_large`, `too_many_fields` | over a size bound |
//! | 415 | `unsupported_media_type` | iugu: not `application/x-www-form-urlencoded`; iPag: not `application/json` |
//! | 422 | `wrong_route`, `missing_event`, `missing_entity_id`, ... | another family's event, or no id |
//! | 422 | `event_mismatch` | iPag only: `X-Ipag-Event` contradicts the body's status (`ipag::replay`) |
//! | 422 | `stale_timestamp` | iPag only: `X-Ipag-Timestamps` is older than an hour or ahead by over 5 minutes |
//! | 503 | `store_failed`, `forward_failed`, `timeout` | DynamoDB or SQS failed or hung: the gateway should retry |
//! | 503 | `forward_backlog` | stored, but more of its entity's notifications were waiting than one request forwards: the first of them were sent, the sweeper sends the rest; the retry is answered 200 |
//!
//! Checks run in order of cost (405, 404, 403, 401, 415, the iPag signature and timestamp, then
//! the body): nothing is stored unless every check passed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::auth::{AuthError, Token};
use crate::metrics::{Metrics, RefusalMetric, RequestMetric};
use crate::screen::{BODY_ERROR_HEADER, INVALID_BASE64, INVALID_URI};
use crate::source_ip::SourceAllowList;
use webhook_core::admission::{admit_to, body_text};
use webhook_core::clock::{Clock, SystemClock};
use webhook_core::delivery::DeliverySettings;
use webhook_core::envelope::{Envelope, EventFamily};
use webhook_core::gateway::Gateway;
use webhook_core::ingest::{
    mark, store_and_forward, Accepted, EventStore, Forwarder, IngestError, Mark, Outcome,
};
use webhook_core::quarantine::{
    Kept, KeptOfBody, QuarantineStore, QuarantinedRequest, MAX_ITEMS_PER_DAY,
};
use webhook_core::refusal::Refusal;

/// What is kept, at the least, between our answer and the gateway's own timeout
/// ([`Gateway::waits`]): API Gateway's time, the network's, and a cold start's. A request is
/// answered within the gateway's wait less this, so that a 200 is never given after the
/// gateway stopped waiting (it would retry a delivery we took for answered).
pub const GATEWAY_MARGIN: Duration = Duration::from_secs(1);

/// Of a request's budget, what the mark (after the queue has the notification) may take at
/// most, retries included. It is also kept [`ANSWER_MARGIN`] short of the invocation's
/// deadline: the answer is 200 whether or not the mark is recorded.
pub const MARK_BUDGET: Duration = Duration::from_millis(750);
/// What is left, at the least, between the end of the mark and the invocation's deadline.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// Attempts at the mark within its budget.
pub const MARK_ATTEMPTS: u32 = 4;

/// How deliveries are judged and bounded: the rule's settings, the clock, and the time
/// budget. `Default` is production's (a function reads `DEDUP_WINDOW` and `RETENTION_DAYS`
/// into `settings`).
#[derive(Clone)]
pub struct Delivery {
    pub settings: DeliverySettings,
    pub clock: Arc<dyn Clock>,
    /// The most a request may take, from its start to its answer; `None` (production): the
    /// gateway's wait less [`GATEWAY_MARGIN`]. Storing and forwarding get it less
    /// [`MARK_BUDGET`] (then 503: the gateway retries, every step is safe to repeat); the mark
    /// what is left of it, at most [`MARK_BUDGET`]. Each AWS call is bounded too
    /// (`webhook_aws::sdk`).
    pub budget: Option<Duration>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            settings: DeliverySettings::default(),
            clock: Arc::new(SystemClock),
            budget: None,
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("settings", &self.settings)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// The most a request to `gateway` may take (see [`Delivery::budget`]).
    pub fn budget_for(&self, gateway: &dyn Gateway) -> Duration {
        self.budget
            .unwrap_or_else(|| gateway.waits().saturating_sub(GATEWAY_MARGIN))
    }
}

/// Everything a function needs to answer a request.
pub struct App<S, F> {
    /// The gateway this function serves, as its route serves it (chosen in the function's
    /// `main`; with the signing key from its secret, when it signs and the secret has one).
    pub gateway: Arc<dyn Gateway>,
    pub token: Token,
    pub allowed_sources: SourceAllowList,
    pub store: S,
    pub forwarder: F,
    pub delivery: Delivery,
    /// Where the per-request metric line goes (`metrics`); off by default.
    pub metrics: Metrics,
}

/// How long keeping a refused request may take; the answer does not wait longer.
pub const QUARANTINE_BUDGET: Duration = Duration::from_secs(2);

/// An answer: a notification taken (200, with its outcome), or a refusal.
enum Answer {
    Taken {
        outcome: Outcome,
        dedup_key: String,
        sequence: Option<u64>,
    },
    Refused(Refusal),
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Taken { .. } => StatusCode::OK,
            Answer::Refused(refusal) => refusal.status,
        }
    }

    /// What the log line and the metrics call it: the outcome, or the refusal's code.
    fn outcome(&self) -> &'static str {
        match self {
            Answer::Taken { outcome, .. } => outcome.as_str(),
            Answer::Refused(refusal) => refusal.code,
        }
    }

    fn body(&self) -> serde_json::Value {
        match self {
            Answer::Taken {
                outcome,
                dedup_key,
                sequence,
            } => json!({
                "status": outcome.status(),
                "dedup_key": dedup_key,
                "sequence": sequence,
            }),
            Answer::Refused(refusal) => {
                json!({ "error": refusal.code, "message": refusal.message })
            }
        }
    }
}

/// A body admitted on the route: its envelope, and the body as the text it is stored as.
struct Admitted<'r> {
    envelope: Envelope,
    body: &'r str,
}

/// What the log line of a request says: never the body, the token or personal data.
#[derive(Default)]
struct LogFields {
    event: Option<String>,
    family: Option<EventFamily>,
    pk: Option<String>,
    dedup_key: Option<String>,
    sequence: Option<u64>,
    forwarded: Option<usize>,
    /// Which token value authenticated the request, `current` or `previous` (never the token).
    token: Option<&'static str>,
    /// `unreadable` when the gateway's timestamp header is in a format we cannot read.
    gateway_timestamp: Option<&'static str>,
    /// The token (and the gateway's signature, when checked) passed: a refusal after this is
    /// kept.
    authenticated: bool,
    /// The refused request was kept in the quarantine.
    quarantined: bool,
    /// What the quarantine made of it, and its body's bytes as kept (for the metrics).
    kept: Option<(Kept, usize)>,
    /// Why a request was refused before authentication (never what it sent).
    reason: Option<&'static str>,
}

impl LogFields {
    /// The event and family the body named.
    fn names(&mut self, envelope: &Envelope) {
        self.event = Some(envelope.event.to_string());
        self.family = Some(envelope.family.clone());
    }
}

impl<S: EventStore + QuarantineStore, F: Forwarder> App<S, F> {
    /// Answers one request: admits it, then delivers it. Never fails: every error becomes an
    /// answer.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let mut log = LogFields::default();
        let answer = match self.admit(&request, &mut log) {
            Ok(admitted) => self.deliver(&request, admitted, &mut log, started).await,
            Err(refusal) => Answer::Refused(refusal),
        };
        if let Answer::Refused(refusal) = &answer {
            if log.authenticated && refusal.is_quarantined() {
                log.kept = self.quarantine(&request, refusal).await;
                log.quarantined = log.kept.is_some_and(|(kept, _)| kept.kept());
            }
        }
        self.log_and_count(&log, &answer, started.elapsed());
        let mut response = Response::new(Body::Text(answer.body().to_string()));
        *response.status_mut() = answer.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    }

    /// The request's checks in order of cost, then its body through the gateway's checks and
    /// the admission: the envelope to deliver, or the refusal. Nothing is stored here.
    fn admit<'r>(
        &self,
        request: &'r Request,
        log: &mut LogFields,
    ) -> Result<Admitted<'r>, Refusal> {
        let gateway = self.gateway.as_ref();
        self.authenticate(request, log)?;
        check_content_type(request.headers(), gateway.media_type())
            .map_err(Refusal::unsupported_media_type)?;
        if screened_as(request, INVALID_BASE64) {
            return Err(Refusal::invalid_base64());
        }
        let body: &[u8] = request.body().as_ref();
        let now = self.delivery.clock.now();
        let checked = gateway.check(request.headers(), body, now)?;
        log.authenticated |= checked.verified;
        log.gateway_timestamp = checked.timestamp;
        let envelope = admit_to(gateway, request.headers(), body, now).inspect_err(|refusal| {
            if let Some(envelope) = &refusal.envelope {
                log.names(envelope);
            }
        })?;
        let body = body_text(body)?;
        log.names(&envelope);
        log.pk = Some(envelope.entity_key.clone());
        log.dedup_key = Some(envelope.dedup_key.clone());
        Ok(Admitted { envelope, body })
    }

    /// The checks before the body: the URL, the method, the route, the source address, the
    /// token.
    fn authenticate(&self, request: &Request, log: &mut LogFields) -> Result<(), Refusal> {
        let gateway = self.gateway.as_ref();
        if screened_as(request, INVALID_URI) {
            return Err(Refusal::invalid_uri());
        }
        if !gateway.allows(request.method()) {
            return Err(Refusal::method_not_allowed(request.method()));
        }
        if !is_a_route(request.raw_http_path(), gateway.paths()) {
            return Err(Refusal::not_found());
        }
        if !self.allowed_sources.allows(source_ip(request)) {
            log.reason = Some("source not allowed");
            return Err(Refusal::forbidden());
        }
        let query = request.query_string_parameters();
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
        match self.token.check(header, query.first("token")) {
            Ok(matched) => {
                log.token = Some(matched.as_str());
                // Authentic now, unless the gateway verifies more (a signature, with a key).
                log.authenticated = gateway.token_suffices();
                Ok(())
            }
            Err(why) => {
                log.reason = Some(match why {
                    AuthError::NotConfigured => "no token configured",
                    AuthError::Missing => "no token",
                    AuthError::Wrong => "wrong token",
                });
                Err(Refusal::unauthorized(why.message()))
            }
        }
    }

    /// Stores and forwards an admitted notification within the request's budget, then marks it
    /// forwarded: 200 once the queue has it in order, a refusal (503) otherwise.
    async fn deliver(
        &self,
        request: &Request,
        admitted: Admitted<'_>,
        log: &mut LogFields,
        started: Instant,
    ) -> Answer {
        let answer_by = started + self.delivery.budget_for(self.gateway.as_ref());
        let dedup_key = admitted.envelope.dedup_key.clone();
        let accepted = match self.store_and_forward(request, admitted, answer_by).await {
            Ok(accepted) => accepted,
            Err(refusal) => return Answer::Refused(refusal),
        };
        log.sequence = accepted.sequence;
        log.forwarded = Some(accepted.forwarded);
        for (sequence, reason) in &accepted.gaps {
            tracing::error!(
                pk = log.pk.as_deref(),
                sequence,
                reason = reason.as_str(),
                "a stored notification could not be forwarded as stored: a gap record stands for it"
            );
        }
        self.metrics.gaps(accepted.gaps.len());
        // The queue has it: from here on the answer is 200, whatever the mark does (a 5xx
        // would make the gateway send it again, and after SQS's 5-minute window that doubles).
        if let Some(to_mark) = &accepted.mark {
            self.mark_forwarded(request, to_mark, answer_by).await;
        }
        if !accepted.in_queue {
            return Answer::Refused(Refusal::forward_backlog());
        }
        Answer::Taken {
            outcome: accepted.outcome,
            dedup_key,
            sequence: accepted.sequence,
        }
    }

    /// Stores once and forwards in order, within the request's budget less [`MARK_BUDGET`].
    /// Whatever happens, a notification stored before a failure stays owed its answer (the
    /// store recorded it so), until a delivery of it is answered 200.
    async fn store_and_forward(
        &self,
        request: &Request,
        admitted: Admitted<'_>,
        answer_by: Instant,
    ) -> Result<Accepted, Refusal> {
        let delivery_id = delivery_id(request);
        let work = store_and_forward(
            &self.store,
            &self.forwarder,
            self.gateway.as_ref(),
            admitted.envelope,
            admitted.body,
            &self.delivery.settings,
            &delivery_id,
        );
        let work_budget = answer_by
            .saturating_duration_since(Instant::now())
            .saturating_sub(MARK_BUDGET);
        match tokio::time::timeout(work_budget, work).await {
            Ok(Ok(accepted)) => Ok(accepted),
            Err(_elapsed) => {
                tracing::error!("storing and forwarding exceeded the request's budget");
                Err(Refusal::timeout())
            }
            Ok(Err(e)) => {
                // The SDK's error text names the operation and AWS's reason, never the item.
                tracing::error!(error = %e, "downstream failure");
                Err(match e {
                    IngestError::Store(_) => Refusal::store_failed(),
                    IngestError::Forward(_) => Refusal::forward_failed(),
                })
            }
        }
    }

    /// Marks the entity forwarded, within the mark's budget: its failure is a log line (the
    /// answer is 200 either way).
    async fn mark_forwarded(&self, request: &Request, to_mark: &Mark, answer_by: Instant) {
        let budget = self.mark_budget(request, answer_by);
        let marking = mark(
            &self.store,
            to_mark,
            self.delivery.clock.as_ref(),
            MARK_ATTEMPTS,
        );
        match tokio::time::timeout(budget, marking).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "forwarded, but not marked forwarded"),
            Err(_) => tracing::error!(
                budget_ms = budget.as_millis() as u64,
                deadline_ms = request.lambda_context_ref().map_or(0, |ctx| ctx.deadline),
                "forwarded, but marking it forwarded exceeded its budget"
            ),
        }
    }

    /// A request's metric line and its request log line; and the counts of refusals folded
    /// earlier, when due. Refused before authentication (what a flood is): one line at most,
    /// sampled under a flood, its count exact (`metrics`).
    fn log_and_count(&self, log: &LogFields, answer: &Answer, latency: Duration) {
        let gateway = self.gateway.as_ref();
        let status = answer.status().as_u16();
        let unauthenticated = log.token.is_none() && (400..500).contains(&status);
        let refusal = RefusalMetric {
            provider: gateway.provider(),
            family: gateway.family_label(),
            code: answer.outcome(),
            route: gateway.path(),
            status,
            reason: log.reason,
        };
        if unauthenticated && self.metrics.refusal(refusal) {
            return;
        }
        self.metrics.flush_due_refusals();
        self.metrics.request(RequestMetric {
            provider: gateway.provider(),
            family: log
                .family
                .as_ref()
                .map_or(gateway.family_label(), EventFamily::as_str),
            outcome: match status {
                200 => answer.outcome(),
                _ if log.quarantined => "quarantined",
                500..=599 => "failed",
                _ => "refused",
            },
            code: answer.outcome(),
            latency,
            quarantine: log.kept,
        });
        tracing::info!(
            route = gateway.path(),
            event = log.event.as_deref(),
            family = log.family.as_ref().map(EventFamily::as_str),
            pk = log.pk.as_deref(),
            dedup_key = log.dedup_key.as_deref(),
            sequence = log.sequence,
            forwarded = log.forwarded,
            token = log.token,
            gateway_timestamp = log.gateway_timestamp,
            outcome = answer.outcome(),
            quarantined = log.quarantined,
            reason = log.reason,
            status,
            latency_us = latency.as_micros() as u64,
            "request"
        );
    }

    /// Keeps a refused request (see `quarantine`), at most the gateway's body limit of its
    /// body and [`MAX_ITEMS_PER_DAY`] new ones a day; what became of it and its body's bytes as
    /// kept (`None`: the write failed). Its failure is a log line: the answer to the gateway
    /// stays the refusal.
    async fn quarantine(&self, request: &Request, refusal: &Refusal) -> Option<(Kept, usize)> {
        let gateway = self.gateway.as_ref();
        let kept = QuarantinedRequest::new(
            self.delivery.clock.now(),
            gateway.provider(),
            gateway.path(),
            request.method().as_str(),
            (refusal.code, &refusal.message),
            request
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
            request.body().as_ref(),
            KeptOfBody {
                headers: gateway.kept_headers(),
                max_body: gateway.max_body_bytes(),
            },
        );
        let expires_at = kept.received_at + self.delivery.settings.retention;
        let write = self.store.quarantine(&kept, expires_at, MAX_ITEMS_PER_DAY);
        match tokio::time::timeout(QUARANTINE_BUDGET, write).await {
            Ok(Ok(outcome)) => {
                if outcome == Kept::OverCap {
                    tracing::error!(
                        max = MAX_ITEMS_PER_DAY,
                        "a refused request was not quarantined: the day's cap is reached"
                    );
                }
                Some((outcome, kept.body.len()))
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a refused request could not be quarantined");
                None
            }
            Err(_) => {
                tracing::error!("quarantining a refused request exceeded its budget");
                None
            }
        }
    }

    /// The mark's budget for this invocation (see [`mark_budget`]): at most [`MARK_BUDGET`],
    /// and what is left before `answer_by`.
    fn mark_budget(&self, request: &Request, answer_by: Instant) -> Duration {
        let deadline_ms = request.lambda_context_ref().map_or(0, |ctx| ctx.deadline);
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let left = answer_by.saturating_duration_since(Instant::now());
        mark_budget(deadline_ms, now_ms, MARK_BUDGET.min(left))
    }
}

/// This delivery attempt's id: the Lambda request id, or (outside Lambda: a test, a bench) a
/// random one. It names the writes this attempt makes that must be known as its own when the
/// SDK repeats them (a resend entry it used).
fn delivery_id(request: &Request) -> String {
    match request.lambda_context_ref() {
        Some(ctx) if !ctx.request_id.is_empty() => ctx.request_id.clone(),
        _ => {
            use std::hash::{BuildHasher, Hasher};
            // Seeded from the operating system's randomness, differently for each value.
            let random = |n: u64| {
                let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
                hasher.write_u64(n);
                hasher.finish()
            };
            format!("local-{:016x}{:016x}", random(1), random(2))
        }
    }
}

/// The mark's budget: `budget`, but never past the invocation's deadline less
/// [`ANSWER_MARGIN`], and never less than [`MIN_MARK_BUDGET`] (a mark that Lambda cuts short
/// costs nothing; one never tried leaves the entity unmarked for sure). A deadline that is
/// unknown (0: a test, a bench) or already past (not Lambda's: some local emulators send one)
/// leaves the whole budget (still at least [`MIN_MARK_BUDGET`]).
pub fn mark_budget(deadline_ms: u64, now_ms: u64, budget: Duration) -> Duration {
    match deadline_ms.checked_sub(now_ms) {
        None | Some(0) => budget.max(MIN_MARK_BUDGET),
        Some(left) => Duration::from_millis(left)
            .saturating_sub(ANSWER_MARGIN)
            .clamp(MIN_MARK_BUDGET, budget.max(MIN_MARK_BUDGET)),
    }
}

/// The least the mark is given, whatever the deadline says.
pub const MIN_MARK_BUDGET: Duration = Duration::from_millis(250);

/// Whether the screen (`crate::screen`) marked `request` with `what`.
fn screened_as(request: &Request, what: &str) -> bool {
    request
        .headers()
        .get(BODY_ERROR_HEADER)
        .is_some_and(|v| v.as_bytes() == what.as_bytes())
}

/// Whether `path` ends in one of `routes` (the gateway's paths), after any stage or base-path
/// prefix. API Gateway only routes those exact paths, so anything else reached the function
/// through a misconfiguration. An absent path (a hand-made test event) is not judged: there is
/// nothing to compare.
fn is_a_route(path: &str, routes: &[&str]) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.is_empty() || routes.iter().any(|route| path.ends_with(route))
}

/// The address API Gateway saw the request come from: the request context, which the client
/// cannot write (unlike `X-Forwarded-For`).
fn source_ip(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref(),
        _ => None,
    }
}

/// iugu sends `application/x-www-form-urlencoded`, iPag `application/json` (`expected`);
/// parameters such as `charset` are fine.
fn check_content_type(headers: &HeaderMap, expected: &str) -> Result<(), String> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(format!("send exactly one Content-Type: {expected}"));
    };
    let media_type = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if media_type.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!(
            "the body must be {expected}, not `{}`",
            clip(media_type)
        ))
    }
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_gets_its_budget_within_the_invocations_deadline() {
        let budget = MARK_BUDGET;
        let now = 1_800_000_000_000;
        // Unknown or already past: the whole budget.
        assert_eq!(mark_budget(0, now, budget), budget);
        assert_eq!(mark_budget(now - 5, now, budget), budget);
        // Plenty left: the budget.
        assert_eq!(mark_budget(now + 9_000, now, budget), budget);
        // Less left: up to the deadline less the margin.
        assert_eq!(
            mark_budget(now + 1_000, now, budget),
            Duration::from_millis(500)
        );
        // Almost nothing left: the least, never nothing.
        assert_eq!(mark_budget(now + 100, now, budget), MIN_MARK_BUDGET);
        assert_eq!(mark_budget(0, now, Duration::ZERO), MIN_MARK_BUDGET);
    }

    /// Each gateway finds its routes by path (`recover quarantine retry` does), and the
    /// handler takes a path of its own gateway's routes only.
    #[test]
    fn each_gateway_finds_its_routes_by_path_and_takes_only_those() {
        use webhook_ipag::Ipag;
        use webhook_iugu::{Family, Iugu};
        for family in Family::ALL {
            let iugu = match family {
                Family::Other => Iugu::ALL_EVENTS,
                f => Iugu::family(f),
            };
            for path in [iugu.path().to_owned(), format!("/Prod{}/", iugu.path())] {
                assert_eq!(Iugu::of_path(&path), Some(iugu), "{path}");
                assert!(Ipag::of_path(&path).is_none(), "{path}");
                assert!(is_a_route(&path, iugu.paths()), "{path}");
                assert!(!is_a_route(&path, Ipag::UNSIGNED.paths()), "{path}");
            }
        }
        let ipag = Ipag::UNSIGNED.path();
        assert!(Ipag::of_path(&format!("/Prod{ipag}/")).is_some());
        assert!(is_a_route(ipag, Ipag::UNSIGNED.paths()));
        assert!(!is_a_route(ipag, Iugu::ALL_EVENTS.paths()));
        assert_eq!(Iugu::of_path(ipag), None);
        assert_eq!(Iugu::of_path("/somewhere/else"), None);
        assert!(!is_a_route(
            "/iugu/invoices/extra",
            Iugu::ALL_EVENTS.paths()
        ));
    }
}
