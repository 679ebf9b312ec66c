//! Every seed of the fuzz corpus (`fuzz/corpus/seeds/`) through the full parse, on stable and
//! without libFuzzer: each one is accepted, or refused with a stable error code, never a panic.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use webhook_iugu::Typed;

fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
}

/// What one seed gave: `Ok(event name)` or `Err(error code)`.
fn run(body: &[u8]) -> Result<String, &'static str> {
    match webhook_iugu::parse(body, OffsetDateTime::UNIX_EPOCH) {
        Ok(envelope) => {
            let json = serde_json::to_string(&envelope).expect("an envelope always serialises");
            assert!(json.starts_with('{'), "{json}");
            let _ = envelope.typed();
            Ok(envelope.event.to_string())
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            Err(err.code())
        }
    }
}

#[test]
fn every_seed_is_accepted_or_refused_with_a_code() {
    let seeds = files(&dir("fuzz/corpus/seeds"));
    assert!(
        seeds.len() >= 40,
        "only {} seeds in fuzz/corpus/seeds",
        seeds.len()
    );
    let mut panicked = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for path in &seeds {
        let body = fs::read(path).expect("a readable seed");
        match panic::catch_unwind(AssertUnwindSafe(|| run(&body))) {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(code)) => {
                assert!(!code.is_empty(), "{}: empty error code", path.display());
                refused += 1;
            }
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(panicked.is_empty(), "these seeds panic: {panicked:#?}");
    // The corpus holds both real notifications and hostile bodies.
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn hostile_seeds_are_refused_as_expected() {
    let expect = [
        ("hostile-empty", "empty_body"),
        ("hostile-whitespace", "empty_body"),
        ("hostile-only-separators", "empty_body"),
        ("hostile-deep-brackets", "too_deep"),
        ("hostile-empty-brackets", "malformed_key"),
        ("hostile-text-after-bracket", "malformed_key"),
        ("hostile-invalid-utf8-raw", "invalid_utf8"),
        ("hostile-invalid-utf8-escaped", "invalid_utf8"),
        ("hostile-nul-raw", "nul_byte"),
        ("hostile-nul-escaped", "nul_byte"),
        ("hostile-repeated-different", "duplicate_key"),
        ("hostile-key-too-long", "key_too_long"),
        ("hostile-too-many-fields", "too_many_fields"),
        ("hostile-too-large", "body_too_large"),
        ("hostile-no-event", "missing_event"),
    ];
    let seeds = dir("fuzz/corpus/seeds");
    for (name, code) in expect {
        let body = fs::read(seeds.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(run(&body), Err(code), "{name}");
    }
    let same = fs::read(seeds.join("hostile-repeated-same")).expect("seed");
    assert_eq!(run(&same), Ok("invoice.created".to_owned()));
}

/// The corpus starts from every fixture body, so the fuzzer explores from real notifications.
/// A new fixture needs its copy: `cp tests/fixtures/iugu/<dir>/<name>.body fuzz/corpus/seeds/<dir>-<name>`.
#[test]
fn every_fixture_body_is_a_seed() {
    let seeds = dir("fuzz/corpus/seeds");
    for sub in ["raw", "repaired", "constructed"] {
        for fixture in files(&dir(&format!("tests/fixtures/iugu/{sub}"))) {
            let stem = fixture
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a name");
            let seed = seeds.join(format!("{sub}-{stem}"));
            let want = fs::read(&fixture).expect("a readable fixture");
            let got = fs::read(&seed)
                .unwrap_or_else(|_| panic!("{} has no seed {}", fixture.display(), seed.display()));
            assert_eq!(
                got,
                want,
                "{} differs from {}",
                seed.display(),
                fixture.display()
            );
        }
    }
}
