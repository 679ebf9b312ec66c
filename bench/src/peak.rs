//! Peak heap of one request, and the worst bodies each gateway takes in (issue 24, item 4).
//!
//! [`Counting`] wraps an allocator and keeps the bytes in use and their peak; a binary that
//! installs it as its `#[global_allocator]` can ask what one request took at most
//! ([`request_peak`]): the whole path a function runs, from the API Gateway event's JSON
//! (decode, screen, convert, the handler's checks, parse, envelope, store, forward, mark, the
//! answer), with the in-memory store and queue. `bench/src/bin/peak_memory.rs` prints the
//! table of bench/README.md; `bench/tests/peak_memory.rs` bounds it in `cargo test`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use webhook_core::gateway::Gateway;
use webhook_core::memory::{MemoryQueue, MemoryStore};
use webhook_ipag::Ipag;
use webhook_iugu::Iugu;
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// An allocator that counts: the bytes in use, and the most in use since [`reset_peak`].
pub struct Counting<A>(pub A);

impl<A> Counting<A> {
    fn grew(size: usize) {
        let now = IN_USE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(size: usize) {
        IN_USE.fetch_sub(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is handed to the wrapped allocator unchanged; only counters are added.
#[allow(unsafe_code, reason = "a GlobalAlloc impl is unsafe by definition")]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { self.0.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::grew(new_size);
            Self::shrank(layout.size());
        }
        p
    }
}

/// The bytes in use now (0 unless [`Counting`] is the global allocator).
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Starts a new peak from what is in use now; returns that.
pub fn reset_peak() -> usize {
    let now = in_use();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes in use since [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

pub const TOKEN: &str = "bench-token-0123456789abcdef";

/// Which function a body goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/iugu/events` (every iugu family).
    Iugu,
    /// `/ipag/events`, without a signing key.
    Ipag,
}

/// A body and where it goes.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub route: Route,
    pub body: String,
}

const IUGU_HEAD: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid";

/// `body` padded with empty pairs (`&`) up to `size` bytes.
fn padded(mut body: String, size: usize) -> String {
    while body.len() < size {
        body.push('&');
    }
    body
}

/// The iugu bodies (at most 16 KiB, `webhook_iugu::form::MAX_BODY_BYTES`), from an ordinary
/// delivery to the shapes that cost the parser most.
pub fn iugu_cases() -> Vec<Case> {
    let max = webhook_iugu::form::MAX_BODY_BYTES;
    let groups = |n: usize, tail: &str| -> String {
        let mut body = IUGU_HEAD.to_owned();
        for i in 0..n {
            body.push_str(&format!("&data[g{i}]{tail}=1"));
        }
        body
    };
    let mut long_fields = IUGU_HEAD.to_owned();
    let mut i = 0;
    while long_fields.len() + 70 < max && i < 250 {
        long_fields.push_str(&format!("&data[f{i:03}]={}", "v".repeat(55)));
        i += 1;
    }
    vec![
        Case {
            name: "iugu: a delivery (invoice.status_changed)",
            route: Route::Iugu,
            body: format!("{IUGU_HEAD}&data%5Baccount_id%5D=E6495D15290D47D3950C2A723D07A24E&data%5Bevent%5D=invoice.status_changed"),
        },
        Case {
            name: "iugu: 250 groups, padded with empty pairs to 16,000 B (issue 24)",
            route: Route::Iugu,
            body: padded(groups(250, "[x]"), 16_000),
        },
        Case {
            name: "iugu: 250 groups 4 deep (1,000 groups), padded to 16 KiB",
            route: Route::Iugu,
            body: padded(groups(250, "[a][b][c]"), max),
        },
        Case {
            name: "iugu: 250 fields of 55 B in one group, 16 KiB",
            route: Route::Iugu,
            body: long_fields,
        },
        Case {
            name: "iugu: one 16 KiB value",
            route: Route::Iugu,
            body: {
                let head = format!("{IUGU_HEAD}&data[x]=");
                let fill = max - head.len();
                format!("{head}{}", "v".repeat(fill))
            },
        },
    ]
}

const IPAG_HEAD: &str = r#"{"id":3012161,"uuid":"178dea199ac2071615afc44e5e4a4b33","resource":"transactions","attributes":{"status":{"code":8,"message":"CAPTURED"},"amount":10.0,"order_id":"1001"},"filler":"#;

/// The iPag bodies (at most 64 KiB, `webhook_ipag::parse::MAX_BODY_BYTES`): JSON whose parse
/// costs most per byte (the smallest values, the most keys, the deepest nesting).
pub fn ipag_cases() -> Vec<Case> {
    let max = webhook_ipag::parse::MAX_BODY_BYTES;
    let fill = |item: &dyn Fn(usize) -> String, open: &str, close: &str| -> String {
        let mut body = format!("{IPAG_HEAD}{open}");
        let mut i = 0;
        loop {
            let next = item(i);
            if body.len() + next.len() + 1 + close.len() + 1 > max {
                break;
            }
            if i > 0 {
                body.push(',');
            }
            body.push_str(&next);
            i += 1;
        }
        format!("{body}{close}}}")
    };
    vec![
        Case {
            name: "iPag: a delivery (TransactionCaptured)",
            route: Route::Ipag,
            body: format!("{IPAG_HEAD}null}}"),
        },
        Case {
            name: "iPag: 64 KiB of one-digit numbers in an array",
            route: Route::Ipag,
            body: fill(&|_| "0".to_owned(), "[", "]"),
        },
        Case {
            name: "iPag: 64 KiB of empty objects in an array",
            route: Route::Ipag,
            body: fill(&|_| "{}".to_owned(), "[", "]"),
        },
        Case {
            name: "iPag: 64 KiB of empty arrays in an array",
            route: Route::Ipag,
            body: fill(&|_| "[]".to_owned(), "[", "]"),
        },
        Case {
            name: "iPag: 64 KiB of keys in one object",
            route: Route::Ipag,
            body: fill(&|i| format!(r#""{i:x}":0"#), "{", "}"),
        },
        Case {
            name: "iPag: 120 levels of nesting, padded with numbers to 64 KiB",
            route: Route::Ipag,
            body: {
                let (open, close) = ("[".repeat(120), "]".repeat(120));
                let room = max - IPAG_HEAD.len() - open.len() - close.len() - 1;
                let numbers = vec!["0"; room.div_ceil(2)].join(",");
                format!("{IPAG_HEAD}{open}{}{close}}}", &numbers[..room - 1])
            },
        },
    ]
}

/// Every case, iugu's then iPag's.
pub fn cases() -> Vec<Case> {
    let mut all = iugu_cases();
    all.extend(ipag_cases());
    all
}

/// The REST (v1) event API Gateway hands a function for `case`, with the token.
pub fn event_json(case: &Case) -> String {
    let (path, media, headers) = match case.route {
        Route::Iugu => (
            "/iugu/events",
            "application/x-www-form-urlencoded",
            serde_json::json!({ "Content-Type": "application/x-www-form-urlencoded" }),
        ),
        Route::Ipag => (
            "/ipag/events",
            "application/json",
            serde_json::json!({ "Content-Type": "application/json", "X-Ipag-Event": "TransactionCaptured" }),
        ),
    };
    serde_json::json!({
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": { "Content-Type": [media] },
        "queryStringParameters": { "token": TOKEN },
        "multiValueQueryStringParameters": { "token": [TOKEN] },
        "requestContext": { "identity": { "sourceIp": "54.207.210.151" }, "httpMethod": "POST" },
        "body": case.body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// What one request of `case` took: its status, and the most heap bytes in use above what
/// was in use before it (only with [`Counting`] as the global allocator; 0 otherwise).
pub fn request_peak(case: &Case) -> (u16, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let gateway: Arc<dyn Gateway> = match case.route {
        Route::Iugu => Arc::new(Iugu::ALL_EVENTS),
        Route::Ipag => Arc::new(Ipag::UNSIGNED),
    };
    let app = App {
        gateway,
        token: Token::new(Some(TOKEN)),
        allowed_sources: Default::default(),
        store: MemoryStore::default(),
        forwarder: MemoryQueue::default(),
        delivery: Delivery::default(),
        metrics: webhook_lambda::metrics::Metrics::to("bench", |_line| {}),
    };
    let json = event_json(case);
    let before = reset_peak();
    let status = runtime.block_on(async {
        // As webhook_lambda::runtime::serve: decode, screen, convert, handle.
        let payload: LambdaRequest = serde_json::from_str(&json).expect("an event");
        let mut event = LambdaEvent::new(payload, Context::default());
        webhook_lambda::screen::screen_event(&mut event);
        let request: lambda_http::Request = event.payload.into();
        let response = app.handle(request).await;
        std::hint::black_box(serde_json::to_vec(response.body().as_ref()).ok());
        response.status().as_u16()
    });
    (status, peak().saturating_sub(before))
}
