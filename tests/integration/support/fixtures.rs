//! Schools, requests and data files the tests build on.

use std::path::PathBuf;

use partnermatch::pb;
use partnermatch_core::domain::{
    ContextMeasures, FocusArea, FocusSet, GeoPoint, LanguageMedium, Phase, School, SchoolId, Stage,
};

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
        evaluations: Vec::new(),
        affiliations: Default::default(),
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
    let stored = partnermatch_core::domain::StoredSchool::new(
        school.clone(),
        None,
        &partnermatch_core::engine::EvidenceConfig::default().rules(),
    );
    partnermatch::school_to_proto(&stored, school.family_id.clone())
}

/// `message` with `authorization: Bearer <token>` metadata.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
