//! Matching: Match, Broker and FormGroups requests and their answers.

use crate::domain::{MatchMode, SchoolId, Stage, StoredSchool, TextKind, Violations};
use crate::engine::{
    AssignmentSummary, BrokerOutcome, BrokerQuery, Constraints, Factor, GroupKind, GroupQuery,
    GroupsOutcome, MatchOutcome, MatchQuery, RankedCandidate, ScoringConfig, SeekerFilter,
    SeekerSelection, Snapshot, broker_limits, limits,
};
use crate::pb;

use super::enums::{
    focus_set_from_proto, focus_set_to_proto, optional, optional_to_wire, repeated, required,
    to_wire,
};
use super::schools::{school_id, school_to_proto};

/// The constraint fields a MatchRequest and a BrokerRequest share, as the
/// wire gives them.
struct ConstraintFields {
    mode: i32,
    phase_relation: i32,
    focus: Vec<i32>,
    max_distance_km: Option<f64>,
    same_consortium: bool,
    same_local_authority: bool,
    same_language_group: bool,
    trust_relation: i32,
    same_diocese: bool,
    weights: Option<pb::Weights>,
    proximity_scale_km: Option<f64>,
}

/// The constraints of a Match or a brokerage run, with defaults filled in
/// and every problem gathered into `v`; `None` when some field is invalid.
fn constraints_from_proto(
    v: &mut Violations,
    fields: ConstraintFields,
    config: &ScoringConfig,
) -> Option<Constraints> {
    let ConstraintFields {
        mode,
        phase_relation,
        focus,
        max_distance_km,
        same_consortium,
        same_local_authority,
        same_language_group,
        trust_relation,
        same_diocese,
        weights,
        proximity_scale_km,
    } = fields;
    let problems_before = v.total();
    // A missing mode is reported; Support stands in so that the other
    // fields are still checked.
    let mode = required(v, "mode", mode).unwrap_or(MatchMode::Support);
    let phase_relation = optional(v, "phase_relation", phase_relation).unwrap_or_default();
    let trust_relation = optional(v, "trust_relation", trust_relation).unwrap_or_default();
    let focus = focus_set_from_proto(v, "focus", &focus);
    let weights = weights.map_or(config.weights, |given| {
        let mut weights = config.weights;
        for factor in Factor::ALL {
            if let Some(weight) = weight_in_proto(&given, factor) {
                weights[factor] = weight;
            }
        }
        weights
    });
    let constraints = Constraints {
        mode,
        phase_relation,
        focus: (!focus.is_empty()).then_some(focus),
        max_distance_km,
        same_consortium,
        same_local_authority,
        same_language_group,
        trust_relation,
        same_diocese,
        weights,
        proximity_scale_km: proximity_scale_km.unwrap_or(config.proximity_scale_km),
    };
    v.extend(constraints.validate());
    (v.total() == problems_before).then_some(constraints)
}

/// A match request from the wire, parsed and validated once: ids are
/// school ids, every other field is in range.
pub fn match_query_from_proto(
    request: pb::MatchRequest,
    config: &ScoringConfig,
) -> Result<MatchQuery, Violations> {
    let pb::MatchRequest {
        school_id: seeker,
        mode,
        phase_relation,
        focus,
        limit,
        max_distance_km,
        same_consortium,
        same_local_authority,
        exclude_ids,
        weights,
        explain,
        proximity_scale_km,
        same_language_group,
        trust_relation,
        same_diocese,
    } = request;
    let mut v = Violations::new();
    let constraints = constraints_from_proto(
        &mut v,
        ConstraintFields {
            mode,
            phase_relation,
            focus,
            max_distance_km,
            same_consortium,
            same_local_authority,
            same_language_group,
            trust_relation,
            same_diocese,
            weights,
            proximity_scale_km,
        },
        config,
    );
    let seeker = school_id(&mut v, "school_id", &seeker);
    let limit = if limit == 0 {
        limits::DEFAULT_LIMIT
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    if !(1..=limits::MAX_LIMIT).contains(&limit) {
        v.push(
            "limit",
            format!("must be between 1 and {}, got {limit}", limits::MAX_LIMIT),
        );
    }
    let exclude: Vec<SchoolId> = if v.check_count(
        "exclude_ids",
        "ids",
        exclude_ids.len(),
        limits::MAX_EXCLUDE_IDS,
    ) {
        exclude_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| school_id(&mut v, &format!("exclude_ids[{i}]"), id))
            .collect()
    } else {
        Vec::new()
    };
    match (seeker, constraints) {
        (Some(seeker), Some(constraints)) if v.is_empty() => Ok(MatchQuery {
            seeker,
            constraints,
            limit,
            exclude,
            explain,
        }),
        _ => Err(v),
    }
}

/// The weight a request gives `factor`, if it gives one: the proto's
/// field of each factor.
fn weight_in_proto(weights: &pb::Weights, factor: Factor) -> Option<f64> {
    let pb::Weights {
        stage,
        proximity,
        context,
        focus,
        phase,
        language,
        size,
        load,
        track_record,
    } = *weights;
    match factor {
        Factor::Stage => stage,
        Factor::Proximity => proximity,
        Factor::Context => context,
        Factor::Focus => focus,
        Factor::Phase => phase,
        Factor::Language => language,
        Factor::Size => size,
        Factor::Load => load,
        Factor::TrackRecord => track_record,
    }
}

/// A ranked partner of `seeker`.
pub(crate) fn candidate_to_proto(
    seeker: &StoredSchool,
    candidate: &RankedCandidate<'_>,
) -> pb::Candidate {
    let school = &candidate.school.school;
    let components = candidate
        .components
        .iter()
        .flat_map(|components| components.values())
        .map(|weighted| pb::ScoreComponent {
            factor: to_wire(weighted.component.factor()),
            value: weighted.component.value,
            weight: weighted.weight,
            contribution: weighted.contribution,
            reason: weighted.component.reason_between(seeker, candidate.school),
        })
        .collect();
    pb::Candidate {
        rank: candidate.rank,
        school_id: school.id.to_string(),
        name: school.name.clone(),
        phase: to_wire(school.phase),
        // The stage in use, given or derived.
        stage: optional_to_wire(candidate.school.stage()),
        distance_km: candidate.distance_km,
        score: candidate.score,
        stage_gap: candidate.stage_gap,
        covered_focus: focus_set_to_proto(candidate.covered_focus),
        components,
        local_authority: school.local_authority.clone(),
        language_medium: optional_to_wire(school.language_medium),
        shared_affiliations: candidate.shared_affiliations.clone(),
    }
}

/// A match's answer on the wire.
pub fn match_response_to_proto(outcome: &MatchOutcome<'_>, took_micros: u64) -> pb::MatchResponse {
    pb::MatchResponse {
        candidates: outcome
            .candidates
            .iter()
            .map(|candidate| candidate_to_proto(outcome.seeker, candidate))
            .collect(),
        considered: outcome.considered,
        search_radius_km: outcome.search_radius_km,
        seeker: Some(school_to_proto(
            outcome.seeker,
            outcome.seeker_family.map(|family| family.id()),
        )),
        took_micros,
        excluded_for_safeguarding: outcome.excluded_for_safeguarding,
    }
}

// ---- brokerage -------------------------------------------------------------

/// A brokerage request from the wire. The constraints are read as a match
/// request's (same field names, same rules), with each seeker filled in
/// later.
pub(crate) fn broker_query_from_proto(
    request: pb::BrokerRequest,
    config: &ScoringConfig,
) -> Result<BrokerQuery, Violations> {
    let pb::BrokerRequest {
        seeker_ids,
        filter,
        mode,
        phase_relation,
        max_distance_km,
        same_consortium,
        same_local_authority,
        same_language_group,
        weights,
        proximity_scale_km,
        explain,
        trust_relation,
        same_diocese,
    } = request;
    let mut v = Violations::new();
    let constraints = constraints_from_proto(
        &mut v,
        ConstraintFields {
            mode,
            phase_relation,
            focus: Vec::new(),
            max_distance_km,
            same_consortium,
            same_local_authority,
            same_language_group,
            trust_relation,
            same_diocese,
            weights,
            proximity_scale_km,
        },
        config,
    );
    let seekers = selection_from_proto(&mut v, "seeker_ids", seeker_ids, filter);
    match (constraints, seekers) {
        (Some(constraints), Some(seekers)) if v.is_empty() => Ok(BrokerQuery {
            seekers,
            constraints,
            explain,
            initial_candidates: broker_limits::INITIAL_CANDIDATES,
        }),
        _ => Err(v),
    }
}

/// Schools named by id (field `ids_field`) or by a filter: exactly one.
fn selection_from_proto(
    v: &mut Violations,
    ids_field: &str,
    seeker_ids: Vec<String>,
    filter: Option<pb::SeekerFilter>,
) -> Option<SeekerSelection> {
    if v.check_count(
        ids_field,
        "ids",
        seeker_ids.len(),
        broker_limits::MAX_SEEKERS,
    ) {
        for (i, id) in seeker_ids.iter().enumerate() {
            school_id(v, &format!("{ids_field}[{i}]"), id);
        }
    }
    match (seeker_ids.is_empty(), filter) {
        (false, Some(_)) => {
            v.push("filter", format!("give {ids_field} or filter, not both"));
            None
        }
        (true, None) => {
            v.push(ids_field, format!("give {ids_field} or filter"));
            None
        }
        (false, None) => Some(SeekerSelection::Ids(seeker_ids)),
        (
            true,
            Some(pb::SeekerFilter {
                consortium,
                local_authority,
                stages,
                phase,
            }),
        ) => {
            v.check_text(
                "filter.consortium",
                &consortium,
                0,
                crate::domain::limits::AREA_MAX_CHARS,
                TextKind::Line,
            );
            v.check_text(
                "filter.local_authority",
                &local_authority,
                0,
                crate::domain::limits::AREA_MAX_CHARS,
                TextKind::Line,
            );
            let stages: Vec<Stage> = repeated(v, "filter.stages", "stages", &stages);
            Some(SeekerSelection::Filter(SeekerFilter {
                consortium,
                local_authority,
                stages,
                phase: optional(v, "filter.phase", phase),
            }))
        }
    }
}

/// A group formation request from the wire, defaults filled in by kind.
pub(crate) fn group_query_from_proto(
    request: pb::FormGroupsRequest,
) -> Result<GroupQuery, Violations> {
    let pb::FormGroupsRequest {
        kind,
        school_ids,
        filter,
        max_distance_km,
        min_size,
        max_size,
        small_school_pupils,
    } = request;
    let mut v = Violations::new();
    let kind = required::<GroupKind>(&mut v, "kind", kind);
    let schools = selection_from_proto(&mut v, "school_ids", school_ids, filter);
    // The sizes are checked even when kind or schools are wrong, so every
    // invalid field is reported at once.
    let mut query = GroupQuery::new(
        kind.unwrap_or(GroupKind::Cluster),
        schools.clone().unwrap_or(SeekerSelection::Ids(Vec::new())),
    );
    if let Some(km) = max_distance_km {
        v.check_range("max_distance_km", km, 0.5, 200.0);
        query.max_distance_km = km;
    }
    query.min_size = min_size.map_or(query.min_size, |n| n as usize);
    query.max_size = max_size.map_or(query.max_size, |n| n as usize);
    if !(2..=12).contains(&query.min_size) {
        v.push(
            "min_size",
            format!("must be between 2 and 12, got {}", query.min_size),
        );
    }
    if !(query.min_size..=12).contains(&query.max_size) {
        v.push(
            "max_size",
            format!(
                "must be between min_size ({}) and 12, got {}",
                query.min_size, query.max_size
            ),
        );
    }
    if let Some(pupils) = small_school_pupils {
        if !(1..=crate::domain::limits::PUPILS_MAX).contains(&pupils) {
            v.push(
                "small_school_pupils",
                format!(
                    "must be between 1 and {}, got {pupils}",
                    crate::domain::limits::PUPILS_MAX
                ),
            );
        }
        query.small_school_pupils = pupils;
    }
    if kind.is_none() || schools.is_none() {
        return Err(v);
    }
    v.into_result(query)
}

pub(crate) fn groups_to_proto(
    snapshot: &Snapshot,
    outcome: &GroupsOutcome,
) -> pb::FormGroupsResponse {
    pb::FormGroupsResponse {
        groups: outcome
            .groups
            .iter()
            .map(|group| pb::FormedGroup {
                members: group
                    .members
                    .iter()
                    .map(|&index| {
                        let stored = snapshot.school(index);
                        let school = &stored.school;
                        pb::GroupMember {
                            school_id: school.id.to_string(),
                            name: school.name.clone(),
                            phase: to_wire(school.phase),
                            stage: optional_to_wire(stored.stage()),
                            pupils: school.pupils,
                        }
                    })
                    .collect(),
                cohesion: group.cohesion,
                span_km: group.span_km,
                reasons: group.reasons.clone(),
            })
            .collect(),
        considered: outcome.considered,
        ungrouped: outcome.ungrouped,
    }
}

fn totals_to_proto(summary: &AssignmentSummary) -> pb::AssignmentTotals {
    pb::AssignmentTotals {
        total_score: summary.total_score,
        pairs: summary.pairs,
        max_supporter_load: summary.max_supporter_load,
    }
}

pub(crate) fn broker_response_to_proto(
    outcome: &BrokerOutcome<'_>,
    took_micros: u64,
) -> pb::BrokerResponse {
    pb::BrokerResponse {
        pairs: outcome
            .pairings
            .iter()
            .map(|pairing| pb::BrokeredPair {
                seeker_id: pairing.seeker.school.id.to_string(),
                seeker_name: pairing.seeker.school.name.clone(),
                partner: Some(candidate_to_proto(pairing.seeker, &pairing.partner)),
            })
            .collect(),
        unassigned: outcome
            .unassigned
            .iter()
            .map(|unassigned| pb::UnassignedSeeker {
                school_id: unassigned.seeker.school.id.to_string(),
                name: unassigned.seeker.school.name.clone(),
                reason: unassigned.reason.clone(),
            })
            .collect(),
        optimal: Some(totals_to_proto(&outcome.optimal)),
        greedy: Some(totals_to_proto(&outcome.greedy)),
        seekers: outcome.seekers,
        candidate_pairs: outcome.candidate_pairs,
        rounds: outcome.rounds,
        took_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhaseRelation;

    #[test]
    fn match_request_defaults_and_errors() {
        let config = ScoringConfig::default();
        let query = match_query_from_proto(
            pb::MatchRequest {
                school_id: "a".into(),
                mode: pb::MatchMode::Peer as i32,
                ..Default::default()
            },
            &config,
        )
        .unwrap();
        assert_eq!(query.limit, 10);
        assert_eq!(query.constraints.phase_relation, PhaseRelation::SamePhase);
        assert_eq!(query.constraints.weights, config.weights);

        let bad = match_query_from_proto(
            pb::MatchRequest {
                school_id: "".into(),
                mode: 0,
                phase_relation: 7,
                limit: 101,
                max_distance_km: Some(-1.0),
                focus: vec![0],
                weights: Some(pb::Weights {
                    stage: Some(f64::NAN),
                    ..Default::default()
                }),
                proximity_scale_km: Some(0.0),
                exclude_ids: vec!["ok".into(), "x".repeat(65)],
                ..Default::default()
            },
            &config,
        )
        .unwrap_err();
        let fields: Vec<_> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mode",
                "phase_relation",
                "focus[0]",
                "max_distance_km",
                "proximity_scale_km",
                "weights.stage",
                "school_id",
                "limit",
                "exclude_ids[1]",
            ]
        );
    }
}
