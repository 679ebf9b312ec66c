//! iugu, the first gateway: its form bodies ([`form`]), event names and families ([`event`]),
//! which entity a notification is about ([`entity`]), its de-duplication key ([`dedup`]), the
//! typed views of its documented fields ([`status`], [`typed`]), and its parser ([`mod@parse`]),
//! from a body to an [`Envelope`](webhook_core::envelope::Envelope). Core only: nothing here knows
//! HTTP or AWS.

pub mod dedup;
pub mod entity;
pub mod event;
pub mod form;
#[cfg(feature = "http")]
mod gateway;
pub mod parse;
pub mod status;
pub mod typed;

pub use event::{EventName, Family};
pub use parse::parse;
pub use typed::{Typed, TypedEvent};

use webhook_core::envelope::Provider;

/// iugu on one route: one family's events (`invoices` takes `invoice.*`), or every event,
/// known or not (`all-events`). The handler asks it through `gateway::Gateway` (feature
/// `http`); forwarding a stored notification, through [`webhook_core::stored::Parsers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iugu {
    /// `None`: every iugu event.
    pub family: Option<Family>,
}

impl Iugu {
    /// Every iugu event, known or not.
    pub const ALL_EVENTS: Iugu = Iugu { family: None };

    /// One family's events.
    pub const fn family(family: Family) -> Iugu {
        Iugu {
            family: Some(family),
        }
    }

    /// The route whose path `path` ends in (after any stage or base-path prefix).
    pub fn of_path(path: &str) -> Option<Iugu> {
        let path = path.strip_suffix('/').unwrap_or(path);
        Family::ALL
            .into_iter()
            .find(|family| path.ends_with(route_path(*family)))
            .map(|family| Iugu {
                family: (family != Family::Other).then_some(family),
            })
    }
}

/// The gateway's name: its envelopes' `provider`.
pub const NAME: &str = "iugu";

/// The `provider` of iugu's envelopes.
pub const PROVIDER: Provider = Provider::from_static(NAME);

/// The route (path) that serves a family's events; [`Family::Other`]'s serves them all.
pub const fn route_path(family: Family) -> &'static str {
    match family {
        Family::Invoices => "/iugu/invoices",
        Family::Subscriptions => "/iugu/subscriptions",
        Family::PaymentMethods => "/iugu/payment-methods",
        Family::Transfers => "/iugu/transfers",
        Family::Deposits => "/iugu/deposits",
        Family::Advancements => "/iugu/advancements",
        Family::PaymentRequests => "/iugu/payment-requests",
        Family::Other => "/iugu/events",
    }
}

/// Every route's path, one per family ([`Family::ALL`]'s order).
pub const PATHS: [&str; 8] = {
    let mut paths = [""; 8];
    let mut i = 0;
    while i < Family::ALL.len() {
        paths[i] = route_path(Family::ALL[i]);
        i += 1;
    }
    paths
};
