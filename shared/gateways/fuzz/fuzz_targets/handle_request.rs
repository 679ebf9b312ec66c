//! The whole request path of a function (event → screen → handler → store → queue), with
//! in-memory store and queue: never a panic, every answer JSON with a documented status, and
//! 200 only once stored and forwarded. See `request_input.rs` for the input layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod request_input;

fuzz_target!(|input: &[u8]| {
    request_input::check(input);
});
