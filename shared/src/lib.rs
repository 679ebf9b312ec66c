//! The crate every function shares.
//!
//! The domain core knows nothing of AWS: [`form`] (body → nested fields), [`event`] (names and
//! families), [`entity`] (which id a notification is stored under), [`dedup`] (the
//! de-duplication key), [`typed`] (typed views of documented fields) and [`envelope`] (the
//! normalised notification consumers read).

pub mod dedup;
pub mod entity;
pub mod envelope;
pub mod error;
pub mod event;
pub mod form;
pub mod typed;

pub use envelope::{Envelope, Provider};
pub use error::{ErrorClass, ParseError};
pub use event::{EventName, Family};
pub use form::{Fields, Node};
