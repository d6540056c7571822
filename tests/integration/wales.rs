//! The real Welsh schools (`data/wales/schools.csv`, OGL v3):
//! 1. every row with coordinates loads (the file has no row without);
//! 2. each red primary's SUPPORT matches are primaries ahead of it.

use partnermatch::pb;
use partnermatch_core::dataset::read_csv_path;
use partnermatch_core::domain::{EvaluationFramework, Judgement, Phase, Stage};
use partnermatch_core::engine::{Engine, EngineConfig, EvidenceConfig};

use crate::support::fixtures::{match_request, wales_csv};
use crate::support::server::TestServer;

#[tokio::test]
async fn real_welsh_schools_load_and_red_primaries_get_primaries_ahead() {
    let path = wales_csv();
    let import = read_csv_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Count rows with coordinates independently of the importer.
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (lat, lon) = (column("latitude"), column("longitude"));
    let with_coordinates = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| !r[lat].trim().is_empty() && !r[lon].trim().is_empty())
        .count();
    assert_eq!(
        import.schools().len(),
        with_coordinates,
        "rejected: {:?}",
        import.rejections()
    );
    assert_eq!(import.schools().len(), 1473);
    assert_eq!(import.rejected(), 0, "{:?}", import.rejections());

    // The 2019 categories are evidence dated 2019: stale under the default
    // four years, so counted here with ten.
    let red_primaries: Vec<String> = import
        .schools()
        .iter()
        .filter(|s| {
            s.phase == Phase::Primary
                && s.evaluations.iter().any(|e| {
                    e.framework == EvaluationFramework::WalesCategory
                        && e.judgement == Judgement::Red
                })
        })
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(red_primaries.len(), 18);
    assert!(import.schools().iter().all(|s| s.stage.is_none()));

    let config = EngineConfig {
        evidence: EvidenceConfig {
            max_age_years: 10,
            ..EvidenceConfig::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::with_schools(config, import.into_schools()).unwrap();
    let red = engine.get(&red_primaries[0]).unwrap();
    assert_eq!(red.stage(), Some(Stage::Red));
    let server = TestServer::with_engine(std::sync::Arc::new(engine)).await;
    let mut matcher = server.matcher().await;
    for id in &red_primaries {
        let mut request = match_request(id, pb::MatchMode::Support);
        request.explain = true;
        let response = matcher.r#match(request).await.unwrap().into_inner();
        assert_eq!(response.candidates.len(), 10, "{id}");
        for candidate in &response.candidates {
            assert_eq!(candidate.phase, pb::Phase::Primary as i32, "{id}");
            assert!(
                candidate.stage > pb::Stage::Red as i32,
                "{id}: {} is not ahead",
                candidate.school_id
            );
            assert!(candidate.stage_gap.unwrap() >= 1);
        }
        // FSM is not in the open data: context is neutral and says so.
        let context = &response.candidates[0].components[2];
        assert!(context.reason.contains("unknown"), "{}", context.reason);
    }
    server.stop().await;
}
