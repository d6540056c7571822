//! Proto ↔ domain conversion. Inbound conversions destructure the message
//! without `..`, so a new proto field does not compile until someone decides
//! what it means, and gather every violation instead of stopping at the first.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::{
    ContextMeasures, FocusArea, FocusSet, GeoPoint, LanguageMedium, MatchMode, Phase,
    PhaseRelation, School, SchoolFields, SchoolId, Stage, StoredSchool, TextKind, Violations,
};
use crate::engine::{
    AssignmentSummary, BrokerOutcome, BrokerQuery, Constraints, Factor, GroupKind, GroupQuery,
    GroupsOutcome, MatchOutcome, MatchQuery, RankedCandidate, ScoringConfig, SeekerFilter,
    SeekerSelection, Snapshot, broker_limits, limits,
};

use super::pb;

/// ListSchools page size when the request gives none.
pub const PAGE_SIZE_DEFAULT: usize = 50;
/// Largest ListSchools page.
pub const PAGE_SIZE_MAX: usize = 1000;

// ---- enums -----------------------------------------------------------------

/// Reads an enum number: `Err` for numbers the proto does not define (the
/// generated getters would silently turn them into the default).
pub(crate) fn known<E: TryFrom<i32>>(v: &mut Violations, field: &str, value: i32) -> Option<E> {
    match E::try_from(value) {
        Ok(known) => Some(known),
        Err(_) => {
            v.push(field, format!("unknown enum value {value}"));
            None
        }
    }
}

pub(crate) fn phase_from_proto(phase: pb::Phase) -> Option<Phase> {
    match phase {
        pb::Phase::Unspecified => None,
        pb::Phase::Nursery => Some(Phase::Nursery),
        pb::Phase::Primary => Some(Phase::Primary),
        pb::Phase::Middle => Some(Phase::Middle),
        pb::Phase::Secondary => Some(Phase::Secondary),
        pb::Phase::Special => Some(Phase::Special),
        pb::Phase::Pru => Some(Phase::Pru),
    }
}

pub(crate) fn phase_to_proto(phase: Phase) -> pb::Phase {
    match phase {
        Phase::Nursery => pb::Phase::Nursery,
        Phase::Primary => pb::Phase::Primary,
        Phase::Middle => pb::Phase::Middle,
        Phase::Secondary => pb::Phase::Secondary,
        Phase::Special => pb::Phase::Special,
        Phase::Pru => pb::Phase::Pru,
    }
}

pub(crate) fn stage_from_proto(stage: pb::Stage) -> Option<Stage> {
    match stage {
        pb::Stage::Unspecified => None,
        pb::Stage::Red => Some(Stage::Red),
        pb::Stage::Amber => Some(Stage::Amber),
        pb::Stage::Yellow => Some(Stage::Yellow),
        pb::Stage::Green => Some(Stage::Green),
    }
}

pub(crate) fn stage_to_proto(stage: Option<Stage>) -> pb::Stage {
    match stage {
        None => pb::Stage::Unspecified,
        Some(Stage::Red) => pb::Stage::Red,
        Some(Stage::Amber) => pb::Stage::Amber,
        Some(Stage::Yellow) => pb::Stage::Yellow,
        Some(Stage::Green) => pb::Stage::Green,
    }
}

fn language_from_proto(medium: pb::LanguageMedium) -> Option<LanguageMedium> {
    match medium {
        pb::LanguageMedium::Unspecified => None,
        pb::LanguageMedium::English => Some(LanguageMedium::English),
        pb::LanguageMedium::Welsh => Some(LanguageMedium::Welsh),
        pb::LanguageMedium::Bilingual => Some(LanguageMedium::Bilingual),
        pb::LanguageMedium::DualStream => Some(LanguageMedium::DualStream),
        pb::LanguageMedium::Transitional => Some(LanguageMedium::Transitional),
    }
}

fn language_to_proto(medium: Option<LanguageMedium>) -> pb::LanguageMedium {
    match medium {
        None => pb::LanguageMedium::Unspecified,
        Some(LanguageMedium::English) => pb::LanguageMedium::English,
        Some(LanguageMedium::Welsh) => pb::LanguageMedium::Welsh,
        Some(LanguageMedium::Bilingual) => pb::LanguageMedium::Bilingual,
        Some(LanguageMedium::DualStream) => pb::LanguageMedium::DualStream,
        Some(LanguageMedium::Transitional) => pb::LanguageMedium::Transitional,
    }
}

fn focus_from_proto(area: pb::FocusArea) -> Option<FocusArea> {
    Some(match area {
        pb::FocusArea::Unspecified => return None,
        pb::FocusArea::DataAndTracking => FocusArea::DataAndTracking,
        pb::FocusArea::Literacy => FocusArea::Literacy,
        pb::FocusArea::Numeracy => FocusArea::Numeracy,
        pb::FocusArea::SubjectSupport => FocusArea::SubjectSupport,
        pb::FocusArea::SelfEvaluation => FocusArea::SelfEvaluation,
        pb::FocusArea::TeachingAndAssessment => FocusArea::TeachingAndAssessment,
        pb::FocusArea::Curriculum => FocusArea::Curriculum,
        pb::FocusArea::MiddleLeadership => FocusArea::MiddleLeadership,
        pb::FocusArea::SeniorLeadership => FocusArea::SeniorLeadership,
        pb::FocusArea::Wellbeing => FocusArea::Wellbeing,
        pb::FocusArea::Eal => FocusArea::Eal,
        pb::FocusArea::WelshLanguage => FocusArea::WelshLanguage,
        pb::FocusArea::FourteenToNineteen => FocusArea::FourteenToNineteen,
        pb::FocusArea::FoundationPhase => FocusArea::FoundationPhase,
        pb::FocusArea::ClosingFsmGap => FocusArea::ClosingFsmGap,
        pb::FocusArea::Attendance => FocusArea::Attendance,
        pb::FocusArea::Behaviour => FocusArea::Behaviour,
        pb::FocusArea::Aln => FocusArea::Aln,
        pb::FocusArea::Governance => FocusArea::Governance,
        pb::FocusArea::BusinessManagement => FocusArea::BusinessManagement,
        pb::FocusArea::Transition => FocusArea::Transition,
    })
}

fn focus_to_proto(area: FocusArea) -> pb::FocusArea {
    match area {
        FocusArea::DataAndTracking => pb::FocusArea::DataAndTracking,
        FocusArea::Literacy => pb::FocusArea::Literacy,
        FocusArea::Numeracy => pb::FocusArea::Numeracy,
        FocusArea::SubjectSupport => pb::FocusArea::SubjectSupport,
        FocusArea::SelfEvaluation => pb::FocusArea::SelfEvaluation,
        FocusArea::TeachingAndAssessment => pb::FocusArea::TeachingAndAssessment,
        FocusArea::Curriculum => pb::FocusArea::Curriculum,
        FocusArea::MiddleLeadership => pb::FocusArea::MiddleLeadership,
        FocusArea::SeniorLeadership => pb::FocusArea::SeniorLeadership,
        FocusArea::Wellbeing => pb::FocusArea::Wellbeing,
        FocusArea::Eal => pb::FocusArea::Eal,
        FocusArea::WelshLanguage => pb::FocusArea::WelshLanguage,
        FocusArea::FourteenToNineteen => pb::FocusArea::FourteenToNineteen,
        FocusArea::FoundationPhase => pb::FocusArea::FoundationPhase,
        FocusArea::ClosingFsmGap => pb::FocusArea::ClosingFsmGap,
        FocusArea::Attendance => pb::FocusArea::Attendance,
        FocusArea::Behaviour => pb::FocusArea::Behaviour,
        FocusArea::Aln => pb::FocusArea::Aln,
        FocusArea::Governance => pb::FocusArea::Governance,
        FocusArea::BusinessManagement => pb::FocusArea::BusinessManagement,
        FocusArea::Transition => pb::FocusArea::Transition,
    }
}

pub(crate) fn focus_set_to_proto(set: FocusSet) -> Vec<i32> {
    set.iter().map(|area| focus_to_proto(area) as i32).collect()
}

/// A repeated focus field: at most one entry per area (repeats are
/// allowed and merged), every entry a defined, specified area.
pub(crate) fn focus_set_from_proto(v: &mut Violations, field: &str, values: &[i32]) -> FocusSet {
    let mut set = FocusSet::EMPTY;
    if !v.check_count(
        field,
        "entries (one per focus area)",
        values.len(),
        FocusArea::ALL.len(),
    ) {
        return set;
    }
    for (i, value) in values.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if let Some(area) = known::<pb::FocusArea>(v, &path, *value) {
            match focus_from_proto(area) {
                Some(area) => set.insert(area),
                None => v.push(path, "FOCUS_AREA_UNSPECIFIED is not a focus area"),
            }
        }
    }
    set
}

/// Reads a filter's optional enum: unspecified means "any".
pub(crate) fn optional_phase(v: &mut Violations, field: &str, value: i32) -> Option<Phase> {
    known::<pb::Phase>(v, field, value).and_then(phase_from_proto)
}

pub(crate) fn optional_stage(v: &mut Violations, field: &str, value: i32) -> Option<Stage> {
    known::<pb::Stage>(v, field, value).and_then(stage_from_proto)
}

// ---- schools ---------------------------------------------------------------

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
    } = school;
    let mut v = Violations::new();
    let id = SchoolId::parse(&id)
        .map_err(|problem| v.push("id", problem))
        .ok();
    let phase = match known::<pb::Phase>(&mut v, "phase", phase) {
        Some(pb::Phase::Unspecified) => {
            v.push("phase", "is required (PHASE_PRIMARY, PHASE_SECONDARY, ...)");
            None
        }
        Some(phase) => phase_from_proto(phase),
        None => None,
    };
    let stage = optional_stage(&mut v, "stage", stage);
    let language_medium = known::<pb::LanguageMedium>(&mut v, "language_medium", language_medium)
        .and_then(language_from_proto);
    if latitude.is_none() {
        v.push("latitude", "is required");
    }
    if longitude.is_none() {
        v.push("longitude", "is required");
    }
    let strengths = focus_set_from_proto(&mut v, "strengths", &strengths);
    let needs = focus_set_from_proto(&mut v, "needs", &needs);
    let context = ContextMeasures {
        fsm_percent,
        deprivation_percent,
        aln_percent,
        eal_percent,
    };
    let family_id = (!family_id.is_empty()).then_some(family_id);
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
        }),
        _ => Err(v),
    }
}

pub fn school_to_proto(stored: &StoredSchool) -> pb::School {
    let school = &stored.school;
    pb::School {
        id: school.id.to_string(),
        name: school.name.clone(),
        phase: phase_to_proto(school.phase) as i32,
        stage: stage_to_proto(school.stage) as i32,
        language_medium: language_to_proto(school.language_medium) as i32,
        latitude: Some(school.location.latitude),
        longitude: Some(school.location.longitude),
        local_authority: school.local_authority.clone(),
        consortium: school.consortium.clone(),
        pupils: school.pupils,
        fsm_percent: school.context.fsm_percent,
        deprivation_percent: school.context.deprivation_percent,
        aln_percent: school.context.aln_percent,
        eal_percent: school.context.eal_percent,
        challenge_index: stored.challenge_index,
        family_id: stored.family_id.clone().unwrap_or_default(),
        strengths: focus_set_to_proto(school.strengths),
        needs: focus_set_to_proto(school.needs),
        capacity: school.capacity,
        religious_character: school.religious_character.clone(),
        open: Some(school.open),
        effective_capacity: stored.capacity,
    }
}

// ---- page tokens -----------------------------------------------------------

/// Page tokens carry the last id of their page and a MAC over it and the
/// list and filter they were issued for, keyed by a secret this server
/// process draws at start-up. A token edited, forged or presented to
/// another list or filter fails the MAC; a token outlives neither the
/// process nor its filter.
const PAGE_TOKEN_VERSION: u8 = 1;
/// Bytes of the MAC kept in a token (128 bits).
const PAGE_TOKEN_TAG_BYTES: usize = 16;

fn page_token_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        key
    })
}

/// What a page token is bound to: a list and its filter as sent, e.g.
/// `page_scope("ListSchools", &(consortium, phase, ...))`.
pub(crate) fn page_scope(list: &str, filter: &impl std::fmt::Debug) -> String {
    format!("{list}{filter:?}")
}

fn page_mac(scope: &str, after_id: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::KeyInit as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(page_token_key())
        .expect("HMAC takes keys of any length");
    mac.update(&(scope.len() as u64).to_le_bytes());
    mac.update(scope.as_bytes());
    mac.update(after_id);
    mac
}

/// An opaque cursor after `after_id`, valid only for `scope`.
pub(crate) fn encode_page_token(scope: &str, after_id: &str) -> String {
    use hmac::Mac as _;
    let tag = page_mac(scope, after_id.as_bytes()).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(1 + after_id.len() + PAGE_TOKEN_TAG_BYTES);
    bytes.push(PAGE_TOKEN_VERSION);
    bytes.extend_from_slice(after_id.as_bytes());
    bytes.extend_from_slice(&tag[..PAGE_TOKEN_TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The id a token of `scope` continues after, if the token is genuine.
pub(crate) fn decode_page_token(scope: &str, token: &str) -> Option<String> {
    use hmac::Mac as _;
    // The longest genuine token: version, a 64-character id, the tag.
    if token.len() > 4 * (1 + crate::domain::limits::ID_MAX_CHARS + PAGE_TOKEN_TAG_BYTES) / 3 + 4 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (&version, rest) = bytes.split_first()?;
    if version != PAGE_TOKEN_VERSION || rest.len() < PAGE_TOKEN_TAG_BYTES {
        return None;
    }
    let (after_id, tag) = rest.split_at(rest.len() - PAGE_TOKEN_TAG_BYTES);
    page_mac(scope, after_id).verify_truncated_left(tag).ok()?;
    String::from_utf8(after_id.to_vec()).ok()
}

/// The page size and cursor of a list request (`rpc` names it in errors):
/// size 0 means the default; the cursor must come from a response to the
/// same list with the same filter (`scope`).
pub(crate) fn page_request(
    v: &mut Violations,
    rpc: &str,
    scope: &str,
    page_size: u32,
    page_token: &str,
) -> (usize, Option<String>) {
    let size = match usize::try_from(page_size).unwrap_or(usize::MAX) {
        0 => PAGE_SIZE_DEFAULT,
        size if size > PAGE_SIZE_MAX => {
            v.push(
                "page_size",
                format!("must be at most {PAGE_SIZE_MAX}, got {page_size}"),
            );
            PAGE_SIZE_DEFAULT
        }
        size => size,
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let decoded = decode_page_token(scope, page_token);
        if decoded.is_none() {
            v.push(
                "page_token",
                format!(
                    "is not a next_page_token this server gave for {rpc} with these filters (tokens are bound to their list and filters, and last until the server restarts)"
                ),
            );
        }
        decoded
    };
    (size, after)
}

// ---- match -----------------------------------------------------------------

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
        weights,
        proximity_scale_km,
    } = fields;
    let problems_before = v.total();
    let mode = match known::<pb::MatchMode>(v, "mode", mode) {
        Some(pb::MatchMode::Unspecified) => {
            v.push(
                "mode",
                "is required (MATCH_MODE_SUPPORT, MATCH_MODE_LEAD or MATCH_MODE_PEER)",
            );
            MatchMode::Support
        }
        Some(pb::MatchMode::Support) | None => MatchMode::Support,
        Some(pb::MatchMode::Lead) => MatchMode::Lead,
        Some(pb::MatchMode::Peer) => MatchMode::Peer,
    };
    let phase_relation = match known::<pb::PhaseRelation>(v, "phase_relation", phase_relation) {
        Some(pb::PhaseRelation::Unspecified | pb::PhaseRelation::SamePhase) | None => {
            PhaseRelation::SamePhase
        }
        Some(pb::PhaseRelation::CrossPhase) => PhaseRelation::CrossPhase,
        Some(pb::PhaseRelation::AnyPhase) => PhaseRelation::AnyPhase,
    };
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
        school_id,
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
            weights,
            proximity_scale_km,
        },
        config,
    );
    let seeker = SchoolId::parse(&school_id)
        .map_err(|problem| v.push("school_id", problem))
        .ok();
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
            .filter_map(|(i, id)| {
                SchoolId::parse(id)
                    .map_err(|problem| v.push(format!("exclude_ids[{i}]"), problem))
                    .ok()
            })
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

fn factor_to_proto(factor: Factor) -> pb::Factor {
    match factor {
        Factor::Stage => pb::Factor::Stage,
        Factor::Proximity => pb::Factor::Proximity,
        Factor::Context => pb::Factor::Context,
        Factor::Focus => pb::Factor::Focus,
        Factor::Phase => pb::Factor::Phase,
        Factor::Language => pb::Factor::Language,
        Factor::Size => pb::Factor::Size,
        Factor::Load => pb::Factor::Load,
        Factor::TrackRecord => pb::Factor::TrackRecord,
    }
}

pub(crate) fn candidate_to_proto(candidate: &RankedCandidate<'_>) -> pb::Candidate {
    let school = &candidate.school.school;
    let components = candidate
        .components
        .iter()
        .flat_map(|components| components.values())
        .map(|weighted| pb::ScoreComponent {
            factor: factor_to_proto(weighted.component.factor()) as i32,
            value: weighted.component.value,
            weight: weighted.weight,
            contribution: weighted.contribution,
            reason: weighted.component.reason(),
        })
        .collect();
    pb::Candidate {
        rank: candidate.rank,
        school_id: school.id.to_string(),
        name: school.name.clone(),
        phase: phase_to_proto(school.phase) as i32,
        stage: stage_to_proto(school.stage) as i32,
        distance_km: candidate.distance_km,
        score: candidate.score,
        stage_gap: candidate.stage_gap,
        covered_focus: focus_set_to_proto(candidate.covered_focus),
        components,
        local_authority: school.local_authority.clone(),
        language_medium: language_to_proto(school.language_medium) as i32,
    }
}

pub(crate) fn match_response_to_proto(
    outcome: &MatchOutcome<'_>,
    took_micros: u64,
) -> pb::MatchResponse {
    pb::MatchResponse {
        candidates: outcome.candidates.iter().map(candidate_to_proto).collect(),
        considered: outcome.considered,
        search_radius_km: outcome.search_radius_km,
        seeker: Some(school_to_proto(outcome.seeker)),
        took_micros,
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
            if let Err(problem) = SchoolId::parse(id) {
                v.push(format!("{ids_field}[{i}]"), problem);
            }
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
            let stages = if v.check_count("filter.stages", "stages", stages.len(), Stage::ALL.len())
            {
                stages.as_slice()
            } else {
                &[]
            };
            let stages = stages
                .iter()
                .enumerate()
                .filter_map(|(i, stage)| {
                    let field = format!("filter.stages[{i}]");
                    let stage = known::<pb::Stage>(v, &field, *stage)?;
                    let stage = stage_from_proto(stage);
                    if stage.is_none() {
                        v.push(field, "STAGE_UNSPECIFIED is not a stage");
                    }
                    stage
                })
                .collect();
            Some(SeekerSelection::Filter(SeekerFilter {
                consortium,
                local_authority,
                stages,
                phase: optional_phase(v, "filter.phase", phase),
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
    let kind = match known::<pb::GroupKind>(&mut v, "kind", kind) {
        Some(pb::GroupKind::Cluster) => Some(GroupKind::Cluster),
        Some(pb::GroupKind::Federation) => Some(GroupKind::Federation),
        Some(pb::GroupKind::Unspecified) => {
            v.push(
                "kind",
                "is required (GROUP_KIND_CLUSTER or GROUP_KIND_FEDERATION)",
            );
            None
        }
        None => None,
    };
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
                        let school = &snapshot.school(index).school;
                        pb::GroupMember {
                            school_id: school.id.to_string(),
                            name: school.name.clone(),
                            phase: phase_to_proto(school.phase) as i32,
                            stage: stage_to_proto(school.stage) as i32,
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
                partner: Some(candidate_to_proto(&pairing.partner)),
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
        let stored = StoredSchool {
            challenge_index: Some(22.5),
            family_id: Some("auto-x".into()),
            capacity: 2,
            school,
        };
        let back = school_to_proto(&stored);
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

    #[test]
    fn page_tokens_round_trip_and_refuse_edits_and_other_lists() {
        let scope = page_scope("ListSchools", &("CSC", 0, ""));
        let token = encode_page_token(&scope, "6602130");
        assert_eq!(
            decode_page_token(&scope, &token).as_deref(),
            Some("6602130")
        );
        // Another list, another filter.
        assert_eq!(
            decode_page_token(&page_scope("ListPartnerships", &("CSC", 0, "")), &token),
            None
        );
        assert_eq!(
            decode_page_token(&page_scope("ListSchools", &("GwE", 0, "")), &token),
            None
        );
        // Junk, the old format, and every single-byte edit.
        assert_eq!(decode_page_token(&scope, "not a token!"), None);
        assert_eq!(
            decode_page_token(&scope, &URL_SAFE_NO_PAD.encode("after:1")),
            None
        );
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 1;
            assert_eq!(
                decode_page_token(&scope, &URL_SAFE_NO_PAD.encode(edited)),
                None,
                "byte {i}"
            );
        }
        assert_eq!(decode_page_token(&scope, &"A".repeat(10_000)), None);
    }

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
