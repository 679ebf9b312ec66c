//! Typed views of the fields iugu documents for each event.
//!
//! A view never rejects a notification: a value that does not parse as its type is kept as
//! [`Lenient::Raw`], and a status we do not know is kept as `Unknown(raw)`. Only the event name
//! and the entity id (see [`super::entity`]) are strict.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::event::{EventName, Family};
pub use super::status::{
    AdvancementStatus, BankSlipStatus, DepositStatus, InvoiceStatus, PaymentMethod,
    PaymentRequestStatus, TransferRequestStatus,
};
use webhook_core::envelope::{Data, Envelope};
use webhook_core::fields::{Fields, Node};

/// A value of type `T`, or the raw string when it did not parse as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lenient<'a, T> {
    Parsed(T),
    Raw(&'a str),
}

impl<T> Lenient<'_, T> {
    pub fn parsed(&self) -> Option<&T> {
        match self {
            Lenient::Parsed(v) => Some(v),
            Lenient::Raw(_) => None,
        }
    }
}

fn lenient<T>(raw: &str, parse: fn(&str) -> Option<T>) -> Lenient<'_, T> {
    parse(raw).map_or(Lenient::Raw(raw), Lenient::Parsed)
}

fn parse_int<T: std::str::FromStr>(raw: &str) -> Option<T> {
    raw.parse().ok()
}

fn parse_bool(raw: &str) -> Option<bool> {
    raw.parse().ok()
}

/// RFC 3339 timestamps such as `2022-03-21T11:07:36.667Z`. iugu also sends forms like
/// `2022-07-12 17:33:20.699791368` (no zone): those stay raw rather than guess a zone.
fn parse_timestamp(raw: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(raw, &Rfc3339).ok()
}

fn parse_date(raw: &str) -> Option<Date> {
    Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Reads `data[...]` values as types, one lookup per field.
struct Reader<'a>(&'a Fields);

impl<'a> Reader<'a> {
    fn text(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(Node::as_text)
    }

    fn lenient<T>(&self, name: &str, parse: fn(&str) -> Option<T>) -> Option<Lenient<'a, T>> {
        Some(lenient(self.text(name)?, parse))
    }

    /// Whole cents, e.g. `data[paid_cents]=300`.
    fn cents(&self, name: &str) -> Option<Lenient<'a, i64>> {
        self.lenient(name, parse_int)
    }

    fn int(&self, name: &str) -> Option<Lenient<'a, u32>> {
        self.lenient(name, parse_int)
    }

    fn timestamp(&self, name: &str) -> Option<Lenient<'a, OffsetDateTime>> {
        self.lenient(name, parse_timestamp)
    }

    fn date(&self, name: &str) -> Option<Lenient<'a, Date>> {
        self.lenient(name, parse_date)
    }

    fn status<T>(&self, name: &str, from_raw: fn(&str) -> T) -> Option<T> {
        self.text(name).map(from_raw)
    }
}

/// Fields of `invoice.*` events. Personal data (`payer_cpf_cnpj`, `payer_name`) is left out of
/// the view on purpose: it stays in `data` for whoever needs it, and out of anything we log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceView<'a> {
    pub id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub status: Option<InvoiceStatus>,
    pub bank_slip_status: Option<BankSlipStatus>,
    pub payment_method: Option<PaymentMethod>,
    pub subscription_id: Option<&'a str>,
    pub payment_booklet_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub external_reference: Option<&'a str>,
    pub async_charged: Option<Lenient<'a, bool>>,
    pub paid_at: Option<Lenient<'a, OffsetDateTime>>,
    pub paid_cents: Option<Lenient<'a, i64>>,
    pub amount_cents: Option<Lenient<'a, i64>>,
    pub total_cents: Option<Lenient<'a, i64>>,
    pub installment: Option<Lenient<'a, u32>>,
    pub number_of_installments: Option<Lenient<'a, u32>>,
    pub occurrence_date: Option<Lenient<'a, Date>>,
    pub pix_end_to_end_id: Option<&'a str>,
    pub recipient_account_id: Option<&'a str>,
    pub lr: Option<&'a str>,
    pub action: Option<&'a str>,
}

/// Fields of `subscription.*` events (customer name and e-mail stay in `data` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView<'a> {
    pub id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub expires_at: Option<Lenient<'a, Date>>,
    pub plan_identifier: Option<&'a str>,
}

/// Fields of `customer_payment_method.*` (card holder and masked number stay in `data` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodView<'a> {
    pub customer_payment_method_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub default_payment_method_id: Option<&'a str>,
    pub card_brand: Option<&'a str>,
    pub card_year: Option<Lenient<'a, u32>>,
    pub card_month: Option<Lenient<'a, u32>>,
}

/// Fields of `transfer.debited` / `transfer.credited` (bank accounts and documents stay in `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferView<'a> {
    pub sender_account_id: Option<&'a str>,
    pub receiver_account_id: Option<&'a str>,
    pub transfer_type: Option<&'a str>,
    pub amount_cents: Option<Lenient<'a, i64>>,
}

/// Fields of `transfer_request.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequestView<'a> {
    pub id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub status: Option<TransferRequestStatus>,
    pub total_refunded_amount_cents: Option<Lenient<'a, i64>>,
    pub refunded_amount_cents: Option<Lenient<'a, i64>>,
}

/// Fields of `deposit.*` events (sender and receiver details stay in `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositView<'a> {
    pub deposit_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub status: Option<DepositStatus>,
    pub amount_cents: Option<Lenient<'a, i64>>,
    pub deposit_type: Option<&'a str>,
    pub transfered_at: Option<Lenient<'a, OffsetDateTime>>,
}

/// Fields of `advancement_request.*` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvancementView<'a> {
    pub account_id: Option<&'a str>,
    pub status: Option<AdvancementStatus>,
    pub total_advance_fee_cents: Option<Lenient<'a, i64>>,
    pub total_advance_amount_cents: Option<Lenient<'a, i64>>,
    pub reached_amount_cents: Option<Lenient<'a, i64>>,
    pub available_amount_cents: Option<Lenient<'a, i64>>,
    pub simulation_amount_cents: Option<Lenient<'a, i64>>,
    pub requested_amount_cents: Option<Lenient<'a, i64>>,
    pub average_days: Option<Lenient<'a, u32>>,
    pub advancement_request_date: Option<Lenient<'a, Date>>,
}

/// Fields of `payment_request.status_changed` (holder name and document stay in `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequestView<'a> {
    pub payment_request_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub status: Option<PaymentRequestStatus>,
    pub amount_cents: Option<Lenient<'a, i64>>,
    pub document_amount_cents: Option<Lenient<'a, i64>>,
    pub barcode: Option<&'a str>,
    pub done_at: Option<Lenient<'a, OffsetDateTime>>,
}

/// A notification's documented fields, typed by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedEvent<'a> {
    Invoice(Box<InvoiceView<'a>>),
    Subscription(SubscriptionView<'a>),
    PaymentMethod(PaymentMethodView<'a>),
    Transfer(TransferView<'a>),
    TransferRequest(TransferRequestView<'a>),
    Deposit(DepositView<'a>),
    Advancement(AdvancementView<'a>),
    PaymentRequest(PaymentRequestView<'a>),
    /// An event of a family we do not know: only `data` has its fields.
    Other,
}

/// The typed view of an envelope's documented fields, computed on demand so the hot path does
/// not pay for it: iugu's envelopes only; any other gateway's is [`TypedEvent::Other`].
pub trait Typed {
    fn typed(&self) -> TypedEvent<'_>;
}

impl Typed for Envelope {
    fn typed(&self) -> TypedEvent<'_> {
        match &self.data {
            Data::Fields(data) if self.provider == super::PROVIDER => {
                TypedEvent::from_data(&EventName::from_name(self.event.as_str()), data)
            }
            _ => TypedEvent::Other,
        }
    }
}

impl<'a> TypedEvent<'a> {
    pub fn from_data(event: &EventName, data: &'a Fields) -> TypedEvent<'a> {
        let r = Reader(data);
        match event.family() {
            Family::Invoices => TypedEvent::Invoice(Box::new(invoice(event, data))),
            Family::Subscriptions => TypedEvent::Subscription(SubscriptionView {
                id: r.text("id"),
                account_id: r.text("account_id"),
                expires_at: r.date("expires_at"),
                plan_identifier: r.text("plan_identifier"),
            }),
            Family::PaymentMethods => {
                let card = data.get("credit_card").and_then(Node::as_map);
                let card = Reader(card.unwrap_or(&EMPTY));
                TypedEvent::PaymentMethod(PaymentMethodView {
                    customer_payment_method_id: r.text("customer_payment_method_id"),
                    customer_id: r.text("customer_id"),
                    default_payment_method_id: r.text("default_payment_method_id"),
                    card_brand: card.text("brand"),
                    card_year: card.int("year"),
                    card_month: card.int("month"),
                })
            }
            Family::Transfers if event.as_str().starts_with("transfer_request.") => {
                TypedEvent::TransferRequest(TransferRequestView {
                    id: r.text("id"),
                    account_id: r.text("account_id"),
                    status: r.status("status", TransferRequestStatus::from_raw),
                    total_refunded_amount_cents: r.cents("total_refunded_amount_cents"),
                    refunded_amount_cents: r.cents("refunded_amount_cents"),
                })
            }
            Family::Transfers => TypedEvent::Transfer(TransferView {
                sender_account_id: r.text("sender_account_id"),
                receiver_account_id: r.text("receiver_account_id"),
                transfer_type: r.text("transfer_type"),
                amount_cents: r.cents("amount_cents"),
            }),
            Family::Deposits => TypedEvent::Deposit(DepositView {
                deposit_id: r.text("deposit_id"),
                account_id: r.text("account_id"),
                status: r.status("status", DepositStatus::from_raw),
                amount_cents: r.cents("amount_cents"),
                deposit_type: r.text("deposit_type"),
                transfered_at: r.timestamp("transfered_at"),
            }),
            Family::Advancements => TypedEvent::Advancement(AdvancementView {
                account_id: r.text("account_id"),
                status: r.status("status", AdvancementStatus::from_raw),
                total_advance_fee_cents: r.cents("total_advance_fee_cents"),
                total_advance_amount_cents: r.cents("total_advance_amount_cents"),
                reached_amount_cents: r.cents("reached_amount_cents"),
                available_amount_cents: r.cents("available_amount_cents"),
                simulation_amount_cents: r.cents("simulation_amount_cents"),
                requested_amount_cents: r.cents("requested_amount_cents"),
                average_days: r.int("average_days"),
                advancement_request_date: r.date("advancement_request_date"),
            }),
            Family::PaymentRequests => TypedEvent::PaymentRequest(PaymentRequestView {
                payment_request_id: r.text("payment_request_id"),
                account_id: r.text("account_id"),
                status: r.status("status", PaymentRequestStatus::from_raw),
                amount_cents: r.cents("amount_cents"),
                document_amount_cents: r.cents("document_amount_cents"),
                barcode: r.text("barcode"),
                done_at: r.timestamp("done_at"),
            }),
            Family::Other => TypedEvent::Other,
        }
    }
}

static EMPTY: Fields = Fields::new();

/// Invoice events carry the most fields and are most of the traffic: one pass over `data`
/// instead of one lookup per field.
fn invoice<'a>(event: &EventName, data: &'a Fields) -> InvoiceView<'a> {
    // `invoice.bank_slip_status` reuses `data[status]` for the slip's registration state.
    let slip = *event == EventName::InvoiceBankSlipStatus;
    let mut v = InvoiceView::default();
    for (name, node) in data {
        let Some(raw) = node.as_text() else { continue };
        match name.as_str() {
            "id" => v.id = Some(raw),
            "account_id" => v.account_id = Some(raw),
            "status" if slip => v.bank_slip_status = Some(BankSlipStatus::from_raw(raw)),
            "status" => v.status = Some(InvoiceStatus::from_raw(raw)),
            "payment_method" => v.payment_method = Some(PaymentMethod::from_raw(raw)),
            "subscription_id" => v.subscription_id = Some(raw),
            "payment_booklet_id" => v.payment_booklet_id = Some(raw),
            "order_id" => v.order_id = Some(raw),
            "external_reference" => v.external_reference = Some(raw),
            "async_charged" => v.async_charged = Some(lenient(raw, parse_bool)),
            "paid_at" => v.paid_at = Some(lenient(raw, parse_timestamp)),
            "paid_cents" => v.paid_cents = Some(lenient(raw, parse_int)),
            "amount_cents" => v.amount_cents = Some(lenient(raw, parse_int)),
            "total_cents" => v.total_cents = Some(lenient(raw, parse_int)),
            "installment" => v.installment = Some(lenient(raw, parse_int)),
            "number_of_installments" => v.number_of_installments = Some(lenient(raw, parse_int)),
            "occurrence_date" => v.occurrence_date = Some(lenient(raw, parse_date)),
            "pix_end_to_end_id" => v.pix_end_to_end_id = Some(raw),
            "recipient_account_id" => v.recipient_account_id = Some(raw),
            "lr" => v.lr = Some(raw),
            "action" => v.action = Some(raw),
            _ => {}
        }
    }
    v
}
