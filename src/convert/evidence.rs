//! Evaluations and the evidence derived from them.

use crate::domain::{
    Derivation, Evaluation, EvaluationArea, EvaluationFramework, Evidence, FocusSet, Judgement,
    Violations, evidence_limits,
};
use crate::pb;

use super::enums::{focus_set_to_proto, optional_to_wire, required, to_wire};

/// A school's evaluations from the wire; field paths `evaluations[i].…`.
/// Whether each framework judges the area with that word is checked with
/// the rest of the school ([`crate::domain::validate_evaluations`]).
pub(crate) fn evaluations_from_proto(
    v: &mut Violations,
    evaluations: Vec<pb::Evaluation>,
) -> Vec<Evaluation> {
    if !v.check_count(
        "evaluations",
        "evaluations",
        evaluations.len(),
        evidence_limits::MAX_EVALUATIONS,
    ) {
        return Vec::new();
    }
    let mut read = Vec::with_capacity(evaluations.len());
    for (i, evaluation) in evaluations.into_iter().enumerate() {
        let pb::Evaluation {
            framework,
            area,
            judgement,
            date,
            source,
            // Output only.
            grade: _,
            stale: _,
        } = evaluation;
        let field = |name: &str| format!("evaluations[{i}].{name}");
        let framework = required::<EvaluationFramework>(v, &field("framework"), framework);
        let area = required::<EvaluationArea>(v, &field("area"), area);
        let judgement = required::<Judgement>(v, &field("judgement"), judgement);
        let date = v.check_date_within(&field("date"), &date, evidence_limits::DATES);
        if let (Some(framework), Some(area), Some(judgement), Some(date)) =
            (framework, area, judgement, date)
        {
            read.push(Evaluation {
                framework,
                area,
                judgement,
                date,
                source,
            });
        }
    }
    read
}

/// Evaluations with their `stale` flags (missing flags: not stale).
/// Evaluations as a client sends them (no derived fields).
pub fn evaluations_record_to_proto(evaluations: &[Evaluation]) -> Vec<pb::Evaluation> {
    evaluations_to_proto(evaluations, &[])
}

pub(crate) fn evaluations_to_proto(
    evaluations: &[Evaluation],
    stale: &[bool],
) -> Vec<pb::Evaluation> {
    evaluations
        .iter()
        .zip(stale.iter().chain(std::iter::repeat(&false)))
        .map(|(evaluation, stale)| evaluation_to_proto(evaluation, *stale))
        .collect()
}

pub(crate) fn evaluation_to_proto(evaluation: &Evaluation, stale: bool) -> pb::Evaluation {
    pb::Evaluation {
        framework: to_wire(evaluation.framework),
        area: to_wire(evaluation.area),
        judgement: to_wire(evaluation.judgement),
        date: evaluation.date.to_string(),
        source: evaluation.source.clone(),
        grade: optional_to_wire(evaluation.grade()),
        stale,
    }
}

pub(crate) fn evidence_to_proto(evidence: &Evidence) -> pb::Evidence {
    let (strengths, strengths_reason) = focus_with_reason(&evidence.strengths);
    let (needs, needs_reason) = focus_with_reason(&evidence.needs);
    pb::Evidence {
        stage: optional_to_wire(evidence.stage.value()),
        stage_reason: reason(&evidence.stage),
        strengths,
        strengths_reason,
        needs,
        needs_reason,
        safeguarding_not_met: evidence.safeguarding_not_met,
        safeguarding_reason: evidence.safeguarding_reason.clone(),
    }
}

fn focus_with_reason(derivation: &Derivation<FocusSet>) -> (Vec<i32>, String) {
    (
        focus_set_to_proto(derivation.value().unwrap_or(FocusSet::EMPTY)),
        reason(derivation),
    )
}

fn reason<T>(derivation: &Derivation<T>) -> String {
    match derivation {
        Derivation::Given(_) => "given".to_owned(),
        Derivation::Derived(_, reason) | Derivation::Unknown(reason) => reason.clone(),
    }
}
