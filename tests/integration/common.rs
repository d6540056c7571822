//! Test servers, clients and school fixtures shared by every module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use partnermatch::pb;
use partnermatch::pb::partner_matcher_client::PartnerMatcherClient;
use partnermatch::pb::partnership_registry_client::PartnershipRegistryClient;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch_core::domain::{
    ContextMeasures, FocusArea, FocusSet, GeoPoint, LanguageMedium, Phase, School, SchoolId, Stage,
};
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

/// The real Welsh schools in the repository (`data/wales/`, OGL v3).
pub fn wales_csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/wales/schools.csv")
}

/// Reference point of hand-built populations (central Cardiff).
pub const ORIGIN: (f64, f64) = (51.48, -3.18);

/// A point `north_km` north and `east_km` east of [`ORIGIN`].
pub fn offset(north_km: f64, east_km: f64) -> GeoPoint {
    let (lat, lon) = ORIGIN;
    GeoPoint::new(
        lat + north_km / 111.2,
        lon + east_km / (111.2 * lat.to_radians().cos()),
    )
}

/// A primary school at the origin with every field set to a plain value;
/// tests change what they are about.
pub fn school(id: &str) -> School {
    let (lat, lon) = ORIGIN;
    School {
        id: SchoolId::parse(id).expect("fixture id"),
        name: format!("School {id}"),
        phase: Phase::Primary,
        stage: Some(Stage::Yellow),
        language_medium: Some(LanguageMedium::English),
        location: GeoPoint::new(lat, lon),
        local_authority: "Cardiff".into(),
        consortium: "CSC".into(),
        pupils: Some(200),
        context: ContextMeasures {
            fsm_percent: Some(20.0),
            ..ContextMeasures::default()
        },
        family_id: None,
        strengths: FocusSet::EMPTY,
        needs: FocusSet::EMPTY,
        capacity: None,
        religious_character: "none".into(),
        open: true,
    }
}

/// Builder-style tweaks for fixtures.
pub trait SchoolExt {
    fn at(self, north_km: f64, east_km: f64) -> Self;
    fn stage(self, stage: Option<Stage>) -> Self;
    fn phase(self, phase: Phase) -> Self;
    fn strengths(self, areas: &[FocusArea]) -> Self;
    fn needs(self, areas: &[FocusArea]) -> Self;
    fn area(self, local_authority: &str, consortium: &str) -> Self;
}

impl SchoolExt for School {
    fn at(mut self, north_km: f64, east_km: f64) -> Self {
        self.location = offset(north_km, east_km);
        self
    }
    fn stage(mut self, stage: Option<Stage>) -> Self {
        self.stage = stage;
        self
    }
    fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }
    fn strengths(mut self, areas: &[FocusArea]) -> Self {
        self.strengths = areas.iter().copied().collect();
        self
    }
    fn needs(mut self, areas: &[FocusArea]) -> Self {
        self.needs = areas.iter().copied().collect();
        self
    }
    fn area(mut self, local_authority: &str, consortium: &str) -> Self {
        self.local_authority = local_authority.into();
        self.consortium = consortium.into();
        self
    }
}

/// A Match request with the given seeker and mode and defaults otherwise.
pub fn match_request(school_id: &str, mode: pb::MatchMode) -> pb::MatchRequest {
    pb::MatchRequest {
        school_id: school_id.into(),
        mode: mode as i32,
        ..Default::default()
    }
}

/// Ids of the candidates, in rank order.
pub fn candidate_ids(response: &pb::MatchResponse) -> Vec<String> {
    response
        .candidates
        .iter()
        .map(|c| c.school_id.clone())
        .collect()
}

/// A proto school as a client would send it: only the client's fields.
pub fn school_proto(school: &School) -> pb::School {
    let stored = partnermatch_core::domain::StoredSchool {
        school: school.clone(),
        challenge_index: None,
        family_id: school.family_id.clone(),
        capacity: 0,
    };
    partnermatch::school_to_proto(&stored)
}

/// Asserts a status has `code` and names `field` in its message and in its
/// BadRequest details.
#[track_caller]
pub fn assert_invalid_field(status: &tonic::Status, field: &str) {
    use tonic_types::StatusExt;
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "expected INVALID_ARGUMENT for {field}, got {status:?}"
    );
    assert!(
        status.message().contains(&format!("{field}: ")),
        "message {:?} does not name {field}",
        status.message()
    );
    let details = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries BadRequest details");
    assert!(
        details.field_violations.iter().any(|v| v.field == field),
        "BadRequest {details:?} does not name {field}"
    );
}

/// `message` with `authorization: Bearer <token>` metadata.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
