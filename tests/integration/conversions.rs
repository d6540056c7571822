//! Property tests of the proto ↔ domain conversions at the API edge: any
//! message converts or is refused with named fields — never a panic — and a
//! valid school survives the round trip to the wire and back unchanged.

use partnermatch::{match_query_from_proto, pb, school_from_proto, school_to_proto};
use partnermatch_core::domain::StoredSchool;
use partnermatch_core::engine::{EvidenceConfig, ScoringConfig};
use proptest::prelude::*;

/// Any f64 at all, the awkward ones often.
fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-0.0),
        -1e6f64..1e6,
        any::<f64>(),
    ]
}

prop_compose! {
    fn arb_proto_school()(
        id in "[ -~]{0,70}",
        name in "\\\\PC{0,210}",
        phase in -1i32..9, stage in -1i32..7, language in -1i32..8,
        latitude in prop::option::of(any_number()),
        longitude in prop::option::of(any_number()),
        pupils in prop::option::of(any::<u32>()),
        fsm in prop::option::of(any_number()),
        strengths in prop::collection::vec(-2i32..25, 0..5),
        capacity in prop::option::of(0u32..80),
        family in "[a-z0-9-]{0,70}",
        open in prop::option::of(any::<bool>()),
    ) -> pb::School {
        pb::School {
            id,
            name,
            phase,
            stage,
            language_medium: language,
            latitude,
            longitude,
            pupils,
            fsm_percent: fsm,
            strengths,
            capacity,
            family_id: family,
            open,
            ..Default::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_school_message_converts_or_names_its_bad_fields(message in arb_proto_school()) {
        match school_from_proto(message.clone()) {
            Ok(school) => {
                // What was accepted comes back as it was sent.
                let stored =
                    StoredSchool::new(school.clone(), None, &EvidenceConfig::default().rules());
                let again =
                    school_from_proto(school_to_proto(&stored, school.family_id.clone()))
                        .unwrap();
                prop_assert_eq!(again, school);
            }
            Err(violations) => {
                prop_assert!(!violations.is_empty());
                for violation in violations.iter() {
                    prop_assert!(!violation.field.is_empty() && !violation.description.is_empty());
                }
            }
        }
    }

    #[test]
    fn any_match_request_converts_or_names_its_bad_fields(
        school_id in "[ -~]{0,70}",
        mode in -1i32..5, relation in -1i32..5,
        focus in prop::collection::vec(-2i32..25, 0..4),
        limit in any::<u32>(),
        max_distance_km in prop::option::of(any_number()),
        proximity_scale_km in prop::option::of(any_number()),
        stage_weight in prop::option::of(any_number()),
        exclude in prop::collection::vec("[ -~]{0,8}", 0..3),
    ) {
        let request = pb::MatchRequest {
            school_id,
            mode,
            phase_relation: relation,
            focus,
            limit,
            max_distance_km,
            proximity_scale_km,
            exclude_ids: exclude,
            weights: stage_weight.map(|stage| pb::Weights { stage: Some(stage), ..Default::default() }),
            ..Default::default()
        };
        match match_query_from_proto(request, &ScoringConfig::default()) {
            Ok(query) => {
                prop_assert!(query.validate().is_empty());
                prop_assert!((1..=100).contains(&query.limit));
            }
            Err(violations) => prop_assert!(!violations.is_empty()),
        }
    }
}
