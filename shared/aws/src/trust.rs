//! Which certificate authorities the AWS clients trust.
//!
//! A function only ever opens TLS connections to DynamoDB and SQS, whose certificates chain to
//! Amazon Trust Services (AWS moved its service endpoints to its own CA from 2018 on;
//! <https://aws.amazon.com/blogs/security/how-to-prepare-for-aws-move-to-its-own-certificate-authority/>).
//! So the clients trust those five roots, compiled in, and nothing else by default:
//!
//! - narrower trust: no other CA in the platform's store can vouch for a DynamoDB or SQS host;
//! - a faster cold start: the SDK's default reads and parses the platform's whole store (146
//!   files and a 220 KB bundle on Debian) during start-up, about 4 ms of the 9 ms measured in
//!   `bench/README.md`; parsing five compiled-in certificates takes microseconds.
//!
//! Setting `SSL_CERT_FILE` (or `SSL_CERT_DIR`) adds the certificates it names (through
//! `rustls-native-certs`, which reads those two variables): for an endpoint whose chain does
//! not end at these roots (a region outside the `aws` partition, a TLS-inspecting proxy).
//! The local runs use plain HTTP and no TLS at all.

use aws_smithy_http_client::tls::{TlsContext, TrustStore};

/// Amazon Root CA 1–4 and Starfield Services Root CA G2, as PEM (their fingerprints and
/// source are at the top of the file).
pub const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The environment variables that add the platform's (or a given) certificate store.
pub const EXTRA_ROOTS_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The trust store for the AWS clients, given how to read an environment variable.
pub fn trust_store(var: impl Fn(&str) -> Option<String>) -> TrustStore {
    let extra = EXTRA_ROOTS_VARIABLES
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.trim().is_empty()));
    TrustStore::empty()
        .with_native_roots(extra)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM)
}

/// The TLS context of the functions' HTTPS client: [`trust_store`] from the process's
/// environment.
pub fn tls_context() -> TlsContext {
    let store = trust_store(|name| std::env::var(name).ok());
    // `build` cannot fail (it only moves its fields), but it is declared fallible: a default
    // context (the platform's store) is the safe answer if it ever did.
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn the_compiled_in_roots_are_five_parsable_certificates() {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn the_platform_store_is_added_only_when_asked_for() {
        let none = |_: &str| None;
        let file = |name: &str| (name == "SSL_CERT_FILE").then(|| "/etc/ssl/cert.pem".to_owned());
        let blank = |name: &str| (name == "SSL_CERT_DIR").then(|| " ".to_owned());
        // TrustStore keeps its fields private; its Debug output shows them.
        let shows_native =
            |store: TrustStore| format!("{store:?}").contains("enable_native_roots: true");
        assert!(!shows_native(trust_store(none)));
        assert!(shows_native(trust_store(file)));
        assert!(!shows_native(trust_store(blank)));
    }
}
