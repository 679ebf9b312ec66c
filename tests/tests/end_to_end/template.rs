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

/// Issue 24, item 5: no alarm saw a 5xx that no function wrote (a crash's 502, a timeout, a
/// throttle, a function that did not start): only the functions' own 503s and API Gateway's
/// 429s were watched. The template's alarms, as cfn-lint reads them: one reads API Gateway's
/// `5xx` for the API less the functions' own `failed` answers; every function's Lambda
/// `Errors` is read by an alarm; and no metric math alarm reads more than the 10 metrics
/// CloudWatch takes (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
#[test]
fn every_kind_of_5xx_has_an_alarm() {
    let script = r#"
import json, sys
from cfnlint.decode import decode
t, errors = decode(sys.argv[1])
assert not errors, errors
out = {}
for name, r in t["Resources"].items():
    p = r.get("Properties", {})
    if r["Type"] == "AWS::Serverless::Function":
        out.setdefault("functions", []).append(name)
    if r["Type"] != "AWS::CloudWatch::Alarm":
        continue
    reads = []
    if "MetricName" in p:
        reads.append([p.get("Namespace"), p["MetricName"], p.get("Dimensions", [])])
    for m in p.get("Metrics", []):
        s = m.get("MetricStat")
        if s:
            reads.append([s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Metric"].get("Dimensions", [])])
    out[name] = {"reads": reads, "expressions": [m["Expression"] for m in p.get("Metrics", []) if "Expression" in m]}
print(json.dumps(out, default=str))
"#;
    let output = std::process::Command::new(pipeline_tests::moto_python())
        .args(["-c", script])
        .arg(workspace().join("template.yaml"))
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alarms: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let functions = alarms["functions"].as_array().expect("functions").clone();
    let all = alarms.as_object().expect("alarms");
    // The dimensions of every metric `alarm` reads as `namespace`/`metric`.
    let reads = |alarm: &serde_json::Value, namespace: serde_json::Value, metric: &str| {
        alarm["reads"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r[0] == namespace && r[1] == metric)
            .map(|r| r[2].clone())
            .collect::<Vec<_>>()
    };
    let api_id = serde_json::json!([{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]);
    let failed = serde_json::json!([{"Name": "Outcome", "Value": "failed"}]);
    let namespace = serde_json::json!({"Ref": "MetricsNamespace"});
    let unwritten = all.values().find(|a| {
        reads(a, serde_json::json!("AWS/ApiGateway"), "5xx").contains(&api_id)
            && reads(a, namespace.clone(), "Notifications").contains(&failed)
            && a["expressions"].to_string().contains('-')
    });
    assert!(
        unwritten.is_some(),
        "no alarm on 5xx no function wrote: {alarms}"
    );
    for function in &functions {
        let watched = all.values().any(|a| {
            reads(a, serde_json::json!("AWS/Lambda"), "Errors")
                .iter()
                .any(|d| d[0]["Value"] == serde_json::json!({"Ref": function}))
        });
        assert!(watched, "no alarm reads {function}'s Errors");
    }
    for (name, alarm) in all {
        if let Some(reads) = alarm["reads"].as_array() {
            assert!(reads.len() <= 10, "{name} reads {} metrics", reads.len());
        }
    }
}
