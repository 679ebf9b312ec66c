//! The sweeper's role against the sweeper's real calls (issue 24, item 5): its writes are held
//! to its own partition keys (`dynamodb:LeadingKeys` in `template.yaml`'s `SweeperRole`), and
//! every call a real run makes must still be allowed. The run goes through every write the
//! sweeper has: moving heads on, setting an unreadable notification aside (its event item's
//! `aside_*` and an `aside` pointer), keeping its state. Its DynamoDB calls,
//! as the SDK sent them, go to `scripts/check_iam.py --sweeper-calls`, which evaluates each
//! against the role's statements.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use pipeline_tests::recorder::Recorder;
use pipeline_tests::{form_post, moto, moto_python, sdk_config, workspace, Local, TOKEN};
use time::macros::datetime;
use time::Duration;
use webhook_aws::{table, DynamoStore, SqsForwarder};
use webhook_core::clock::ManualClock;
use webhook_core::sweep::SweepSettings;
use webhook_iugu::{Family, Iugu};
use webhook_lambda::auth::Token;
use webhook_lambda::http::{App, Delivery};
use webhook_lambda::metrics::Metrics;
use webhook_lambda::sweeper::Sweeper;

#[tokio::test]
async fn the_sweepers_role_allows_every_call_of_a_real_run_and_no_other_partition() {
    let local = Local::new().await;
    let clock = ManualClock::at(datetime!(2026-11-20 13:00 UTC));
    // Three invoices stored while the queue is missing: none forwarded.
    let missing = local.missing_queue_url();
    let down = App {
        delivery: Delivery {
            clock: Arc::new(clock.clone()),
            ..Delivery::default()
        },
        ..local.app_with(
            Iugu::family(Family::Invoices),
            Token::new(Some(TOKEN)),
            &missing,
        )
    };
    for id in ["A", "B", "C"] {
        let body = format!("event=invoice.status_changed&data%5Bid%5D={id}&data%5Bstatus%5D=paid");
        assert_eq!(down.handle(form_post(&body)).await.status(), 503);
    }
    // C's body no longer reads as stored (a parser change): the sweeper sets it aside.
    local
        .dynamo
        .update_item()
        .table_name(&local.table)
        .key("pk", AttributeValue::S("invoice#C".to_owned()))
        .key("sk", AttributeValue::S(table::event_sk(1)))
        .update_expression("SET raw_body = :b")
        .expression_attribute_values(
            ":b",
            AttributeValue::S("event=invoice.status_changed".to_owned()),
        )
        .send()
        .await
        .expect("corrupt C");
    clock.advance(Duration::minutes(10));

    // The sweeper, on a recorded client; one entity a run, so that it keeps some listed.
    let recorder = Recorder::default();
    let sweeper = Sweeper {
        store: DynamoStore::new(
            recorder.dynamodb(&sdk_config(&moto().endpoint).await),
            &local.table,
        ),
        forwarder: SqsForwarder::new(local.sqs.clone(), &local.queue_url),
        settings: SweepSettings {
            max_entities: 1,
            ..SweepSettings::default()
        },
        metrics: Metrics::default(),
        clock: Arc::new(clock.clone()),
        parsers: &webhook_gateways::ALL,
    };
    for _ in 0..4 {
        sweeper.run(0).await.expect("swept");
    }
    assert_eq!(
        local.drain().await.len(),
        3,
        "two forwarded, one gap record"
    );
    let (calls, _) = recorder.take();
    let calls: Vec<serde_json::Value> = calls
        .iter()
        .map(|c| serde_json::json!({ "op": c.op, "request": c.request }))
        .collect();
    let ops: std::collections::BTreeSet<&str> =
        calls.iter().filter_map(|c| c["op"].as_str()).collect();
    // No DeleteItem any more: the state item is rewritten, never deleted.
    for op in ["BatchGetItem", "Query", "UpdateItem", "PutItem"] {
        assert!(ops.contains(op), "the run made no {op}: {ops:?}");
    }
    let puts: Vec<&str> = calls
        .iter()
        .filter(|c| c["op"] == "PutItem")
        .filter_map(|c| c["request"]["Item"]["pk"]["S"].as_str())
        .collect();
    assert!(
        puts.contains(&"aside") && puts.contains(&"sweeper"),
        "{puts:?}"
    );

    let path = std::env::temp_dir().join(format!("sweeper-calls-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&calls).expect("JSON")).expect("write the calls");
    let output = std::process::Command::new(moto_python())
        .arg(workspace().join("scripts/check_iam.py"))
        .arg("--sweeper-calls")
        .arg(&path)
        .arg(workspace().join("template.yaml"))
        .output()
        .expect("run check_iam.py");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
