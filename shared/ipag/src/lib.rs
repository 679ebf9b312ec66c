//! iPag, the second gateway: its events, how a notification is keyed and de-duplicated, and
//! its optional signature. Core only: nothing here knows HTTP or AWS.
//!
//! What iPag sends (sources; see also docs/ipag.md):
//! - A `POST` (or `PUT`: the method is chosen when the webhook is registered, `http_method`
//!   `POST` or `PUT`) with `Content-Type: application/json` and a JSON body:
//!   <https://suporte.ipag.com.br/support/solutions/articles/35000293483-funcionamento-dos-webhooks-ipag>
//!   ("Formato da mensagem: JSON", "Método: POST", "Headers padrão: Content-Type:
//!   application/json · Assinatura de segurança (quando aplicável)"), and the webhook
//!   registration reference, <https://developers.ipag.com.br/pt-br/webhook> (copy:
//!   github.com/Assinaclub/docs `pt-br/webhook.md`).
//! - The body is the v2 API resource, `{"id": 3012161, "uuid": "178dea...", "resource":
//!   "transactions", "attributes": {..., "status": {"code": 8, "message": "CAPTURED"}}}`: the
//!   transaction resource (<https://developers.ipag.com.br/pt-br/payment>, copy
//!   `Assinaclub/docs` `en-us/payment.md`), as iPag's WooCommerce plugin parses it
//!   (`WC_iPag_Loader::webhook_handler`: `id`, `uuid`, `attributes.order_id`,
//!   `attributes.amount`, `attributes.status.code`, `attributes.method`).
//! - The event name is not in the body but in the header `X-Ipag-Event` (iPag's Magento 2
//!   module, `ipagdevs/magento2` `Controller/Notification/Callback.php`, reads `X-Ipag-Event`
//!   and `Ipag-Event`). Not in iPag's public documentation.
//! - Retries (same support article): 3 attempts, at once, after 5 minutes and after 15 more,
//!   with 5, 10 and 20 s response timeouts; "Retorne 200 OK assim que possível".
//!
//! - The signature covers the body, not the event header: `replay` cross-checks the two and
//!   bounds the age of a timestamp header when there is one.
//!
//! Undocumented, so assumed (and said where it is used): the signature scheme (`signature`),
//! the bodies of the payment-link, subscription, charge and transfer events (`entity`), and an
//! `event` field in the body as a fallback for the header (`parse`).

pub mod dedup;
pub mod entity;
pub mod event;
#[cfg(feature = "http")]
mod gateway;
pub mod json;
pub mod parse;
pub mod replay;
pub mod signature;

pub use event::{IpagEvent, IpagFamily};
pub use parse::{event_from_headers, parse, MAX_BODY_BYTES};
pub use signature::SignatureKey;

use webhook_core::envelope::Provider;

/// iPag on its route, with its signing key when one is configured (`signing_key` in iPag's
/// secret): then every request must carry a valid `X-Ipag-Signature`. The handler asks it
/// through `gateway::Gateway` (feature `http`); forwarding a stored notification, through
/// [`webhook_core::stored::Parsers`].
#[derive(Debug, Clone, Default)]
pub struct Ipag {
    pub signing_key: Option<SignatureKey>,
}

impl Ipag {
    /// Without a signing key (a stored notification needs none).
    pub const UNSIGNED: Ipag = Ipag { signing_key: None };

    /// Checking every request's signature with `key` (`None` or blank: no check).
    pub fn signed(key: Option<&str>) -> Ipag {
        Ipag {
            signing_key: SignatureKey::new(key),
        }
    }

    /// iPag's route, if `path` ends in its path (after any stage or base-path prefix).
    pub fn of_path(path: &str) -> Option<Ipag> {
        let path = path.strip_suffix('/').unwrap_or(path);
        path.ends_with(ROUTE).then_some(Ipag::UNSIGNED)
    }
}

/// The gateway's name: its envelopes' `provider`.
pub const NAME: &str = "ipag";

/// The `provider` of iPag's envelopes.
pub const PROVIDER: Provider = Provider::from_static(NAME);

/// The route (path) that serves iPag's events.
pub const ROUTE: &str = "/ipag/events";
