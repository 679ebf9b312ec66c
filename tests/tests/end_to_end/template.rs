//! `template.yaml` and `webhook_aws::table` describe one table: the keys, the indexes (names,
//! keys, projections), the billing mode and the TTL attribute. The table `scripts/local.sh`
//! creates from the template (`scripts/local_resources.py`) and the one the tests create from
//! the layout module must be the same, or a deployed stack would not be the one tested.

use aws_sdk_dynamodb::types::TableDescription;
use pipeline_tests::{moto, workspace, Local};

/// What matters of a table, in a comparable form.
fn shape(t: &TableDescription) -> Vec<String> {
    let mut out = Vec::new();
    for k in t.key_schema() {
        out.push(format!("key {} {}", k.attribute_name(), k.key_type()));
    }
    let mut attrs: Vec<String> = t
        .attribute_definitions()
        .iter()
        .map(|a| format!("attribute {} {}", a.attribute_name(), a.attribute_type()))
        .collect();
    attrs.sort();
    out.extend(attrs);
    let mut indexes: Vec<String> = t
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let keys: Vec<String> = i
                .key_schema()
                .iter()
                .map(|k| format!("{} {}", k.attribute_name(), k.key_type()))
                .collect();
            let projection = i.projection().map_or(String::new(), |p| {
                let mut extra: Vec<String> = p.non_key_attributes().to_vec();
                extra.sort();
                format!(
                    "{} {}",
                    p.projection_type().map_or("", |t| t.as_str()),
                    extra.join(",")
                )
            });
            format!(
                "index {} [{}] {projection}",
                i.index_name().unwrap_or_default(),
                keys.join(", ")
            )
        })
        .collect();
    indexes.sort();
    out.extend(indexes);
    out.push(format!(
        "billing {}",
        t.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map_or("PROVISIONED", |m| m.as_str())
    ));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_templates_table_is_the_layouts() {
    // The layout's table, as every test creates it.
    let local = Local::new().await;
    let ours = local
        .dynamo
        .describe_table()
        .table_name(&local.table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("a table");

    // The template's, created by the local run's script in a region of its own.
    let region = "eu-west-3";
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(pipeline_tests::moto_python())
            .arg(workspace().join("scripts/local_resources.py"))
            .args(["--endpoint", &moto().endpoint, "--region", region])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run local_resources.py")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).expect("its JSON");
    let name = created["resources"]["EventsTable"]["name"]
        .as_str()
        .expect("the events table's name");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let theirs = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("a table");
    assert_eq!(shape(&theirs), shape(&ours));

    let ttl = |c: aws_sdk_dynamodb::Client, table: String| async move {
        c.describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .expect("describe TTL")
            .time_to_live_description
            .and_then(|d| d.attribute_name)
    };
    let theirs_ttl = ttl(client, name.to_owned()).await;
    assert_eq!(
        theirs_ttl.as_deref(),
        Some(webhook_aws::table::attr::EXPIRES_AT)
    );
    assert_eq!(
        ttl(local.dynamo.clone(), local.table.clone()).await,
        theirs_ttl
    );
}
