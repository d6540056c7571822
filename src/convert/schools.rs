//! Schools, their lists, imports and families.

use crate::dataset::{ImportMerge, Rejection, StoredChange};
use crate::domain::{
    Affiliation, Affiliations, ContextMeasures, GeoPoint, School, SchoolFields, SchoolId,
    StoredSchool, TextKind, Violations, affiliation_limits, limits, validate_evaluations,
};
use crate::engine::{FamiliesReport, FamilyConfig, ListFilter, Page, SchoolView};
use crate::pb;

use super::enums::{
    focus_set_from_proto, focus_set_to_proto, optional, optional_to_wire, required, to_wire,
};
use super::evidence::{evaluations_from_proto, evaluations_to_proto, evidence_to_proto};
use super::pages::{PageRequest, next_page_token, page_request};

/// A school id field.
pub(crate) fn school_id(v: &mut Violations, field: &str, id: &str) -> Option<SchoolId> {
    SchoolId::parse(id)
        .map_err(|problem| v.push(field, problem))
        .ok()
}

/// A school from the wire, fully validated. Field paths are relative to the
/// message (`latitude`); callers prefix them (`school.latitude`).
pub fn school_from_proto(school: pb::School) -> Result<School, Violations> {
    let pb::School {
        id,
        name,
        phase,
        stage,
        language_medium,
        latitude,
        longitude,
        local_authority,
        consortium,
        pupils,
        fsm_percent,
        deprivation_percent,
        aln_percent,
        eal_percent,
        // Output only: derived from the percentages.
        challenge_index: _,
        family_id,
        strengths,
        needs,
        capacity,
        religious_character,
        open,
        // Output only: derived from capacity and stage.
        effective_capacity: _,
        evaluations,
        // Output only: derived from the evaluations.
        evidence: _,
        trust,
        federation,
        diocese,
    } = school;
    let mut v = Violations::new();
    let id = school_id(&mut v, "id", &id);
    let phase = required(&mut v, "phase", phase);
    let stage = optional(&mut v, "stage", stage);
    let language_medium = optional(&mut v, "language_medium", language_medium);
    if latitude.is_none() {
        v.push("latitude", "is required");
    }
    if longitude.is_none() {
        v.push("longitude", "is required");
    }
    let strengths = focus_set_from_proto(&mut v, "strengths", &strengths);
    let needs = focus_set_from_proto(&mut v, "needs", &needs);
    let evaluations = evaluations_from_proto(&mut v, evaluations);
    v.extend(validate_evaluations(&evaluations));
    let context = ContextMeasures {
        fsm_percent,
        deprivation_percent,
        aln_percent,
        eal_percent,
    };
    let family_id = (!family_id.is_empty()).then_some(family_id);
    let affiliations = Affiliations {
        trust: trust.map(affiliation_from_proto),
        federation: federation.map(affiliation_from_proto),
        diocese: diocese.map(affiliation_from_proto),
    };
    affiliations.validate(&mut v);
    // Every other field is checked even when a required one is missing, so
    // the client hears of every problem at once.
    v.extend(
        SchoolFields {
            name: &name,
            latitude,
            longitude,
            local_authority: &local_authority,
            consortium: &consortium,
            pupils,
            context,
            family_id: family_id.as_deref(),
            capacity,
            religious_character: &religious_character,
        }
        .validate(),
    );
    match (id, phase, latitude, longitude) {
        (Some(id), Some(phase), Some(latitude), Some(longitude)) if v.is_empty() => Ok(School {
            id,
            name,
            phase,
            stage,
            language_medium,
            location: GeoPoint::new(latitude, longitude),
            local_authority,
            consortium,
            pupils,
            context,
            family_id,
            strengths,
            needs,
            capacity,
            religious_character,
            open: open.unwrap_or(true),
            evaluations,
            affiliations,
        }),
        _ => Err(v),
    }
}

fn affiliation_from_proto(body: pb::Affiliation) -> Affiliation {
    Affiliation {
        code: body.code,
        name: body.name,
    }
}

fn affiliation_to_proto(body: Option<&Affiliation>) -> Option<pb::Affiliation> {
    body.map(|body| pb::Affiliation {
        code: body.code.clone(),
        name: body.name.clone(),
    })
}

/// The `school` field of a request, converted; field paths start `school.`.
pub(crate) fn required_school(school: Option<pb::School>) -> Result<School, Violations> {
    match school {
        Some(school) => school_from_proto(school).map_err(|v| v.prefixed("school")),
        None => {
            let mut v = Violations::new();
            v.push("school", "is required");
            Err(v)
        }
    }
}

/// A school record as a client sends it: the record's own fields, none of
/// the derived ones (what `partnermatch import --target` streams).
pub fn school_record_to_proto(school: &School) -> pb::School {
    record_to_proto(school, &[])
}

/// The record's fields, its evaluations marked `stale` (in order).
fn record_to_proto(school: &School, stale: &[bool]) -> pb::School {
    pb::School {
        id: school.id.to_string(),
        name: school.name.clone(),
        phase: to_wire(school.phase),
        stage: optional_to_wire(school.stage),
        language_medium: optional_to_wire(school.language_medium),
        latitude: Some(school.location.latitude),
        longitude: Some(school.location.longitude),
        local_authority: school.local_authority.clone(),
        consortium: school.consortium.clone(),
        pupils: school.pupils,
        fsm_percent: school.context.fsm_percent,
        deprivation_percent: school.context.deprivation_percent,
        aln_percent: school.context.aln_percent,
        eal_percent: school.context.eal_percent,
        challenge_index: None,
        family_id: school.family_id.clone().unwrap_or_default(),
        strengths: focus_set_to_proto(school.strengths),
        needs: focus_set_to_proto(school.needs),
        capacity: school.capacity,
        religious_character: school.religious_character.clone(),
        open: Some(school.open),
        effective_capacity: 0,
        evaluations: evaluations_to_proto(&school.evaluations, stale),
        evidence: None,
        trust: affiliation_to_proto(school.affiliations.trust.as_ref()),
        federation: affiliation_to_proto(school.affiliations.federation.as_ref()),
        diocese: affiliation_to_proto(school.affiliations.diocese.as_ref()),
    }
}

/// A stored school with what the server derives, and its family (given or
/// computed: the snapshot holds a computed one).
pub fn school_to_proto(stored: &StoredSchool, family_id: Option<String>) -> pb::School {
    pb::School {
        challenge_index: stored.challenge_index,
        family_id: family_id.unwrap_or_default(),
        effective_capacity: stored.capacity,
        evidence: Some(evidence_to_proto(&stored.evidence)),
        ..record_to_proto(&stored.school, &stored.evidence.stale)
    }
}

/// A ListSchools request: its filter and page.
pub(crate) fn list_schools_from_proto(
    request: pb::ListSchoolsRequest,
) -> Result<(ListFilter, PageRequest), Violations> {
    let pb::ListSchoolsRequest {
        page_size,
        page_token,
        consortium,
        local_authority,
        phase,
        stage,
        family_id,
        trust_code,
    } = request;
    let mut v = Violations::new();
    let page = page_request(
        &mut v,
        "ListSchools",
        &(
            &consortium,
            &local_authority,
            phase,
            stage,
            &family_id,
            &trust_code,
        ),
        page_size,
        &page_token,
    );
    for (field, text, max) in [
        ("consortium", &consortium, limits::AREA_MAX_CHARS),
        ("local_authority", &local_authority, limits::AREA_MAX_CHARS),
        ("family_id", &family_id, limits::FAMILY_ID_MAX_CHARS),
        (
            "trust_code",
            &trust_code,
            affiliation_limits::CODE_MAX_CHARS,
        ),
    ] {
        v.check_text(field, text, 0, max, TextKind::Line);
    }
    let filter = ListFilter {
        phase: optional(&mut v, "phase", phase),
        stage: optional(&mut v, "stage", stage),
        consortium,
        local_authority,
        family_id,
        trust_code,
    };
    v.into_result((filter, page))
}

pub(crate) fn list_schools_to_proto(
    page: &Page<SchoolView>,
    request: &PageRequest,
) -> pb::ListSchoolsResponse {
    pb::ListSchoolsResponse {
        schools: page
            .items
            .iter()
            .map(|school| school_to_proto(&school.stored, school.family_id.clone()))
            .collect(),
        next_page_token: next_page_token(page, request),
        total_size: page.total,
    }
}

/// One message of an ImportSchools stream: the id as sent (for the report)
/// and the school, converted.
pub(crate) fn import_message_from_proto(
    message: pb::ImportSchoolsRequest,
) -> (String, Result<School, Violations>) {
    let pb::ImportSchoolsRequest { school, merge: _ } = message;
    let raw_id = school
        .as_ref()
        .map(|s| s.id.chars().take(limits::ID_MAX_CHARS).collect())
        .unwrap_or_default();
    (raw_id, required_school(school))
}

/// The merge an ImportSchools message asks for: `Ok(None)` when it leaves
/// it unset.
pub(crate) fn import_merge_from_proto(
    message: &pb::ImportSchoolsRequest,
) -> Result<Option<ImportMerge>, Violations> {
    let mut v = Violations::new();
    let merge = optional(&mut v, "merge", message.merge);
    v.into_result(merge)
}

/// One message of an ImportSchools stream that changes a stored school
/// (`merge` EVALUATIONS or FSM_PERCENT): the id as sent, and the id with
/// the change. Only the id and the merged field are read; field paths
/// start `school.`.
pub(crate) fn import_change_from_proto(
    message: pb::ImportSchoolsRequest,
    merge: ImportMerge,
) -> (String, Result<(SchoolId, StoredChange), Violations>) {
    let pb::ImportSchoolsRequest { school, merge: _ } = message;
    let Some(school) = school else {
        let mut v = Violations::new();
        v.push("school", "is required");
        return (String::new(), Err(v));
    };
    let raw_id: String = school.id.chars().take(limits::ID_MAX_CHARS).collect();
    let mut v = Violations::new();
    let id = school_id(&mut v, "id", &school.id);
    let change = match merge {
        ImportMerge::FsmPercent => {
            if let Some(percent) = school.fsm_percent {
                v.check_range("fsm_percent", percent, 0.0, 100.0);
            }
            StoredChange::FsmPercent(school.fsm_percent)
        }
        ImportMerge::Evaluations | ImportMerge::Replace | ImportMerge::Register => {
            let evaluations = evaluations_from_proto(&mut v, school.evaluations);
            v.extend(validate_evaluations(&evaluations));
            StoredChange::Evaluations(evaluations)
        }
    };
    let result = match id {
        Some(id) if v.is_empty() => Ok((id, change)),
        _ => Err(v.prefixed("school")),
    };
    (raw_id, result)
}

pub(crate) fn rejection_to_proto(rejection: &Rejection) -> pb::ImportError {
    pb::ImportError {
        index: u32::try_from(rejection.position).unwrap_or(u32::MAX),
        school_id: rejection.school_id.clone().unwrap_or_default(),
        field: rejection.field.clone(),
        message: rejection.message.clone(),
    }
}

/// The family sizes a ComputeFamilies request asks for; `None` keeps those
/// in use.
pub(crate) fn family_sizes_from_proto(
    request: pb::ComputeFamiliesRequest,
    in_use: FamilyConfig,
) -> Option<FamilyConfig> {
    let pb::ComputeFamiliesRequest {
        target_size,
        min_size,
    } = request;
    (target_size.is_some() || min_size.is_some()).then(|| FamilyConfig {
        target_size: target_size.map_or(in_use.target_size, |n| n as usize),
        min_size: min_size.map_or(in_use.min_size, |n| n as usize),
    })
}

pub(crate) fn families_to_proto(report: &FamiliesReport) -> pb::ComputeFamiliesResponse {
    pb::ComputeFamiliesResponse {
        families: report
            .families
            .iter()
            .map(|family| pb::Family {
                id: family.id.clone(),
                phase: to_wire(family.phase),
                language_group: family.language_group.to_owned(),
                size_band: family.size_band.to_owned(),
                member_ids: family.members.iter().map(ToString::to_string).collect(),
                challenge_min: family.challenge_min,
                challenge_max: family.challenge_max,
            })
            .collect(),
        target_size: report.sizes.target_size as u32,
        min_size: report.sizes.min_size as u32,
        in_use: report.in_use,
        given_family_schools: report.given,
        without_challenge_index: report.without_challenge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_school() -> pb::School {
        pb::School {
            id: "6602130".into(),
            name: "Ysgol Gynradd Amlwch".into(),
            phase: pb::Phase::Primary as i32,
            stage: pb::Stage::Amber as i32,
            latitude: Some(53.41),
            longitude: Some(-4.35),
            ..Default::default()
        }
    }

    #[test]
    fn school_round_trip_keeps_every_client_field() {
        let mut proto = valid_school();
        proto.strengths = vec![
            pb::FocusArea::Literacy as i32,
            pb::FocusArea::Literacy as i32,
        ];
        proto.fsm_percent = Some(22.5);
        proto.capacity = Some(2);
        proto.open = Some(false);
        let school = school_from_proto(proto.clone()).unwrap();
        assert_eq!(school.strengths.len(), 1, "duplicates removed");
        let stored = StoredSchool::new(
            school,
            Some(22.5),
            &crate::engine::EvidenceConfig::default().rules(),
        );
        let back = school_to_proto(&stored, Some("auto-x".into()));
        assert_eq!(back.id, proto.id);
        assert_eq!(back.strengths, vec![pb::FocusArea::Literacy as i32]);
        assert_eq!(
            (back.capacity, back.effective_capacity, back.open),
            (Some(2), 2, Some(false))
        );
        assert_eq!(back.challenge_index, Some(22.5));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let proto = pb::School {
            id: "".into(),
            name: "".into(),
            phase: 0,
            stage: 9,
            language_medium: 42,
            latitude: Some(f64::NAN),
            longitude: None,
            fsm_percent: Some(101.0),
            strengths: vec![0, 99],
            ..Default::default()
        };
        let violations = school_from_proto(proto).unwrap_err();
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "id",
                "phase",
                "stage",
                "language_medium",
                "longitude",
                "strengths[0]",
                "strengths[1]",
                "name",
                "latitude",
                "fsm_percent"
            ]
        );
    }
}
