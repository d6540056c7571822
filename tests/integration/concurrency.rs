//! Reads never wait for writes:
//! 1. while an import stream is open, Match answers from the data before
//!    it, and once the stream ends, from the data after it (never a mix);
//! 2. while a large write is being applied (the writer holds its lock and
//!    builds the next snapshot), Match calls complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use partnermatch::pb;
use partnermatch::pb::partner_matcher_client::PartnerMatcherClient;
use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::domain::{MatchMode, Phase, SchoolId, Stage};
use partnermatch_core::engine::{Engine, EngineConfig, MatchQuery};
use tokio_stream::wrappers::ReceiverStream;

use crate::support::fixtures::{candidate_ids, match_request, school_proto};
use crate::support::server::TestServer;

fn population(schools: usize, seed: u64) -> Vec<partnermatch_core::domain::School> {
    generate(SyntheticConfig {
        schools,
        seed,
        ..Default::default()
    })
}

/// The server's SUPPORT answer for a seeker, as ids in rank order.
async fn served(
    matcher: &mut PartnerMatcherClient<tonic::transport::Channel>,
    id: &str,
) -> Vec<String> {
    let response = matcher
        .r#match(match_request(id, pb::MatchMode::Support))
        .await
        .unwrap()
        .into_inner();
    candidate_ids(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_answers_from_whole_snapshots_while_an_import_streams() {
    let before = population(800, 21);
    let seekers: Vec<String> = before
        .iter()
        .filter(|s| s.open && s.phase == Phase::Primary && s.stage == Some(Stage::Amber))
        .take(5)
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(seekers.len(), 5);
    // The import adds strong primaries right next to each seeker, so the
    // answers after it must differ from those before.
    let mut added = Vec::new();
    for (i, id) in seekers.iter().enumerate() {
        let seeker = before.iter().find(|s| s.id.as_str() == id).unwrap();
        for j in 0..3 {
            let mut school = seeker.clone();
            school.id = SchoolId::parse(&format!("new-{i}-{j}")).unwrap();
            school.stage = Some(Stage::Yellow);
            school.strengths = seeker.needs;
            school.capacity = Some(3);
            school.location.latitude += 0.001 * f64::from(j + 1);
            added.push(school);
        }
    }
    let expected_before = Engine::with_schools(EngineConfig::default(), before.clone()).unwrap();
    let expected_after = Engine::with_schools(
        EngineConfig::default(),
        before
            .iter()
            .cloned()
            .chain(added.iter().cloned())
            .collect(),
    )
    .unwrap();
    let oracle = |engine: &Engine, id: &str| -> Vec<String> {
        let query = MatchQuery::new(
            id.parse().unwrap(),
            MatchMode::Support,
            &engine.config().scoring,
        );
        engine
            .match_brute_force(&query, |outcome| {
                outcome
                    .candidates
                    .iter()
                    .map(|c| c.school.school.id.to_string())
                    .collect()
            })
            .unwrap()
    };

    let server = TestServer::start(before).await;
    let mut registry = server.registry().await;
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let import = tokio::spawn(async move {
        registry
            .import_schools(ReceiverStream::new(receiver))
            .await
            .map(|reply| reply.into_inner())
    });
    let mut matcher = server.matcher().await;
    for school in &added {
        sender
            .send(pb::ImportSchoolsRequest {
                school: Some(school_proto(school)),
                ..Default::default()
            })
            .await
            .unwrap();
        // Mid-stream: still the answers from before the import.
        for id in &seekers {
            assert_eq!(served(&mut matcher, id).await, oracle(&expected_before, id));
        }
    }
    drop(sender);
    let reply = import.await.unwrap().unwrap();
    assert_eq!((reply.created, reply.rejected), (15, 0));
    for id in &seekers {
        let after = oracle(&expected_after, id);
        assert_eq!(served(&mut matcher, id).await, after);
        assert_ne!(
            after,
            oracle(&expected_before, id),
            "the import changed {id}"
        );
    }
    server.stop().await;
}

#[test]
fn matches_complete_while_a_large_write_is_applied() {
    let engine =
        Arc::new(Engine::with_schools(EngineConfig::default(), population(2000, 5)).unwrap());
    let seeker = engine.snapshot().schools()[0].school.id.clone();
    let query = MatchQuery::new(seeker, MatchMode::Peer, &engine.config().scoring);
    // Ids and scores of the answer, to compare across snapshots.
    let answer = |engine: &Engine| -> Vec<(String, f64)> {
        engine
            .match_partners(&query, |outcome| {
                outcome
                    .candidates
                    .iter()
                    .map(|c| (c.school.school.id.to_string(), c.score))
                    .collect()
            })
            .unwrap()
    };
    let expected = answer(&engine);

    // A big batch: applying it (families, index) takes far longer than a
    // match. Its schools are closed, under new ids and in a family of their
    // own, so the answers stay the same. Built before the writer starts, so
    // the writer's whole run is the write itself.
    let batch: Vec<_> = population(40_000, 6)
        .into_iter()
        .filter(|s| s.consortium.contains("region"))
        .map(|mut s| {
            s.id = SchoolId::parse(&format!("batch-{}", s.id)).unwrap();
            s.family_id = Some("batch-family".into());
            s.open = false;
            s
        })
        .collect();
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let engine = Arc::clone(&engine);
        let writing = Arc::clone(&writing);
        std::thread::spawn(move || {
            let counts = engine.upsert_batch(batch).unwrap();
            writing.store(false, Ordering::SeqCst);
            counts
        })
    };
    // Count matches that start and finish while the writer holds the
    // registry. Were reads to wait for the writer, none could.
    let mut matched_during_write = 0;
    while writing.load(Ordering::SeqCst) {
        let started_during_write = engine.write_in_progress();
        assert_eq!(answer(&engine), expected);
        if started_during_write && engine.write_in_progress() {
            matched_during_write += 1;
        }
    }
    let counts = writer.join().unwrap();
    assert!(counts.created > 30_000);
    assert!(
        matched_during_write > 0,
        "only {matched_during_write} matches completed while the write was being applied"
    );
    assert_eq!(answer(&engine), expected);
}
