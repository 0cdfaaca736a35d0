//! Optional TLS (`jeton serve --tls-cert FILE --tls-key FILE`): the server's rustls
//! configuration, read from PEM files at start-up, with errors that name the file at fault.
//!
//! rustls with the aws-lc-rs provider (the one reqwest already builds), TLS 1.2 and 1.3, no
//! client certificates, ALPN `http/1.1` (the server speaks HTTP/1.1 only).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServeError;
use crate::config::TlsFiles;

/// Reads the certificate chain and key of `files` and makes the acceptor that wraps each
/// accepted connection.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    server_config(files).map(|config| TlsAcceptor::from(Arc::new(config)))
}

/// The rustls server configuration of `files`. Every error names the file it is about.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, ServeError> {
    let certs = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| ServeError::Startup(format!("TLS: {err}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map(|mut config| {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        })
        .map_err(|err| {
            ServeError::Startup(format!(
                "TLS certificate {} and key {} cannot be used together: {err}",
                files.cert.display(),
                files.key.display()
            ))
        })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let fail = |what: String| {
        ServeError::Startup(format!("TLS certificate file {}: {what}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| fail(pem_error(err)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| fail(pem_error(err)))?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` blocks)".to_string(),
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServeError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| {
        let what = match err {
            pem::Error::NoItemsFound => "no private key in it (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)".to_string(),
            other => pem_error(other),
        };
        ServeError::Startup(format!("TLS key file {}: {what}", path.display()))
    })
}

/// What is wrong with a PEM file, without quoting any of it (a key file's lines are secret).
fn pem_error(err: pem::Error) -> String {
    match err {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".to_string(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_string(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".to_string(),
        pem::Error::SectionTooLarge => "a PEM block is too large".to_string(),
        _ => "not valid PEM".to_string(),
    }
}
