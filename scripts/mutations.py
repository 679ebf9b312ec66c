#!/usr/bin/env python3
"""Breaks the product on purpose, one way at a time, and checks that the tests named for each
break fail: the evidence that those tests would catch the fault they are there for (a rule
that drops a real event, a second send, a reversed order, a conflict branch that loses).

usage: python3 scripts/mutations.py [NAME ...]     (no NAME: every mutation)

Each mutation replaces a piece of code or a few (each must occur exactly once), runs its tests with
`cargo test`, expects them to FAIL (not to fail to build), and puts the code back, whatever
happens. It prints one line per mutation and exits 1 if any break went unnoticed. Not in CI:
each one rebuilds a test binary (a minute or two). RELIABILITY.md has its last output.
Needs what `bash scripts/test.sh` needs (MOTO_PYTHON, or .venv).
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (name, [(file, original, broken), ...], cargo test arguments, what it breaks)
MUTATIONS = [
    (
        'owed-makes-a-retry',
        [
            ('shared/core/src/delivery.rs', 'if within_window && latest {', 'if within_window && (latest || owed) {'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'delivery_semantics::a_re'],
        'an owed record makes any identical delivery a retry (the old rule): a real suspension dropped',
    ),
    (
        'resend-by-latest-content',
        [
            ('shared/core/src/delivery.rs', '        .filter(|e| e.used_by.is_none())\n', '        .filter(|e| e.used_by.is_none() && Some(e.sequence) == previous.sequence())\n'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'resends::a_resend_of_'],
        'a resend is matched against the latest notification with its content only',
    ),
    (
        'resend-use-not-idempotent',
        [
            ('shared/aws/src/dynamo.rs', '"attribute_exists(#pk) AND (attribute_not_exists(#used) OR #used = :me)"', '"attribute_exists(#pk) AND attribute_not_exists(#used) AND #used <> :me"'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'resends::a_resend_whose_write'],
        "a resend entry's use repeated by the SDK is taken for another delivery's",
    ),
    (
        'owed-not-stored-with-it',
        [
            ('shared/aws/src/dynamo.rs', '#shard = :shard, #unacked.#own = :at"', '#shard = :shard"'),
            ('shared/aws/src/dynamo.rs', '                    .expression_attribute_names("#unacked", attr::UNACKED)\n                    .expression_attribute_names("#own", sequence.to_string())\n', ''),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'stuck::a_long_backlog'],
        "the owed state is not written with a notification that is not its entity's first",
    ),
    (
        'first-owed-not-stored-with-it',
        [
            ('shared/aws/src/table.rs', 'AttributeValue::M(HashMap::from([("1".to_owned(), s(format_time(at)))])),', 'AttributeValue::M(HashMap::new()),'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'delivery_semantics::a_retry_owed'],
        "the owed state is not written with an entity's first notification",
    ),
    (
        'unreadable-blocks-its-entity',
        [
            ('shared/core/src/ingest.rs', '                        store\n                            .set_aside(entity_key, sequence, &gap, now)', '                        return Err(IngestError::Forward(DownstreamError::new("rebuild", gap.detail)));\n                        store\n                            .set_aside(entity_key, sequence, &gap, now)'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'stuck::an_unreadable'],
        'a stored notification that no longer parses blocks its entity (the old behaviour)',
    ),
    (
        'expired-is-skipped-silently',
        [
            ('shared/core/src/ingest.rs', '            Some(n) if !n.is_live(now) => n.gap(expired()),', '            Some(n) if !n.is_live(now) => continue,'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'stuck::waiting_notifications'],
        'a waiting notification past its retention leaves a hole no record explains',
    ),
    (
        'unbounded-backlog',
        [
            ('shared/core/src/ingest.rs', 'pub const MAX_FORWARDS_PER_DELIVERY: u64 = 25;', 'pub const MAX_FORWARDS_PER_DELIVERY: u64 = u64::MAX / 2;'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'stuck::a_long_backlog'],
        'one request forwards a whole backlog',
    ),
    (
        'memory-ignores-retention',
        [
            ('shared/core/src/stored.rs', '        self.expires_at.is_none_or(|at| at > now)', '        self.expires_at.is_none_or(|_| true)'),
        ],
        ['-p', 'webhook-gateways', '--test', 'conformance', 'ingest::a_waiting_notification_past'],
        'range reads ignore retention (the in-memory store did)',
    ),
    (
        'a-second-send',
        [
            ('shared/aws/src/sqs.rs', '        send.send()\n            .await\n', '        let _ = send.clone().send().await;\n        send.send()\n            .await\n'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'delivery_semantics::'],
        'every message is sent twice (the local queue drops the copy by the real clock)',
    ),
    (
        'reversed-order',
        [
            ('shared/core/src/ingest.rs', '    for sequence in sequences {\n', '    for sequence in sequences.rev() {\n'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'sweeper::what_sqs_refused'],
        'waiting notifications are sent newest first',
    ),
    (
        'conflict-loses',
        [
            ('shared/aws/src/dynamo.rs', '            Err(e) if lost_a_race(&e) => Err(WriteError::Conflict),', '            Err(e) if lost_a_race(&e) => Ok(()),'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'conflicts::a_transaction_cancelled'],
        'a transaction cancelled for a conflict is taken for stored',
    ),
    (
        'cursor-never-wraps',
        [
            ('shared/core/src/sweep.rs', '        candidates.extend(wrapped.into_iter().filter(|p| Some(p.since) <= cursor));', '        candidates.extend(wrapped.into_iter().filter(|_| false));'),
        ],
        ['-p', 'pipeline-tests', '--test', 'end_to_end', 'sweeper::the_cursor_never'],
        "the sweeper's cursor leaves behind an entity the index showed late",
    ),
]


def run(changes, args):
    kept = {}
    for path, original, broken in changes:
        file = ROOT / path
        text = kept.get(path, file.read_text())
        kept.setdefault(path, text)
        current = file.read_text()
        if current.count(original) != 1:
            for p, t in kept.items():
                (ROOT / p).write_text(t)
            return f"SETUP: the code to break occurs {current.count(original)} times in {path}"
        file.write_text(current.replace(original, broken))
    try:
        out = subprocess.run(
            ["cargo", "test", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "MOTO_PYTHON": os.environ.get("MOTO_PYTHON", str(ROOT / ".venv/bin/python"))},
        )
    finally:
        for path, text in kept.items():
            (ROOT / path).write_text(text)
    log = out.stdout + out.stderr
    if "error[E" in log or "could not compile" in log:
        return "BUILD: the broken code did not build\n" + log[-2000:]
    if out.returncode == 0:
        return "MISSED: every test passed"
    failed = [l.split()[1] for l in log.splitlines() if l.startswith("test ") and l.endswith("FAILED")]
    return "caught by " + ", ".join(failed)


def main():
    chosen = set(sys.argv[1:])
    unnoticed = 0
    for name, changes, args, what in MUTATIONS:
        if chosen and name not in chosen:
            continue
        result = run(changes, args)
        print(f"{name}: {what}: {result}", flush=True)
        if not result.startswith("caught by"):
            unnoticed += 1
    sys.exit(1 if unnoticed else 0)


if __name__ == "__main__":
    main()
