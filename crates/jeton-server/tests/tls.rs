//! Optional TLS (issue 6): the server loop (`serve_on`) with a certificate made here, called
//! over HTTPS by a client that trusts only that certificate; a plain-HTTP client and a client
//! that never finishes its handshake on the TLS port, which must cost nothing but their own
//! connection; the key formats the server reads; and start-up errors that name the file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use jeton_server::TlsFiles;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;
use common::*;

/// A certificate for 127.0.0.1 and localhost, its key, and the PEM files holding them.
struct Cert {
    cert_pem: String,
    files: TlsFiles,
}

fn self_signed(dir: &Path, key: rcgen::KeyPair, name: &str) -> Cert {
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let files = TlsFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    Cert {
        cert_pem: cert.pem(),
        files,
    }
}

fn https_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

/// Sends `bytes` on a new TCP connection and reads until the server closes it (at most
/// `limit`). Returns what was read and how long the server took to close.
fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("the server did not close the connection within {limit:?}: {err}"),
        }
    }
    (answer, started.elapsed())
}

#[tokio::test]
async fn https_works_and_plain_http_or_a_stalled_handshake_cost_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed(dir.path(), rcgen::KeyPair::generate().unwrap(), "server");
    let files = cert.files.clone();
    let served = spawn_served(move |config| {
        config.tls = Some(files);
        config.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = served.addr();
    let base = format!("https://{addr}");
    let https = https_client(&cert.cert_pem);

    let healthz = https.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    assert!(healthz.headers().contains_key("x-request-id"));

    // The API works over TLS: a login and an authenticated call.
    let login: Value = https
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a token").to_string();
    let me = https
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // A client that does not trust the certificate is refused by its own TLS stack.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );

    // Plain HTTP on the TLS port: no HTTP answer, the connection closes at once.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP got an answer: {plain:?}");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (answer, took) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, request.as_bytes(), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(took < Duration::from_secs(1), "took {took:?} to close");

    // A client that connects and never sends a ClientHello is dropped at the header-read
    // timeout (1 s here), like one that never sends its headers.
    let (answer, took) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, b"", Duration::from_secs(5)))
            .await
            .unwrap();
    assert!(answer.is_empty());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "a stalled handshake was closed after {took:?}"
    );

    // The server kept serving throughout, on new connections.
    let again = https_client(&cert.cert_pem)
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);

    served.shut_down().await.unwrap();
}

/// The DER content of a PKCS#8 `PrivateKeyInfo`'s `privateKey` OCTET STRING: for an RSA key the
/// PKCS#1 `RSAPrivateKey`, for an EC key the SEC1 `ECPrivateKey`.
fn inner_key(pkcs8: &[u8]) -> Vec<u8> {
    // (tag, content) of the DER element at the start of `der`, and the rest.
    fn element(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = der[0];
        let (len, header) = if der[1] < 0x80 {
            (usize::from(der[1]), 2)
        } else {
            let n = usize::from(der[1] & 0x7f);
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
            (len, 2 + n)
        };
        (tag, &der[header..header + len], &der[header + len..])
    }
    let (tag, info, _) = element(pkcs8);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (_, _version, rest) = element(info);
    let (_, _algorithm, rest) = element(rest);
    let (tag, key, _) = element(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    key.to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn reads_pkcs8_rsa_and_ec_keys() {
    let dir = tempfile::tempdir().unwrap();
    // PKCS#8 (`PRIVATE KEY`): ECDSA P-256 and Ed25519.
    for (name, alg) in [
        ("p256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("ed25519", &rcgen::PKCS_ED25519),
    ] {
        let cert = self_signed(dir.path(), rcgen::KeyPair::generate_for(alg).unwrap(), name);
        jeton_server::tls::server_config(&cert.files).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
    // PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`): the same keys, unwrapped.
    for (name, alg, label) in [
        ("rsa", &rcgen::PKCS_RSA_SHA256, "RSA PRIVATE KEY"),
        ("ec", &rcgen::PKCS_ECDSA_P256_SHA256, "EC PRIVATE KEY"),
    ] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let inner = inner_key(&key.serialize_der());
        let cert = self_signed(dir.path(), key, name);
        std::fs::write(&cert.files.key, pem(label, &inner)).unwrap();
        jeton_server::tls::server_config(&cert.files).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
}

#[test]
fn unusable_files_are_start_up_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = self_signed(dir.path(), rcgen::KeyPair::generate().unwrap(), "good");
    let other = self_signed(dir.path(), rcgen::KeyPair::generate().unwrap(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let broken = dir.path().join("broken.pem");
    let key_text = std::fs::read_to_string(&good.files.key).unwrap();
    // A key whose END line is missing: the message must not quote the key.
    std::fs::write(&broken, &key_text[..key_text.len() / 2]).unwrap();
    let missing = dir.path().join("missing.pem");

    let error = |cert: &Path, key: &Path| {
        jeton_server::tls::server_config(&TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let cases = [
        (
            error(&missing, &good.files.key),
            missing.clone(),
            "cannot read it",
        ),
        (
            error(&good.files.cert, &missing),
            missing.clone(),
            "cannot read it",
        ),
        (
            error(&garbage, &good.files.key),
            garbage.clone(),
            "no certificate",
        ),
        (
            error(&good.files.key, &good.files.key),
            good.files.key.clone(),
            "no certificate",
        ),
        (
            error(&good.files.cert, &garbage),
            garbage.clone(),
            "no private key",
        ),
        (
            error(&good.files.cert, &good.files.cert),
            good.files.cert.clone(),
            "no private key",
        ),
        (error(&good.files.cert, &broken), broken.clone(), "PEM"),
        // A key of another certificate.
        (
            error(&good.files.cert, &other.files.key),
            other.files.key.clone(),
            "cannot be used together",
        ),
    ];
    for (message, file, what) in cases {
        assert!(
            message.contains(&file.display().to_string()) && message.contains(what),
            "{message:?} should name {} and say {what:?}",
            file.display()
        );
        let key_body = key_text.lines().nth(1).unwrap();
        assert!(
            !message.contains(&key_body[..20]),
            "quotes the key: {message}"
        );
    }
}
