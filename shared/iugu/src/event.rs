//! iugu's event names and the families that decide which function serves them.

use std::fmt;

use serde::{Deserialize, Serialize};

use webhook_core::envelope::{check_event_name, Event, EventFamily};
use webhook_core::error::ParseError;

/// A group of events served by one function (and one route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Invoices,
    Subscriptions,
    PaymentMethods,
    Transfers,
    Deposits,
    Advancements,
    PaymentRequests,
    /// An event whose prefix we do not know at all: only the all-events route takes it.
    Other,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Invoices,
        Family::Subscriptions,
        Family::PaymentMethods,
        Family::Transfers,
        Family::Deposits,
        Family::Advancements,
        Family::PaymentRequests,
        Family::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Invoices => "invoices",
            Family::Subscriptions => "subscriptions",
            Family::PaymentMethods => "payment-methods",
            Family::Transfers => "transfers",
            Family::Deposits => "deposits",
            Family::Advancements => "advancements",
            Family::PaymentRequests => "payment-requests",
            Family::Other => "other",
        }
    }

    /// The family of an event name, from its prefix (the part before the first `.`), so that
    /// an event iugu adds later (`invoice.something_new`) still lands with its kin.
    pub fn of_event(name: &str) -> Family {
        // A byte scan: event names are short, and this runs a few times per notification.
        let prefix = name
            .bytes()
            .position(|b| b == b'.')
            .map_or(name, |dot| &name[..dot]);
        match prefix {
            "invoice" => Family::Invoices,
            "subscription" => Family::Subscriptions,
            "customer_payment_method" => Family::PaymentMethods,
            // Withdrawals to the account's own bank account ("Saque"): money leaving the
            // account, as transfers are (https://dev.iugu.com/docs/saque).
            "transfer" | "transfer_request" | "withdraw_request" => Family::Transfers,
            "deposit" => Family::Deposits,
            "advancement_request" => Family::Advancements,
            "payment_request" => Family::PaymentRequests,
            _ => Family::Other,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`EventName`] from one table, so names, variants and parsing cannot drift apart.
macro_rules! events {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event iugu documents, plus [`EventName::Unknown`] for the ones it adds later.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventName {
            $($variant,)*
            /// Valid data all the same: stored and forwarded like any other.
            Unknown(String),
        }

        impl EventName {
            /// Every known event name, in the order of iugu's documentation.
            pub const KNOWN: &'static [&'static str] = &[$($name,)*];

            /// Never fails: a name we do not know becomes [`EventName::Unknown`].
            pub fn from_name(name: &str) -> EventName {
                match name {
                    $($name => EventName::$variant,)*
                    other => EventName::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(EventName::$variant => $name,)*
                    EventName::Unknown(name) => name,
                }
            }

            /// The envelope's name for it: static for a known event, no allocation.
            pub fn into_event(self) -> Event {
                match self {
                    $(EventName::$variant => Event::from_static($name),)*
                    EventName::Unknown(name) => Event::from(name),
                }
            }
        }
    };
}

events! {
    InvoiceCreated => "invoice.created",
    InvoiceStatusChanged => "invoice.status_changed",
    InvoiceBankSlipStatus => "invoice.bank_slip_status",
    InvoiceRefund => "invoice.refund",
    InvoicePaymentFailed => "invoice.payment_failed",
    InvoiceDue => "invoice.due",
    InvoiceDunningAction => "invoice.dunning_action",
    InvoiceInstallmentReleased => "invoice.installment_released",
    InvoiceReleased => "invoice.released",
    InvoiceSplitStatusChanged => "invoice.split_status_changed",
    InvoiceSplitReleased => "invoice.split_released",
    SubscriptionSuspended => "subscription.suspended",
    SubscriptionExpired => "subscription.expired",
    SubscriptionActivated => "subscription.activated",
    SubscriptionCreated => "subscription.created",
    SubscriptionRenewed => "subscription.renewed",
    SubscriptionChanged => "subscription.changed",
    CustomerPaymentMethodNew => "customer_payment_method.new",
    TransferDebited => "transfer.debited",
    TransferCredited => "transfer.credited",
    DepositAccepted => "deposit.accepted",
    DepositRejected => "deposit.rejected",
    DepositPixStatusChanged => "deposit.pix_status_changed",
    TransferRequestStatusChanged => "transfer_request.status_changed",
    AdvancementRequestSimulationStatus => "advancement_request.simulation_status",
    AdvancementRequestAdvancementStatus => "advancement_request.advancement_status",
    PaymentRequestStatusChanged => "payment_request.status_changed",
    // Documented after the reference's list (https://dev.iugu.com/docs/gatilhos-fatura and its sibling pages);
    // each one's page is cited in `entity`.
    WithdrawRequestCreated => "withdraw_request.created",
    WithdrawRequestStatusChanged => "withdraw_request.status_changed",
    AutomaticPixAuthorizationChanged => "automatic_pix.authorization_changed",
    AutomaticPixPaymentChanged => "automatic_pix.payment_changed",
    ReferralsVerification => "referrals.verification",
    ReferralsDocumentStatusChange => "referrals.document_status_change",
}

impl EventName {
    /// Validates the raw `event` value: not blank, not over
    /// [`MAX_EVENT_BYTES`](webhook_core::envelope::MAX_EVENT_BYTES), printable
    /// ASCII without spaces. Anything else is not an event name but a broken body.
    pub fn parse(raw: &str) -> Result<EventName, ParseError> {
        check_event_name(raw)?;
        Ok(EventName::from_name(raw))
    }

    pub fn family(&self) -> Family {
        Family::of_event(self.as_str())
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, EventName::Unknown(_))
    }
}

impl From<EventName> for Event {
    fn from(event: EventName) -> Event {
        event.into_event()
    }
}

impl From<Family> for EventFamily {
    fn from(family: Family) -> EventFamily {
        EventFamily::from_static(family.as_str())
    }
}

/// An envelope's event is this iugu event (by name).
impl PartialEq<EventName> for Event {
    fn eq(&self, other: &EventName) -> bool {
        self.as_str() == other.as_str()
    }
}

/// An envelope's family is this iugu family (by name).
impl PartialEq<Family> for EventFamily {
    fn eq(&self, other: &Family) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(EventName::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips_and_has_a_real_family() {
        // Pix Automático and account verification have no family route of their own: they
        // are served by the all-events route (`/iugu/events`).
        let without_family = ["automatic_pix.", "referrals."];
        for name in EventName::KNOWN {
            let event = EventName::from_name(name);
            assert!(event.is_known(), "{name}");
            assert_eq!(event.as_str(), *name);
            let other = without_family.iter().any(|p| name.starts_with(p));
            assert_eq!(event.family() == Family::Other, other, "{name}");
        }
        assert_eq!(EventName::KNOWN.len(), 33);
        assert_eq!(
            EventName::from_name("withdraw_request.created").family(),
            Family::Transfers
        );
    }

    #[test]
    fn unknown_events_keep_their_name_and_family_by_prefix() {
        let e = EventName::parse("invoice.something_new").unwrap();
        assert_eq!(e, EventName::Unknown("invoice.something_new".into()));
        assert_eq!(e.family(), Family::Invoices);
        assert_eq!(
            EventName::parse("charge.created").unwrap().family(),
            Family::Other
        );
        assert_eq!(
            EventName::parse("transfer_request.x").unwrap().family(),
            Family::Transfers
        );
    }

    #[test]
    fn broken_names_are_refused() {
        for bad in ["", "invoice created", "invoice.\u{e9}", &"a".repeat(101)] {
            assert!(
                matches!(EventName::parse(bad), Err(ParseError::InvalidEvent { .. })),
                "{bad:?}"
            );
        }
    }
}
