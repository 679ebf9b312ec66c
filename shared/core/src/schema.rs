//! The envelope as a JSON Schema (draft-07), derived from the types consumers read: what a team in
//! Python, Node, PHP or Java validates messages with and generates types from. The checked-in
//! copy is `schema/envelope.schema.json`; a test in `webhook-consumer` regenerates it and fails
//! when the two differ (`UPDATE_SCHEMA=1` rewrites it).
//!
//! Draft-07 rather than 2020-12: the validators most consumers have (Python's `fastjsonschema`,
//! which AWS Lambda Powertools' validation uses; Ajv's default) read it.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::envelope::{Data, Envelope, SCHEMA_VERSION};
use crate::fields::{Fields, Node};

/// The envelope's JSON Schema, as checked in (`schema/envelope.schema.json`).
pub fn envelope_schema() -> serde_json::Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Envelope>();
    schema.insert(
        "title".to_owned(),
        format!("Envelope (schema_version {SCHEMA_VERSION})").into(),
    );
    schema.insert(
        "description".to_owned(),
        "One message of the events queue (SQS FIFO; MessageGroupId = entity_key): a gateway's \
         notification, stored once and forwarded in order per entity. Consumers book each \
         (entity_key, sequence) once (docs/consumers.md)."
            .into(),
    );
    let mut value = schema.to_value();
    tidy_descriptions(&mut value);
    value
}

/// Descriptions come from the types' documentation, written for Rust readers: one line each,
/// an item link (`[`Envelope::gap`]`) as the field's name, `None` as "absent", and the version
/// constant as its value.
fn tidy_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = for_readers(text);
                    }
                    _ => tidy_descriptions(inner),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}

fn for_readers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("`]") {
            Some(end) => {
                let item = &after[..end];
                if item == "SCHEMA_VERSION" {
                    out.push_str(&SCHEMA_VERSION.to_string());
                } else {
                    let name = item.rsplit("::").next().unwrap_or(item);
                    out.push('`');
                    out.push_str(name);
                    out.push('`');
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("[`");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace('\n', " ")
        .replace(". `None`", ". Absent")
        .replace("`None`", "absent")
}

/// A form's fields: names to strings, lists of strings, or nested fields.
impl JsonSchema for Fields {
    fn schema_name() -> Cow<'static, str> {
        "Fields".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let node = generator.subschema_for::<Node>();
        json_schema!({
            "description": "A form's fields by name (iugu's `data[...]`, nested): each a string, a list of strings or nested fields.",
            "type": "object",
            "additionalProperties": node,
        })
    }
}

/// The notification's data: iugu's fields, iPag's JSON body, or `null` on a gap record.
impl JsonSchema for Data {
    fn schema_name() -> Cow<'static, str> {
        "Data".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let fields = generator.subschema_for::<Fields>();
        json_schema!({
            "description": "The notification as the gateway sent it: iugu's `data[...]` fields, nested, values as strings; iPag's JSON body as received. `null` on a gap record.",
            "anyOf": [
                fields,
                { "type": "object" },
                { "type": "null" }
            ]
        })
    }
}
