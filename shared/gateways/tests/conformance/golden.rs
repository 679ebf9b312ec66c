//! Pins what leaves the parser for every body of the fuzz corpus (which holds every fixture of
//! `fixtures/iugu/**` plus the hostile bodies): the envelope JSON exactly as it is forwarded as
//! its entity's first notification (`"sequence":1`; so its de-duplication key, which production
//! tables hold), the queue's de-duplication id, the typed view, or the error code and message.
//! Any change to those bytes is a change of behaviour and shows here.
//!
//! `golden/envelopes.txt` holds one block per seed. After a deliberate change, regenerate it
//! with `GOLDEN_BLESS=1 cargo test -p webhook-gateways --test conformance golden` and review the diff.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use time::macros::datetime;
use webhook_iugu::Typed;

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The record of one body: its JSON and typed view, or its refusal.
fn record(name: &str, body: &[u8]) -> String {
    let mut out = format!("== {name}\n");
    match webhook_iugu::parse(body, datetime!(2026-11-23 12:00:00.5 UTC)) {
        Ok(mut envelope) => {
            // As the pipeline forwards it: stored as its entity's first notification.
            envelope.sequence = Some(1);
            let json = serde_json::to_string(&envelope).expect("an envelope always serialises");
            let _ = writeln!(out, "json {json}");
            let _ = writeln!(out, "dedup_key {}", envelope.dedup_key);
            let _ = writeln!(
                out,
                "message_dedup_id {}",
                envelope.message_deduplication_id()
            );
            let _ = writeln!(out, "typed {:?}", envelope.typed());
        }
        Err(err) => {
            let _ = writeln!(out, "refused {} {err}", err.code());
        }
    }
    out
}

#[test]
fn every_seed_gives_the_pinned_envelope_or_refusal() {
    let mut seeds: Vec<PathBuf> = fs::read_dir(dir("fuzz/corpus/seeds"))
        .expect("the seed directory")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    seeds.sort();
    let mut got = String::new();
    for path in &seeds {
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        got.push_str(&record(name, &fs::read(path).expect("a readable seed")));
    }

    let golden = dir("tests/golden/envelopes.txt");
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        fs::write(&golden, &got).expect("golden file written");
        return;
    }
    let want = fs::read_to_string(&golden).expect("tests/golden/envelopes.txt");
    // Compare block by block, so a failure names the seed rather than dumping the file.
    let blocks = |s: &str| -> Vec<String> { s.split("== ").map(str::to_owned).collect() };
    let (got, want) = (blocks(&got), blocks(&want));
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len(), "a seed was added or removed");
}

/// A few keys spelled out, so a reader sees what is pinned without the golden file.
#[test]
fn dedup_keys_of_known_fixtures_do_not_change() {
    let key = |rel: &str| {
        let body = fs::read(dir(&format!("tests/fixtures/iugu/{rel}.body"))).expect("fixture");
        webhook_iugu::parse(&body, datetime!(1970-01-01 0:00 UTC))
            .expect("the fixture parses")
            .dedup_key
    };
    for (rel, want) in [
        ("raw/invoice.status_changed", KEY_STATUS_CHANGED),
        ("repaired/customer_payment_method.new", KEY_PAYMENT_METHOD),
        ("constructed/invoice.split_released", KEY_SPLIT_RELEASED),
    ] {
        assert_eq!(key(rel), want, "{rel}");
    }
}

const KEY_STATUS_CHANGED: &str = "52cf5cb9f7684f2132a3eeea604e068962f790d4d8bf0977ba841f2c155673dc";
const KEY_PAYMENT_METHOD: &str = "21d097c4683f6beb35b3575fbdd758e0616b159ba748c548890e9479d3a42d44";
const KEY_SPLIT_RELEASED: &str = "b38c8ed4ea148d7db01e8f14910b2e82edd4f8f2738724ae47850bd7730e81f9";

/// iugu's envelopes are byte-for-byte what they were before iPag: every iugu fixture of that
/// time (those the golden file names; fixtures added since are pinned by `golden.rs`),
/// serialised, against the output of the code before this change (`golden/`).
#[test]
fn iugu_envelope_json_is_unchanged() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let golden = std::fs::read_to_string(root.join("golden/iugu_envelopes_before_ipag.txt"))
        .expect("golden file");
    let at = datetime!(2026-11-23 12:00:00.123456 UTC);
    let then: std::collections::BTreeSet<&str> = golden
        .lines()
        .filter_map(|line| line.split(' ').next())
        .collect();
    let mut paths = Vec::new();
    for dir in ["raw", "repaired", "constructed"] {
        for entry in std::fs::read_dir(root.join("fixtures/iugu").join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if then.contains(name) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut now = String::new();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let body = std::fs::read(&path).expect("read");
        match webhook_iugu::parse(&body, at) {
            Ok(env) => {
                let json = serde_json::to_string(&env).expect("serialise");
                // And it reads back to the same envelope.
                let back: webhook_core::Envelope = serde_json::from_str(&json).expect("reads back");
                assert_eq!(back, env, "{name}");
                // Schema version 2 added `schema_version` (and `repeat_of.reason` and `gap`,
                // absent here): the rest is as it was before iPag.
                let json = json.replacen(
                    &format!("{{\"schema_version\":{},", webhook_core::SCHEMA_VERSION),
                    "{",
                    1,
                );
                now.push_str(&format!("{name} {json}\n"));
            }
            Err(e) => now.push_str(&format!("{name} ERR {}\n", e.code())),
        }
    }
    assert_eq!(golden.lines().count(), 34);
    for (was, is) in golden.lines().zip(now.lines()) {
        assert_eq!(is, was);
    }
    assert_eq!(now, golden);
}
