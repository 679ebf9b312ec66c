//! consumer/template.yaml and the code describe the same tables: the ledger
//! (`webhook_consumer::dynamo`) and the example bookings (`webhook_consumer::bookings`), which
//! the tests and the local run create from the code. Keys, attribute types, billing mode and
//! the ledger's TTL attribute; and the function's timeout stays below the events queue's
//! visibility timeout, as Lambda requires of an SQS event source.

use pipeline_tests::{moto_python, workspace, Local};
use serde_json::{json, Value};

/// The template's resources as JSON (its YAML read with local_resources.py's loader).
async fn template() -> Value {
    let output = tokio::task::spawn_blocking(|| {
        std::process::Command::new(moto_python())
            .current_dir(workspace())
            .args([
                "-c",
                "import json, sys; sys.path.insert(0, 'scripts'); import local_resources as lr; \
                 print(json.dumps(lr.load_template('consumer/template.yaml')))",
            ])
            .output()
            .expect("run python")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the template as JSON")
}

/// (keys, attribute definitions, billing mode) of a table as DynamoDB describes it.
async fn described(local: &Local, table: &str) -> Value {
    let t = local
        .dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("a table");
    let keys: Vec<Value> = t
        .key_schema()
        .iter()
        .map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()}))
        .collect();
    let mut attributes: Vec<Value> = t
        .attribute_definitions()
        .iter()
        .map(|a| {
            json!({"AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str()})
        })
        .collect();
    attributes.sort_by_key(|a| a["AttributeName"].to_string());
    let billing = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map_or("PROVISIONED", |m| m.as_str())
        .to_owned();
    json!({"KeySchema": keys, "AttributeDefinitions": attributes, "BillingMode": billing})
}

fn declared(resource: &Value) -> Value {
    let p = &resource["Properties"];
    let mut attributes = p["AttributeDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    attributes.sort_by_key(|a| a["AttributeName"].to_string());
    json!({"KeySchema": p["KeySchema"], "AttributeDefinitions": attributes,
           "BillingMode": p["BillingMode"]})
}

#[tokio::test]
async fn the_consumer_templates_tables_are_the_codes() {
    let local = Local::new().await;
    let clock = webhook_core::clock::ManualClock::at(crate::delivery_semantics::T0);
    let kit = pipeline_tests::consumer::Kit::new(&local, &clock).await;
    let template = template().await;
    let resources = &template["Resources"];
    assert_eq!(
        declared(&resources["LedgerTable"]),
        described(&local, &kit.ledger_table).await
    );
    assert_eq!(
        declared(&resources["BookingsTable"]),
        described(&local, &kit.bookings_table).await
    );
    assert_eq!(
        resources["LedgerTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"],
        webhook_consumer::dynamo::TTL_ATTRIBUTE
    );
    let ttl = local
        .dynamo
        .describe_time_to_live()
        .table_name(&kit.ledger_table)
        .send()
        .await
        .expect("TTL")
        .time_to_live_description
        .and_then(|d| d.attribute_name);
    assert_eq!(
        ttl.as_deref(),
        Some(webhook_consumer::dynamo::TTL_ATTRIBUTE)
    );

    // Lambda refuses an SQS event source whose function can run longer than the queue's
    // visibility timeout: the front door's events queue keeps SQS's default, 30 s.
    let timeout = resources["ConsumerFunction"]["Properties"]["Timeout"]
        .as_u64()
        .expect("a timeout");
    assert!(timeout < 30, "{timeout}");
    assert!(
        std::time::Duration::from_secs(timeout) > webhook_consumer::consumer::RESERVE * 2,
        "room for a message after the last one started"
    );
    let events = &resources["ConsumerFunction"]["Properties"]["Events"]["EventsQueue"];
    assert_eq!(events["Type"], "SQS");
    assert_eq!(
        events["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
}
