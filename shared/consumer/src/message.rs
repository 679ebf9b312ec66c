//! A queue message: its id and group, and its body read back as the front door's envelope.

use webhook_core::{Envelope, SCHEMA_VERSION};

/// One message of a batch, as the queue delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// SQS's message id: what a batch response names to fail it.
    pub message_id: String,
    /// The FIFO message group (the front door's `entity_key`); `None` on a standard queue.
    pub group: Option<String>,
    pub body: String,
}

/// Why a body is not a message this kit can book. Either way the message fails (it is retried,
/// then kept by the dead-letter queue): a message is never dropped because it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not the envelope's JSON (another producer on the queue, or a corrupted body). The
    /// reason is serde's, which names the field, never its value.
    #[error("the body is not an envelope: {0}")]
    NotAnEnvelope(String),
    /// A shape newer than this kit knows (`schema_version` above [`SCHEMA_VERSION`]): upgrade
    /// the kit, then redrive the dead-letter queue.
    #[error("schema_version {0} is newer than this consumer knows ({SCHEMA_VERSION})")]
    NewerSchema(u32),
}

/// The envelope of `body`. Versions 1 and 2 read (a version 1 message has no `schema_version`,
/// no `repeat_of.reason`, no `gap`); a later one is refused, so that a field this kit does not
/// know is never ignored while money is booked.
pub fn read_envelope(body: &str) -> Result<Envelope, MessageError> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| {
        // serde_json's message may quote a value: keep its category and position only.
        MessageError::NotAnEnvelope(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(MessageError::NewerSchema(envelope.schema_version));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"{"schema_version":2,"provider":"iugu","event":"invoice.status_changed",
        "family":"invoices","entity_type":"invoice","entity_id":"F1","entity_key":"invoice#F1",
        "status":"paid","dedup_key":"abc","sequence":3,"received_at":"2026-11-23T10:00:26Z",
        "data":{"id":"F1","status":"paid","payer_cpf_cnpj":"66535209008"}}"#;

    #[test]
    fn versions_one_and_two_read_and_a_later_one_is_refused() {
        let envelope = read_envelope(V2).expect("reads");
        assert_eq!(
            (envelope.entity_key.as_str(), envelope.sequence),
            ("invoice#F1", Some(3))
        );
        let v1 = V2.replace(r#""schema_version":2,"#, "");
        assert_eq!(read_envelope(&v1).expect("reads").schema_version, 1);
        let v3 = V2.replace(r#""schema_version":2"#, r#""schema_version":3"#);
        assert_eq!(read_envelope(&v3), Err(MessageError::NewerSchema(3)));
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_refused_without_quoting_it() {
        let broken = V2.replace(r#""entity_key":"invoice#F1","#, "");
        let err = read_envelope(&broken).expect_err("refused");
        assert!(!err.to_string().contains("66535209008"), "{err}");
        assert!(matches!(err, MessageError::NotAnEnvelope(_)));
        assert!(read_envelope("not json").is_err());
    }
}
