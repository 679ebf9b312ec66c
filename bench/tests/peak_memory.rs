//! The most heap one request may take, for the worst bodies each gateway takes in (issue 24,
//! item 4): counted by the allocator, so the bound holds whatever the machine is doing. Before
//! the fix, the iugu form parser gave every new group room for every `&` of the body, and a
//! body of many groups padded with empty pairs took far more than a function's memory
//! (bench/README.md, "Peak memory per request").

use perf_bench::peak::{self, Counting, Route};

#[global_allocator]
static ALLOCATOR: Counting<std::alloc::System> = Counting(std::alloc::System);

/// A Lambda of 128 MB runs these; a request's own heap stays far below it (the measured peaks:
/// bench/README.md, "Peak memory per request").
const IUGU_MAX: usize = 1 << 20;
const IPAG_MAX: usize = 4 << 20;

#[test]
fn no_body_takes_more_than_its_bound() {
    let mut worst = Vec::new();
    for case in peak::cases() {
        let (status, bytes) = peak::request_peak(&case);
        let bound = match case.route {
            Route::Iugu => IUGU_MAX,
            Route::Ipag => IPAG_MAX,
        };
        assert!(
            bytes <= bound,
            "{}: {bytes} bytes at the peak (bound {bound}), answered {status}",
            case.name
        );
        // Each one is read: the bound is not met by refusing it (the iPag fillers may be
        // refused for their shape after the parse, which is what costs).
        assert!(matches!(status, 200 | 400 | 422), "{}: {status}", case.name);
        worst.push((bytes, case.name));
    }
    // The counter counts: the smallest request takes something, the largest many times it.
    worst.sort();
    assert!(worst[0].0 > 1_000, "{worst:?}");
}
