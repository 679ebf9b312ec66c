//! Prints the envelope's JSON Schema (`webhook_core::schema`), as `schema/envelope.schema.json`
//! holds it: `cargo run -q -p webhook-core --features schema --example envelope_schema`.

fn main() {
    println!("{:#}", webhook_core::schema::envelope_schema());
}
