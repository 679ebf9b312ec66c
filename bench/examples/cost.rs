//! What a notification costs, per outcome, ours and the hand-written receiver's, in USD per
//! million at us-east-1's on-demand prices: the table of bench/README.md, "Cost per
//! notification".
//!
//!     bash bench/cost.sh      # MOTO_PYTHON=.venv/bin/python cargo run -p perf-bench --example cost
//!
//! Ours: every outcome is one delivery (an API Gateway HTTP API event, as `template.yaml`
//! deploys) through the real handler and adapters against the local server (moto), and the
//! sweeper's run through the real sweeper. `pipeline_tests::recorder` records every call on
//! the wire and `perf_bench::metering` prices it: DynamoDB units from the items by AWS's rules (moto reports no real
//! consumed capacity), SQS requests per 64 KB chunk. The hand-written receivers run under
//! `bench/naive_cost.py` against the same server, their calls priced by the same code: the
//! naive one (`bench/python_handler/naive.py`: one conditional PutItem, one SendMessage) and
//! the one a careful team builds (`bench/python_handler/powertools.py`: Powertools'
//! idempotency utility with DynamoDB persistence around one SendMessage).
//!
//! Lambda duration is not measurable here (no AWS account): it is modelled as the handler's
//! own time, measured in process (wall time less the time its calls spent on the wire, median
//! of `COST_ROUNDS` rounds, default 30), plus one assumed in-region latency per call
//! (`COST_LATENCY_MS`, default 10 ms), rounded up to the millisecond, at 128 MB.
#![allow(
    clippy::expect_used,
    reason = "a measuring tool: a step that fails stops it, with its reason"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use common::Metered;
use perf_bench::capacity::item_size;
use perf_bench::metering::{tally, Call, Table, Tally};
use perf_bench::pricing::{self, Bill, Prices, Usage, US_EAST_1};
use pipeline_tests::{answer, moto, moto_python, through_runtime, workspace, Local, TOKEN};
use serde_json::{json, Value};
use time::macros::datetime;
use time::Duration;
use webhook_aws::table::{self, attr};
use webhook_aws::{DynamoStore, SqsForwarder};
use webhook_core::clock::ManualClock;
use webhook_core::sweep::SweepSettings;
use webhook_lambda::http::App;
use webhook_lambda::sweeper::Sweeper;

// The functions run on mimalloc (chosen in each function's binary); this runs what they run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every function's memory (`template.yaml`, Globals).
const MEMORY_MB: u32 = 128;
/// A vCPU at 1,769 MB: what 128 MB's share of a CPU is measured against.
const FULL_CPU_MB: f64 = 1_769.0;
/// The fixture, and the invoice id it carries (replaced, at the same length, per round).
const FIXTURE: &str = "shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body";
const FIXTURE_ID: &str = "84F982E1A10F4FF1B483B829F4762C2C";
/// Sweeper runs in a 30-day month at `rate(1 minute)` (`template.yaml`, SweepSchedule).
const SWEEPS_PER_MONTH: f64 = 30.0 * 24.0 * 60.0;
/// New notifications the sweeper's look is measured over (its per-notification share).
const LOOKED: usize = 100;

/// An API Gateway HTTP API (payload 2.0) POST to iugu's invoices route, the body base64 as
/// API Gateway sends a form, as the handler gets it.
fn http_api_post(body: &str) -> lambda_http::Request {
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /iugu/invoices",
        "rawPath": "/iugu/invoices",
        "rawQueryString": format!("token={TOKEN}"),
        "headers": { "content-type": "application/x-www-form-urlencoded" },
        "queryStringParameters": { "token": TOKEN },
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "local",
            "domainPrefix": "local",
            "http": { "method": "POST", "path": "/iugu/invoices", "protocol": "HTTP/1.1",
                      "sourceIp": "98.82.243.132", "userAgent": "iugu" },
            "requestId": "cost", "routeKey": "POST /iugu/invoices", "stage": "$default",
            "time": "20/Nov/2026:13:00:00 +0000", "timeEpoch": 1_795_179_600_000u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    });
    through_runtime(&event.to_string())
}

/// One outcome, measured: its calls and units (from the first round, the fixture itself) and
/// its own time in every later round.
#[derive(Debug, Default)]
struct Outcome {
    name: String,
    answer: String,
    tally: Tally,
    own: Vec<StdDuration>,
    /// Lambda invocations and API Gateway requests per notification.
    invocations: u64,
    api_requests: u64,
}

impl Outcome {
    fn median_own(&self) -> StdDuration {
        let mut own = self.own.clone();
        own.sort();
        own.get(own.len() / 2).copied().unwrap_or_default()
    }
}

/// What one outcome costs under the duration model.
struct Priced {
    billed_ms: u64,
    usage: Usage,
    bill: Bill,
}

fn price(o: &Outcome, latency: StdDuration, cpu_factor: f64, prices: &Prices) -> Priced {
    let own = o.median_own().mul_f64(cpu_factor);
    let billed_ms = pricing::billed_ms(pricing::duration(own, o.tally.calls.len(), latency));
    let usage = Usage {
        read_units: o.tally.read_units,
        write_units: o.tally.write_units as f64,
        sqs_requests: o.tally.sqs_requests,
        lambda_invocations: o.invocations,
        gb_seconds: if o.invocations > 0 {
            pricing::gb_seconds(billed_ms, MEMORY_MB)
        } else {
            0.0
        },
        api_requests: o.api_requests,
    };
    Priced {
        billed_ms,
        usage,
        bill: pricing::per_million(&usage, prices),
    }
}

/// The sweeper's forward: what its run with one notification waiting costs beyond an idle run
/// (the idle run is paid every minute whether or not anything waits).
fn price_marginal(
    run: &Outcome,
    idle: &Outcome,
    latency: StdDuration,
    cpu_factor: f64,
    prices: &Prices,
) -> Priced {
    let (with, without) = (
        price(run, latency, cpu_factor, prices),
        price(idle, latency, cpu_factor, prices),
    );
    let extra = run.tally.less(&idle.tally);
    let billed_ms = with.billed_ms.saturating_sub(without.billed_ms);
    let usage = Usage {
        read_units: extra.read_units,
        write_units: extra.write_units as f64,
        sqs_requests: extra.sqs_requests,
        lambda_invocations: 0,
        gb_seconds: pricing::gb_seconds(billed_ms, MEMORY_MB),
        api_requests: 0,
    };
    Priced {
        billed_ms,
        usage,
        bill: pricing::per_million(&usage, prices),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn usd(v: f64) -> String {
    format!("{v:.3}")
}

fn ms(d: StdDuration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds = env_number("COST_ROUNDS", 30.0).max(1.0) as usize;
    let latency = StdDuration::from_secs_f64(env_number("COST_LATENCY_MS", 10.0).max(0.0) / 1e3);
    let load_before = load_average();
    let started_at = time::OffsetDateTime::now_utc();

    let metered = Metered::start().await;
    let Metered {
        local, dynamo, sqs, ..
    } = &metered;
    let ours = metered.events_table();
    let t0 = datetime!(2026-11-20 13:00 UTC);
    let clock = ManualClock::at(t0);
    let up = metered.invoices(&clock, false);
    let down = metered.invoices(&clock, true);
    let sweeper = Sweeper {
        store: DynamoStore::new(dynamo.clone(), &local.table),
        forwarder: SqsForwarder::new(sqs.clone(), &local.queue_url),
        settings: SweepSettings::default(),
        metrics: Default::default(),
        clock: Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    };

    let fixture = std::fs::read_to_string(workspace().join(FIXTURE))
        .expect("fixture")
        .trim()
        .to_owned();
    assert!(
        fixture.contains(FIXTURE_ID),
        "the fixture's invoice id moved"
    );
    let paid_of = |id: &str| fixture.replace(FIXTURE_ID, id);
    let pending_of = |id: &str| paid_of(id).replace("paid", "pending");

    // Each outcome and the answer it must get (else the row would price something else).
    let names = [
        ("new notification", "200 stored"),
        ("retry of a forwarded one", "200 duplicate"),
        ("new occurrence (repeat_of)", "200 repeat"),
        (
            "stored, the queue down (503; the gateway retries)",
            "503 forward_failed",
        ),
        ("retry of one never forwarded", "200 duplicate"),
    ];
    let mut outcomes: Vec<Outcome> = names
        .iter()
        .map(|(n, _)| Outcome {
            name: (*n).to_owned(),
            invocations: 1,
            api_requests: pricing::http_api_requests(fixture.len()),
            ..Outcome::default()
        })
        .collect();
    let mut sweep_run = Outcome {
        name: "sweeper run, one notification waiting".into(),
        invocations: 1,
        ..Outcome::default()
    };
    let mut sweep_idle = Outcome {
        name: "sweeper run, nothing waiting".into(),
        invocations: 1,
        ..Outcome::default()
    };
    let mut mismatches = Vec::new();

    // Round 0 is the fixture itself (its calls and units are the table's); rounds 1.. are
    // other invoices, ids of the same length, for the times.
    for round in 0..=rounds {
        let id = |n: usize| {
            if round == 0 && n == 0 {
                FIXTURE_ID.to_owned()
            } else {
                format!("{:032X}", 3 * round + n + 1)
            }
        };
        let (a, b, c) = (id(0), id(1), id(2));
        let at = t0 + Duration::minutes(20 * round as i64);
        // (outcome index or None, app, body, minutes after `at`)
        let steps: [(Option<usize>, &App<_, _>, String, i64); 6] = [
            (Some(0), &up, paid_of(&a), 0),
            (Some(1), &up, paid_of(&a), 1),
            (None, &up, pending_of(&a), 2),
            (Some(2), &up, paid_of(&a), 3),
            (Some(3), &down, paid_of(&b), 4),
            (Some(4), &up, paid_of(&b), 5),
        ];
        for (index, app, body, minutes) in steps {
            clock.set(at + Duration::minutes(minutes));
            metered.take();
            let started = Instant::now();
            let response = app.handle(http_api_post(&body)).await;
            let wall = started.elapsed();
            let (calls, wire) = metered.take();
            let Some(i) = index else { continue };
            let o = &mut outcomes[i];
            if round == 0 {
                let (status, json) = answer(&response);
                let said = json["status"].as_str().or(json["error"].as_str());
                o.answer = format!("{status} {}", said.unwrap_or("?"));
                assert_eq!(o.answer, names[i].1, "{}: {json}", o.name);
                o.tally = tally(&ours, &calls).await;
            } else {
                o.own.push(wall.saturating_sub(wire));
                let ops: Vec<String> = calls.iter().map(|c| c.op.clone()).collect();
                if ops != o.tally.calls {
                    mismatches.push(format!("round {round}, {}: {ops:?}", o.name));
                }
            }
        }
        // A notification stored while the queue was down, older than the sweeper's grace by
        // the time it runs; then a run with nothing waiting.
        clock.set(at + Duration::minutes(6));
        down.handle(http_api_post(&paid_of(&c))).await;
        for (minutes, o) in [(9, &mut sweep_run), (10, &mut sweep_idle)] {
            clock.set(at + Duration::minutes(minutes));
            metered.take();
            let started = Instant::now();
            let report = sweeper.run(0).await.expect("sweep");
            let wall = started.elapsed();
            let (calls, wire) = metered.take();
            let forwarded = report["forwarded"].as_u64().unwrap_or(0);
            let expected = if minutes == 9 { 1 } else { 0 };
            assert_eq!(forwarded, expected, "{}: {report}", o.name);
            if round == 0 {
                o.answer = format!("forwarded {forwarded}");
                o.tally = tally(&ours, &calls).await;
            } else {
                o.own.push(wall.saturating_sub(wire));
            }
        }
        local.drain_all().await;
    }

    // The sweeper's look at notifications the request path forwarded: a run after `LOOKED`
    // new notifications less a run with nothing new (by_pending's sweeper never looks at
    // them; one that finds waiting entities through by_arrival reads each one's head).
    clock.set(t0 + Duration::days(1));
    for n in 0..LOOKED {
        let body = paid_of(&format!("{:032X}", 0xF000_0000 + n));
        let (status, _) = answer(&up.handle(http_api_post(&body)).await);
        assert_eq!(status, 200, "a new notification for the look");
    }
    local.drain_all().await;
    let mut look_runs = Vec::new();
    for minutes in [5, 6] {
        clock.set(t0 + Duration::days(1) + Duration::minutes(minutes));
        metered.take();
        let started = Instant::now();
        sweeper.run(0).await.expect("sweep");
        let wall = started.elapsed();
        let (calls, wire) = metered.take();
        look_runs.push((tally(&ours, &calls).await, wall.saturating_sub(wire)));
    }
    let look = look_runs[0].0.less(&look_runs[1].0);
    let look_own = look_runs[0].1.saturating_sub(look_runs[1].1);

    // The hand-written receivers, against the same server.
    let naive = receiver(local, "naive", rounds, fixture.len()).await;
    let powertools = receiver(local, "powertools", rounds, fixture.len()).await;

    // The report.
    let prices = US_EAST_1;
    let row = |o: &Outcome, p: &Priced| {
        format!(
            "| {} | {} | {} ({}) | {} | {} | {} | {} + {} × {} → {} | {:.6} | {} | {} | {} | {} | {} | **{}** |",
            o.name,
            o.answer,
            o.tally.calls.len(),
            o.tally.calls.join(", "),
            o.tally.read_units,
            o.tally.write_units,
            o.tally.sqs_requests,
            ms(o.median_own()),
            o.tally.calls.len(),
            latency.as_millis(),
            p.billed_ms,
            p.usage.gb_seconds,
            o.api_requests,
            usd(p.bill.dynamodb),
            usd(p.bill.sqs),
            usd(p.bill.lambda),
            usd(p.bill.api_gateway),
            usd(p.bill.total()),
        )
    };
    let header = "| outcome | answer | round trips (calls) | read units | write units | SQS requests | Lambda ms: own + trips × latency → billed | GB-s (128 MB) | API Gateway requests | DynamoDB $ | SQS $ | Lambda $ | API Gateway $ | total $ per million |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    println!(
        "`bash bench/cost.sh` (`cargo run --release -p perf-bench --example cost`, {} build), {}, {} rounds",
        if cfg!(debug_assertions) { "debug" } else { "optimised" },
        started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        rounds
    );
    println!(
        "\nload average (1, 5, 15 min): before {load_before}, after {}",
        load_average()
    );
    println!(
        "\nbody: {FIXTURE} ({} bytes); our event item {} bytes, the naive receiver's item {} bytes, the Powertools receiver's idempotency record {} bytes\n",
        fixture.len(),
        ours_event_size(local).await,
        naive.item_size,
        powertools.item_size,
    );
    println!("USD per million notifications of each outcome, us-east-1 on-demand prices.\n");
    println!("Ours (Rust, this repository):\n\n{header}");
    let priced: Vec<Priced> = outcomes
        .iter()
        .map(|o| price(o, latency, 1.0, &prices))
        .collect();
    for (o, p) in outcomes.iter().zip(&priced) {
        println!("{}", row(o, p));
    }
    let marginal = price_marginal(&sweep_run, &sweep_idle, latency, 1.0, &prices);
    let extra = sweep_run.tally.less(&sweep_idle.tally);
    println!(
        "| sweeper forward (per notification it forwards: its run less an idle run) | forwarded 1 | {} ({}) | {} | {} | {} | +{} + {} × {} → +{} | {:.6} | 0 | {} | {} | {} | {} | **{}** |",
        extra.calls.len(),
        extra.calls.join(", "),
        extra.read_units,
        extra.write_units,
        extra.sqs_requests,
        ms(sweep_run.median_own().saturating_sub(sweep_idle.median_own())),
        extra.calls.len(),
        latency.as_millis(),
        marginal.billed_ms,
        marginal.usage.gb_seconds,
        usd(marginal.bill.dynamodb),
        usd(marginal.bill.sqs),
        usd(marginal.bill.lambda),
        usd(marginal.bill.api_gateway),
        usd(marginal.bill.total()),
    );
    let look_units = |t: &Tally| {
        (
            t.read_units / LOOKED as f64,
            t.write_units as f64 / LOOKED as f64,
        )
    };
    let (look_reads, look_writes) = look_units(&look);
    // Its Lambda time: the run's own time and round trips beyond the idle run's, shared out.
    let look_ms =
        pricing::duration(look_own, look.calls.len(), latency).as_secs_f64() * 1e3 / LOOKED as f64;
    let look_usage = Usage {
        read_units: look_reads,
        write_units: look_writes,
        gb_seconds: f64::from(MEMORY_MB) / 1024.0 * look_ms / 1000.0,
        ..Usage::default()
    };
    let look_bill = pricing::per_million(&look_usage, &prices);
    println!(
        "| the sweeper's look at a notification the request path forwarded (a run after {LOOKED} of them less an idle run, ÷ {LOOKED}) | — | {} per notification ({}) | {:.3} | {:.3} | 0 | ({} + {} × {}) ÷ {LOOKED} → {:.3} | {:.6} | 0 | {} | 0.000 | {} | 0.000 | **{}** |",
        fmt_per(look.calls.len(), LOOKED),
        summarize(&look.calls),
        look_reads,
        look_writes,
        ms(look_own),
        look.calls.len(),
        latency.as_millis(),
        look_ms,
        look_usage.gb_seconds,
        usd(look_bill.dynamodb),
        usd(look_bill.lambda),
        usd(look_bill.total()),
    );
    for r in [&naive, &powertools] {
        println!(
            "\nThe {} receiver ({}, `bench/python_handler/{}.py`):\n\n{header}",
            r.label, r.runtime, r.name
        );
        for o in &r.outcomes {
            println!("{}", row(o, &price(o, latency, 1.0, &prices)));
        }
    }

    let idle = price(&sweep_idle, latency, 1.0, &prices);
    println!(
        "\nThe sweeper's fixed cost (ours only): an idle run makes {} round trips ({}): read units {}, write units {}, own {} ms, billed {} ms; at rate(1 minute), {} runs in a 30-day month: ${:.4} a month, whatever the traffic. A run that forwards one notification makes {} ({}).",
        sweep_idle.tally.calls.len(),
        summarize(&sweep_idle.tally.calls),
        sweep_idle.tally.read_units,
        sweep_idle.tally.write_units,
        ms(sweep_idle.median_own()),
        idle.billed_ms,
        SWEEPS_PER_MONTH,
        idle.bill.total() * SWEEPS_PER_MONTH / 1e6,
        sweep_run.tally.calls.len(),
        summarize(&sweep_run.tally.calls),
    );
    // A new notification, all in: ours is the request and the sweeper's look at it.
    let ours_new = |latency: StdDuration, cpu: f64| {
        price(&outcomes[0], latency, cpu, &prices).bill.total() + look_bill.total()
    };
    let ratio = |theirs: &Receiver, latency: StdDuration, cpu: f64| {
        let o = ours_new(latency, cpu);
        let t = price(&theirs.outcomes[0], latency, cpu, &prices)
            .bill
            .total();
        (o, t, o / t)
    };
    let (o, p, rp) = ratio(&powertools, latency, 1.0);
    let (_, n, rn) = ratio(&naive, latency, 1.0);
    println!(
        "\n**New notification, the request and the sweeper's look at it: ours ${} against the Powertools receiver's ${} per million: {:.2}× (the target: at most 2×; {}).** Against the naive receiver's ${}: {:.2}× (the retired target was 1.5×).",
        usd(o),
        usd(p),
        rp,
        if rp <= 2.0 { "met" } else { "not met" },
        usd(n),
        rn,
    );
    let ours_dynamo = priced[0].bill.dynamodb + look_bill.dynamodb;
    let dynamo_of = |r: &Receiver| price(&r.outcomes[0], latency, 1.0, &prices).bill.dynamodb;
    let rest_of = |r: &Receiver| {
        let b = price(&r.outcomes[0], latency, 1.0, &prices).bill;
        b.total() - b.dynamodb
    };
    println!(
        "\nDynamoDB alone: ours ${}, the Powertools receiver's ${} ({:.1}×), the naive receiver's ${}; the rest (SQS, Lambda, API Gateway) ${}, ${} and ${}.",
        usd(ours_dynamo),
        usd(dynamo_of(&powertools)),
        ours_dynamo / dynamo_of(&powertools),
        usd(dynamo_of(&naive)),
        usd(priced[0].bill.total() - priced[0].bill.dynamodb),
        usd(rest_of(&powertools)),
        usd(rest_of(&naive)),
    );
    let sensitivity: Vec<String> = [5.0, 20.0]
        .iter()
        .map(|l| {
            let (o, t, r) = ratio(&powertools, StdDuration::from_secs_f64(l / 1e3), 1.0);
            format!("{l} ms: ${} / ${} = {r:.2}×", usd(o), usd(t))
        })
        .collect();
    let cpu = FULL_CPU_MB / f64::from(MEMORY_MB);
    let (co, ct, cr) = ratio(&powertools, latency, cpu);
    println!(
        "\nOurs against the Powertools receiver at other latencies per round trip: {}. If all own time were CPU-bound at 128 MB's share of a vCPU (own × {cpu:.1}): ${} / ${} = {cr:.2}×.",
        sensitivity.join("; "),
        usd(co),
        usd(ct)
    );
    if !mismatches.is_empty() {
        println!(
            "\nCalls that differed from round 0 (the times of those rounds are kept): {}",
            mismatches.join("; ")
        );
    }
    println!("\nPrices (read {}):\n", pricing::READ_ON);
    for s in pricing::SOURCES {
        println!("- {}: {} ({}; {}).", s.service, s.price, s.url, s.note);
    }
}

/// `Query × 16, BatchGetItem, DeleteItem`: repeated calls counted.
fn summarize(calls: &[String]) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for c in calls {
        match seen.iter_mut().find(|(op, _)| op == c) {
            Some((_, n)) => *n += 1,
            None => seen.push((c.clone(), 1)),
        }
    }
    seen.iter()
        .map(|(op, n)| match n {
            1 => op.clone(),
            n => format!("{op} × {n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The size of our event item of the fixture (its entity's sequence 1).
async fn ours_event_size(local: &Local) -> usize {
    local
        .events()
        .await
        .iter()
        .find(|e| {
            pipeline_tests::text(e, attr::PK).ends_with(FIXTURE_ID)
                && table::number(e, attr::SEQUENCE) == Some(1)
        })
        .map_or(0, item_size)
}

/// A hand-written receiver, measured by `bench/naive_cost.py`.
struct Receiver {
    /// Its module in `bench/python_handler/`.
    name: &'static str,
    label: &'static str,
    runtime: String,
    outcomes: Vec<Outcome>,
    /// The largest item it left in its table.
    item_size: usize,
}

/// Runs `bench/naive_cost.py` for the receiver `name` against the local server and prices its
/// calls with the same code as ours.
async fn receiver(local: &Local, name: &'static str, rounds: usize, body_len: usize) -> Receiver {
    let output = std::process::Command::new(moto_python())
        .arg(workspace().join("bench/naive_cost.py"))
        .arg(&moto().endpoint)
        .arg(rounds.to_string())
        .arg(name)
        .output()
        .expect("run bench/naive_cost.py");
    assert!(
        output.status.success(),
        "bench/naive_cost.py {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let measured: Value = serde_json::from_slice(&output.stdout).expect("naive_cost.py's JSON");
    let table_name = measured["table"].as_str().unwrap_or_default().to_owned();
    let key = measured["key"].as_str().unwrap_or_default().to_owned();
    let keys = [key.as_str()];
    let theirs = Table {
        client: &local.dynamo,
        name: &table_name,
        key: &keys,
    };
    let mut outcomes = Vec::new();
    let expected = ["200 stored", "200 duplicate"];
    for (o, expected) in measured["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(expected)
    {
        let calls: Vec<Call> = o["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Call {
                op: c["op"].as_str().unwrap_or_default().to_owned(),
                request: c["params"].clone(),
                status: c["status"].as_u64().unwrap_or(0) as u16,
                returned: Vec::new(),
            })
            .collect();
        outcomes.push(Outcome {
            name: o["name"].as_str().unwrap_or_default().to_owned(),
            answer: format!(
                "{} {}",
                o["status"].as_u64().unwrap_or(0),
                o["answer"].as_str().unwrap_or("?")
            ),
            tally: tally(&theirs, &calls).await,
            own: o["own_ms"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .map(|ms| StdDuration::from_secs_f64(ms / 1e3))
                .collect(),
            invocations: 1,
            api_requests: pricing::http_api_requests(body_len),
        });
        let got = outcomes.last().map(|o| o.answer.as_str());
        assert_eq!(got, Some(expected), "the {name} receiver: {o}");
    }
    assert_eq!(
        outcomes.len(),
        2,
        "naive_cost.py {name}'s outcomes: {measured}"
    );
    let item_size = local
        .dynamo
        .scan()
        .table_name(&table_name)
        .send()
        .await
        .ok()
        .and_then(|out| out.items)
        .unwrap_or_default()
        .iter()
        .map(item_size)
        .max()
        .unwrap_or(0);
    Receiver {
        name,
        label: if name == "naive" {
            "naive"
        } else {
            "Powertools"
        },
        runtime: measured["runtime"].as_str().unwrap_or("Python").to_owned(),
        outcomes,
        item_size,
    }
}

/// `calls` per notification over `n` notifications, as a short decimal.
fn fmt_per(calls: usize, n: usize) -> String {
    format!("{:.2}", calls as f64 / n as f64)
}
