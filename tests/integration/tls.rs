//! TLS through the real server, with certificates made at test time
//! (rcgen): a TLS server answers TLS clients that trust its CA and nobody
//! in plaintext; with a client CA, only clients holding a certificate it
//! signed get in.

use std::sync::Arc;

use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch::{ServeOptions, TlsSettings, pb};
use partnermatch_core::engine::{Engine, EngineConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::support::fixtures::school;
use crate::support::server::TestServer;

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["broker-client".into()]);
    Pki {
        ca_pem: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

async fn tls_server(pki: &Pki, client_ca: bool) -> TestServer {
    tls_server_with(pki, client_ca, ServeOptions::default()).await
}

async fn tls_server_with(pki: &Pki, client_ca: bool, options: ServeOptions) -> TestServer {
    let engine = Engine::with_schools(EngineConfig::default(), vec![school("a")]).unwrap();
    TestServer::with_options(
        Arc::new(engine),
        ServeOptions {
            tls: Some(TlsSettings {
                certificate_chain: pki.server_cert.clone().into_bytes(),
                private_key: pki.server_key.clone().into_bytes(),
                client_ca: client_ca.then(|| pki.ca_pem.clone().into_bytes()),
            }),
            ..options
        },
    )
    .await
}

async fn connect(server: &TestServer, tls: Option<ClientTlsConfig>) -> Option<Channel> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://{}", server.address)).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    endpoint.connect().await.ok()
}

async fn can_list(channel: Option<Channel>) -> bool {
    let Some(channel) = channel else {
        return false;
    };
    SchoolRegistryClient::new(channel)
        .list_schools(pb::ListSchoolsRequest::default())
        .await
        .is_ok()
}

fn trusting(pki: &Pki) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost")
}

#[tokio::test]
async fn a_tls_server_answers_tls_clients_only() {
    let pki = pki();
    let server = tls_server(&pki, false).await;
    assert!(can_list(connect(&server, Some(trusting(&pki))).await).await);
    assert!(
        !can_list(connect(&server, None).await).await,
        "plaintext refused"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_ca_admits_only_clients_with_its_certificates() {
    let pki = pki();
    let server = tls_server(&pki, true).await;
    assert!(
        !can_list(connect(&server, Some(trusting(&pki))).await).await,
        "no client certificate"
    );
    let with_identity =
        trusting(&pki).identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    assert!(can_list(connect(&server, Some(with_identity)).await).await);
    server.stop().await;
}

/// Handshakes that stall — nothing sent, or a ClientHello cut short — are
/// dropped after the handshake timeout instead of being held, and TLS
/// clients are served meanwhile.
#[tokio::test]
async fn stalled_tls_handshakes_are_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let server = tls_server_with(
        &pki,
        false,
        ServeOptions {
            handshake_timeout: std::time::Duration::from_millis(400),
            ..ServeOptions::default()
        },
    )
    .await;
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        if i % 2 == 0 {
            // A handshake record header announcing 512 bytes, then nothing.
            stream
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    assert!(can_list(connect(&server, Some(trusting(&pki))).await).await);
    let started = std::time::Instant::now();
    for mut stream in stalled {
        let mut buffer = [0u8; 64];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled handshake was held");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    server.stop().await;
}
