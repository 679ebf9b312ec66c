//! The statuses and payment methods iugu documents, each an enum with an `Unknown(raw)`
//! variant: a value iugu adds later is kept, never a rejection.

/// Declares a status enum with an `Unknown(String)` variant from one table of names.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
            Unknown(String),
        }

        impl $name {
            pub fn from_raw(raw: &str) -> Self {
                match raw {
                    $($text => $name::$variant,)*
                    other => $name::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Unknown(raw) => raw,
                }
            }
        }
    };
}

status_enum! {
    /// `data[status]` of invoice events (and, for `invoice.bank_slip_status`, see [`BankSlipStatus`]).
    InvoiceStatus {
        Pending => "pending",
        Paid => "paid",
        Canceled => "canceled",
        PartiallyPaid => "partially_paid",
        ExternallyPaid => "externally_paid",
        Refunded => "refunded",
        Expired => "expired",
        Authorized => "authorized",
        InProtest => "in_protest",
        Chargeback => "chargeback",
    }
}

status_enum! {
    /// `data[status]` of `invoice.bank_slip_status`: the bank slip's registration.
    BankSlipStatus {
        Processing => "processing",
        Registered => "registered",
        Canceled => "canceled",
        None => "none",
        Error => "error",
    }
}

status_enum! {
    /// `data[payment_method]` of invoice events.
    PaymentMethod {
        BankSlip => "iugu_bank_slip",
        CreditCard => "iugu_credit_card",
        Pix => "iugu_pix",
    }
}

status_enum! {
    /// `data[status]` of deposit events.
    DepositStatus {
        Pending => "pending",
        Processing => "processing",
        Rejected => "rejected",
        Error => "error",
        Accepted => "accepted",
        Inconsistent => "inconsistent",
        Refunded => "refunded",
        ProcessingRefund => "processing_refund",
    }
}

status_enum! {
    /// `data[status]` of `transfer_request.status_changed`.
    TransferRequestStatus {
        Pending => "pending",
        Processing => "processing",
        Rejected => "rejected",
        Refunded => "refunded",
        Done => "done",
        Error => "error",
    }
}

status_enum! {
    /// `data[status]` of advancement events.
    AdvancementStatus {
        Processing => "processing",
        Done => "done",
        Error => "error",
    }
}

status_enum! {
    /// `data[status]` of `payment_request.status_changed` (iugu documents only `done`).
    PaymentRequestStatus {
        Done => "done",
    }
}
