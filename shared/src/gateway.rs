//! What an [`Envelope`](crate::Envelope) holds that differs by gateway: the event name, the
//! family it belongs to, and the notification's data (iugu's form fields or iPag's JSON).
//!
//! Each serialises exactly as the iugu-only types did (the event and family as their plain
//! name, iugu's data as its nested map), so an iugu envelope is byte-for-byte what it was before
//! iPag came (`shared/tests/core/ipag.rs` pins that).

use std::fmt;

use serde::Serialize;

use crate::event::{EventName, Family};
use crate::form::{Fields, Node};
use crate::ipag::{IpagEvent, IpagFamily};

/// An event name, whichever gateway sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    Iugu(EventName),
    Ipag(IpagEvent),
}

impl Event {
    pub fn as_str(&self) -> &str {
        match self {
            Event::Iugu(e) => e.as_str(),
            Event::Ipag(e) => e.as_str(),
        }
    }

    /// Whether the gateway documents this event (an unknown one is still stored and forwarded).
    pub fn is_known(&self) -> bool {
        match self {
            Event::Iugu(e) => e.is_known(),
            Event::Ipag(e) => e.is_known(),
        }
    }

    pub fn family(&self) -> EventFamily {
        match self {
            Event::Iugu(e) => EventFamily::Iugu(e.family()),
            Event::Ipag(e) => EventFamily::Ipag(e.family()),
        }
    }

    /// The iugu event, if this is one.
    pub fn as_iugu(&self) -> Option<&EventName> {
        match self {
            Event::Iugu(e) => Some(e),
            Event::Ipag(_) => None,
        }
    }
}

impl PartialEq<EventName> for Event {
    fn eq(&self, other: &EventName) -> bool {
        self.as_iugu() == Some(other)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The family of an event, whichever gateway sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFamily {
    Iugu(Family),
    Ipag(IpagFamily),
}

impl EventFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            EventFamily::Iugu(f) => f.as_str(),
            EventFamily::Ipag(f) => f.as_str(),
        }
    }
}

impl PartialEq<Family> for EventFamily {
    fn eq(&self, other: &Family) -> bool {
        *self == EventFamily::Iugu(*other)
    }
}

impl fmt::Display for EventFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventFamily {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The notification's own data: iugu's `data[...]` fields, nested, or iPag's whole JSON body.
/// Serialised untagged: a map of strings for iugu (as before), the JSON as received for iPag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Data {
    Form(Fields),
    Json(serde_json::Value),
}

impl Data {
    /// iugu's fields, if this is an iugu notification.
    pub fn as_form(&self) -> Option<&Fields> {
        match self {
            Data::Form(fields) => Some(fields),
            Data::Json(_) => None,
        }
    }

    /// iPag's JSON body, if this is an iPag notification.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Data::Json(value) => Some(value),
            Data::Form(_) => None,
        }
    }

    /// A top-level iugu field (`data[name]`); `None` for iPag's JSON.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.as_form().and_then(|fields| fields.get(name))
    }

    /// Whether iugu's data has a top-level field `name`; `false` for iPag's JSON.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
