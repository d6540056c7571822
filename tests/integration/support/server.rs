//! A real server on an ephemeral loopback port, and clients for it.

use std::net::SocketAddr;
use std::sync::Arc;

use partnermatch::pb::partner_matcher_client::PartnerMatcherClient;
use partnermatch::pb::partnership_registry_client::PartnershipRegistryClient;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch_core::domain::School;
use partnermatch_core::engine::{Engine, EngineConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A real server on an ephemeral loopback port.
pub struct TestServer {
    pub address: SocketAddr,
    pub engine: Arc<Engine>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server holding `schools`.
    pub async fn start(schools: Vec<School>) -> TestServer {
        let engine = Arc::new(
            Engine::with_schools(EngineConfig::default(), schools)
                .expect("fixture schools are valid"),
        );
        TestServer::with_engine(engine).await
    }

    /// A server on the embedded default data (1,500 synthetic schools), as
    /// `partnermatch serve` starts.
    pub async fn with_default_data() -> TestServer {
        TestServer::start(partnermatch_core::dataset::generate(
            partnermatch_core::dataset::SyntheticConfig::default(),
        ))
        .await
    }

    pub async fn with_engine(engine: Arc<Engine>) -> TestServer {
        TestServer::with_options(engine, partnermatch::ServeOptions::default()).await
    }

    pub async fn with_options(
        engine: Arc<Engine>,
        options: partnermatch::ServeOptions,
    ) -> TestServer {
        // Bound before the server task starts, so clients can connect at once.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let handle = tokio::spawn(partnermatch::serve(
            Arc::clone(&engine),
            listener,
            async {
                let _ = signal.await;
            },
            options,
        ));
        TestServer {
            address,
            engine,
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    /// `127.0.0.1:port`, as grpcurl and Python want it.
    pub fn target(&self) -> String {
        self.address.to_string()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn registry(&self) -> SchoolRegistryClient<Channel> {
        SchoolRegistryClient::new(self.channel().await)
    }

    pub async fn matcher(&self) -> PartnerMatcherClient<Channel> {
        PartnerMatcherClient::new(self.channel().await)
    }

    pub async fn partnerships(&self) -> PartnershipRegistryClient<Channel> {
        PartnershipRegistryClient::new(self.channel().await)
    }

    /// Stops the server and fails the test if it ended with an error.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task panicked")
                .expect("server ended with an error");
        }
    }
}
