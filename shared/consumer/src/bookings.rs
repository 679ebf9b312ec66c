//! The example business code: each booking one item in a small DynamoDB table
//! (`BookingsTable` in consumer/template.yaml), so that the whole path runs. Replace it with
//! yours (docs/consumers.md, "Plug in your business code").
//!
//! One item per booking, keyed by [`Booking::id`] and written with `attribute_not_exists(pk)`:
//! a second call for the same booking (the process died after this write and before the
//! ledger settled it) finds the item and succeeds without writing twice. That is what any
//! business code must do with the id: make its own write idempotent.
//!
//! | attribute | what |
//! |---|---|
//! | `pk` | the booking's id, `<entity_key>#<sequence>` |
//! | `entity_key`, `sequence`, `provider`, `event` | which notification |
//! | `kind` | `payment`, `refund`, `chargeback`, `state` (anything else) or `not_received` (a gap record) |
//! | `status`, `amount_cents` | what the notification says (typed views) |
//! | `confirmation`, `api_status` | what the gateway's API said |
//! | `late`, `booked_since` | it came after later notifications of its entity, which ones |
//! | `booked_at` | when |
//!
//! No personal data: the payer's name, document and e-mail stay in the queue's message.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use webhook_core::clock::Clock;
use webhook_iugu::typed::{InvoiceStatus, Lenient};
use webhook_iugu::TypedEvent;

use crate::business::{Booking, Business, BusinessError, Typed};

/// The example business code over table `table`.
#[derive(Clone)]
pub struct Bookings {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Bookings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bookings")
            .field("table", &self.table)
            .finish()
    }
}

impl Bookings {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Bookings {
        Bookings {
            client,
            table: table.into(),
            clock,
        }
    }
}

/// What a booking is, in a word, and its status and amount, from the typed views.
pub fn summary(booking: &Booking<'_>) -> (&'static str, Option<String>, Option<i64>) {
    let cents = |v: &Option<Lenient<'_, i64>>| v.as_ref().and_then(|l| l.parsed().copied());
    match booking.typed() {
        Typed::Gap(_) => ("not_received", None, None),
        Typed::Iugu(TypedEvent::Invoice(view)) => {
            let kind = match (&view.status, booking.envelope.event.as_str()) {
                (_, "invoice.refund") | (Some(InvoiceStatus::Refunded), _) => "refund",
                (Some(InvoiceStatus::Chargeback), _) => "chargeback",
                (
                    Some(
                        InvoiceStatus::Paid
                        | InvoiceStatus::PartiallyPaid
                        | InvoiceStatus::ExternallyPaid,
                    ),
                    _,
                ) => "payment",
                _ => "state",
            };
            let amount = cents(&view.paid_cents).or_else(|| cents(&view.total_cents));
            (
                kind,
                view.status.as_ref().map(|s| s.as_str().to_owned()),
                amount,
            )
        }
        Typed::Ipag(view) => {
            let kind = match view.status_code {
                Some(8) => "payment",
                Some(3) if view.captured_cents.is_some_and(|c| c > 0) => "refund",
                Some(9) => "chargeback",
                _ => "state",
            };
            (
                kind,
                view.status_message.map(str::to_owned),
                view.amount_cents,
            )
        }
        Typed::Iugu(_) | Typed::Other => ("state", booking.envelope.status.clone(), None),
    }
}

impl Business for Bookings {
    async fn book(&self, booking: &Booking<'_>) -> Result<(), BusinessError> {
        let envelope = booking.envelope;
        let (kind, status, amount) = summary(booking);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut item: HashMap<String, AttributeValue> = HashMap::from([
            ("pk".to_owned(), s(booking.id)),
            ("entity_key".to_owned(), s(&envelope.entity_key)),
            ("provider".to_owned(), s(envelope.provider.as_str())),
            ("event".to_owned(), s(envelope.event.as_str())),
            ("kind".to_owned(), s(kind)),
            ("confirmation".to_owned(), s(booking.confirmation.as_str())),
            (
                "late".to_owned(),
                AttributeValue::Bool(booking.late.is_some()),
            ),
            (
                "booked_at".to_owned(),
                s(&self.clock.now().format(&Rfc3339).unwrap_or_default()),
            ),
        ]);
        if let Some(n) = envelope.sequence {
            item.insert("sequence".to_owned(), AttributeValue::N(n.to_string()));
        }
        if let Some(status) = status {
            item.insert("status".to_owned(), s(&status));
        }
        if let Some(cents) = amount {
            item.insert(
                "amount_cents".to_owned(),
                AttributeValue::N(cents.to_string()),
            );
        }
        if let Some(snapshot) = booking.confirmation.snapshot() {
            item.insert("api_status".to_owned(), s(&snapshot.status()));
        }
        if let Some(since) = booking.late.filter(|since| !since.is_empty()) {
            item.insert(
                "booked_since".to_owned(),
                AttributeValue::L(
                    since
                        .iter()
                        .map(|e| AttributeValue::N(e.sequence.to_string()))
                        .collect(),
                ),
            );
        }
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            // Booked by an earlier call for this booking: done.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(BusinessError(format!(
                "the bookings table: {}",
                webhook_aws::error_text(&e)
            ))),
        }
    }
}

/// Creates the bookings table as consumer/template.yaml defines it (tests, the local run).
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(webhook_aws::error_text(&e)),
    }
}
