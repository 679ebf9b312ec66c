//! iPag's webhook events (the `actions` a webhook subscribes to) and their families.
//!
//! The 16 names are iPag's list (https://developers.ipag.com.br/pt-br/webhook; also the constants of
//! iPag's PHP SDK, `ipagdevs/ipag-sdk-php` `src/Core/Enums/Webhooks.php`). A family is the
//! resource the event is about, read from the name's prefix, so an event iPag adds later
//! (`TransactionSomethingNew`) still lands with its kin.

use std::fmt;

use webhook_core::envelope::{check_event_name, Event, EventFamily};
use webhook_core::error::ParseError;

/// The resource an iPag event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpagFamily {
    Transactions,
    PaymentLinks,
    Subscriptions,
    Charges,
    Transfers,
    /// A prefix we do not know: stored and forwarded all the same.
    Other,
}

impl IpagFamily {
    pub const ALL: [IpagFamily; 6] = [
        IpagFamily::Transactions,
        IpagFamily::PaymentLinks,
        IpagFamily::Subscriptions,
        IpagFamily::Charges,
        IpagFamily::Transfers,
        IpagFamily::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IpagFamily::Transactions => "transactions",
            IpagFamily::PaymentLinks => "payment-links",
            IpagFamily::Subscriptions => "subscriptions",
            IpagFamily::Charges => "charges",
            IpagFamily::Transfers => "transfers",
            IpagFamily::Other => "other",
        }
    }

    /// The family of an event name, by its CamelCase prefix.
    pub fn of_event(name: &str) -> IpagFamily {
        // Longest prefixes first: none is a prefix of another today, but keep it so.
        const PREFIXES: [(&str, IpagFamily); 5] = [
            ("PaymentLink", IpagFamily::PaymentLinks),
            ("Subscription", IpagFamily::Subscriptions),
            ("Transaction", IpagFamily::Transactions),
            ("Transfer", IpagFamily::Transfers),
            ("Charge", IpagFamily::Charges),
        ];
        PREFIXES
            .iter()
            .find(|(prefix, _)| {
                // `Transfer` must not take `Transaction...`, nor `Charge` take `Chargeback...`
                // unless a capital follows: the prefix is a whole CamelCase word.
                name.strip_prefix(prefix)
                    .is_some_and(|rest| rest.bytes().next().is_none_or(|b| b.is_ascii_uppercase()))
            })
            .map_or(IpagFamily::Other, |(_, family)| *family)
    }
}

impl fmt::Display for IpagFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`IpagEvent`] from one table, so names, variants and parsing cannot drift apart.
macro_rules! ipag_events {
    ($($variant:ident,)*) => {
        /// Every event iPag documents, plus [`IpagEvent::Unknown`] for the ones it adds later.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum IpagEvent {
            $($variant,)*
            /// Valid data all the same: stored and forwarded like any other.
            Unknown(String),
        }

        impl IpagEvent {
            /// Every known event name, in the order of iPag's list.
            pub const KNOWN: &'static [&'static str] = &[$(stringify!($variant),)*];

            /// Never fails: a name we do not know becomes [`IpagEvent::Unknown`].
            pub fn from_name(name: &str) -> IpagEvent {
                match name {
                    $(stringify!($variant) => IpagEvent::$variant,)*
                    other => IpagEvent::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(IpagEvent::$variant => stringify!($variant),)*
                    IpagEvent::Unknown(name) => name,
                }
            }

            /// The envelope's name for it: static for a known event, no allocation.
            pub fn into_event(self) -> Event {
                match self {
                    $(IpagEvent::$variant => Event::from_static(stringify!($variant)),)*
                    IpagEvent::Unknown(name) => Event::from(name),
                }
            }
        }
    };
}

ipag_events! {
    PaymentLinkPaymentSucceeded,
    PaymentLinkPaymentFailed,
    SubscriptionPaymentSucceeded,
    SubscriptionPaymentFailed,
    ChargePaymentSucceeded,
    ChargePaymentFailed,
    TransactionCreated,
    TransactionWaitingPayment,
    TransactionCanceled,
    TransactionPreAuthorized,
    TransactionCaptured,
    TransactionDenied,
    TransactionDisputed,
    TransactionChargedback,
    TransferPaymentSucceeded,
    TransferPaymentFailed,
}

impl IpagEvent {
    /// Validates a raw event name as iugu's are validated: not blank, at most
    /// [`webhook_core::envelope::MAX_EVENT_BYTES`], printable ASCII without spaces.
    pub fn parse(raw: &str) -> Result<IpagEvent, ParseError> {
        check_event_name(raw)?;
        Ok(IpagEvent::from_name(raw))
    }

    pub fn family(&self) -> IpagFamily {
        IpagFamily::of_event(self.as_str())
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, IpagEvent::Unknown(_))
    }
}

impl From<IpagEvent> for Event {
    fn from(event: IpagEvent) -> Event {
        event.into_event()
    }
}

impl From<IpagFamily> for EventFamily {
    fn from(family: IpagFamily) -> EventFamily {
        EventFamily::from_static(family.as_str())
    }
}

/// An envelope's event is this iPag event (by name).
impl PartialEq<IpagEvent> for Event {
    fn eq(&self, other: &IpagEvent) -> bool {
        self.as_str() == other.as_str()
    }
}

/// An envelope's family is this iPag family (by name).
impl PartialEq<IpagFamily> for EventFamily {
    fn eq(&self, other: &IpagFamily) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Display for IpagEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips_and_has_a_real_family() {
        assert_eq!(IpagEvent::KNOWN.len(), 16);
        for name in IpagEvent::KNOWN {
            let event = IpagEvent::parse(name).expect("valid");
            assert!(event.is_known(), "{name}");
            assert_eq!(event.as_str(), *name);
            assert_ne!(event.family(), IpagFamily::Other, "{name}");
        }
    }

    #[test]
    fn families_by_whole_camel_case_prefix() {
        use IpagFamily::*;
        for (name, family) in [
            ("TransactionCaptured", Transactions),
            ("TransactionSomethingNew", Transactions),
            ("TransferPaymentFailed", Transfers),
            ("PaymentLinkPaymentFailed", PaymentLinks),
            ("SubscriptionPaymentSucceeded", Subscriptions),
            ("ChargePaymentFailed", Charges),
            ("Chargeback", Other),
            ("Transactions", Other),
            ("Transfer", Transfers),
            ("invoice.created", Other),
        ] {
            assert_eq!(IpagFamily::of_event(name), family, "{name}");
        }
    }

    #[test]
    fn broken_names_are_refused() {
        for bad in [
            "",
            "Transaction Captured",
            "Transa\u{e7}\u{e3}o",
            &"A".repeat(101),
        ] {
            assert!(
                matches!(IpagEvent::parse(bad), Err(ParseError::InvalidEvent { .. })),
                "{bad:?}"
            );
        }
    }
}
