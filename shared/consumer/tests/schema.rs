//! The checked-in JSON Schema of the envelope (`schema/envelope.schema.json`) is the one the
//! Rust types give (`webhook_core::schema`): a change to the envelope that is not in the file
//! fails here. `UPDATE_SCHEMA=1 cargo test -p webhook-consumer --test schema` rewrites it.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use std::path::PathBuf;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/envelope.schema.json")
}

#[test]
fn the_checked_in_schema_is_the_one_the_types_give() {
    let generated = format!("{:#}\n", webhook_core::schema::envelope_schema());
    let path = checked_in();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("written");
    }
    let file = std::fs::read_to_string(&path).expect("schema/envelope.schema.json");
    assert!(
        file == generated,
        "schema/envelope.schema.json differs from the types: run \
         `UPDATE_SCHEMA=1 cargo test -p webhook-consumer --test schema` and commit it"
    );
}

#[test]
fn the_schema_names_its_version_and_takes_a_gap_record() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(checked_in()).expect("read")).expect("JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        schema["title"],
        format!("Envelope (schema_version {})", webhook_core::SCHEMA_VERSION)
    );
    assert!(schema["properties"]["schema_version"].is_object());
    let data = &schema["definitions"]["Data"]["anyOf"];
    assert!(
        data.as_array()
            .expect("a list")
            .iter()
            .any(|s| s["type"] == "null"),
        "a gap record's data is null"
    );
}
