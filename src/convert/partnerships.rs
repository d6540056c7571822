//! Partnerships: proposals, updates, lists.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::{
    Evaluation, Member, MemberRole, Partnership, PartnershipId, PartnershipKind, Plan, TextKind,
    Violations, limits, partnership_limits,
};
use crate::engine::{
    AreaImpact, FocusWarning, Page, PartnershipChanges, PartnershipFilter, PartnershipUpdate,
    Proposal,
};
use crate::pb;

use super::enums::{
    focus_set_from_proto, focus_set_to_proto, optional, optional_to_wire, read, required, to_wire,
};
use super::pages::{PageRequest, next_page_token, page_request};
use super::schools::school_id;

fn timestamp_to_proto(time: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.as_second(),
        nanos: time.subsec_nanosecond(),
    }
}

/// A proposed partnership with the focus areas neither side has.
pub(crate) fn proposed_to_proto(
    partnership: &Partnership,
    warnings: Vec<FocusWarning>,
) -> pb::Partnership {
    pb::Partnership {
        focus_warnings: warnings
            .into_iter()
            .map(|warning| pb::FocusWarning {
                area: to_wire(warning.area),
                reason: warning.reason,
            })
            .collect(),
        ..partnership_to_proto(partnership)
    }
}

pub(crate) fn partnership_to_proto(partnership: &Partnership) -> pb::Partnership {
    let plan = &partnership.plan;
    pb::Partnership {
        id: partnership.id.to_string(),
        kind: to_wire(partnership.kind),
        status: to_wire(partnership.status),
        members: partnership
            .members
            .iter()
            .map(|member| pb::PartnershipMember {
                school_id: member.school_id.to_string(),
                role: to_wire(member.role),
            })
            .collect(),
        focus: focus_set_to_proto(partnership.focus),
        identified_need: plan.identified_need.clone(),
        strategic_objectives: plan.strategic_objectives.clone(),
        provision: plan.provision.clone(),
        action_plan: plan.action_plan.clone(),
        success_criteria: plan.success_criteria.clone(),
        review_date: plan
            .review_date
            .map(|date| date.to_string())
            .unwrap_or_default(),
        impact_rating: optional_to_wire(partnership.impact_rating),
        impact_notes: partnership.impact_notes.clone(),
        version: partnership.version,
        created_at: Some(timestamp_to_proto(partnership.created_at)),
        updated_at: Some(timestamp_to_proto(partnership.updated_at)),
        started_at: partnership.started_at.map(timestamp_to_proto),
        finished_at: partnership.finished_at.map(timestamp_to_proto),
        impact_evidence: Vec::new(),
        focus_warnings: Vec::new(),
    }
}

/// A partnership with the evidence of its impact (GetPartnership).
pub(crate) fn partnership_with_impact_to_proto(
    partnership: &Partnership,
    impact: &[AreaImpact],
) -> pb::Partnership {
    pb::Partnership {
        impact_evidence: impact.iter().map(area_impact_to_proto).collect(),
        ..partnership_to_proto(partnership)
    }
}

fn area_impact_to_proto(impact: &AreaImpact) -> pb::AreaImpact {
    // Impact evidence is shown whatever its age: not marked stale.
    let evaluation = |evaluation: &Option<Evaluation>| {
        evaluation
            .as_ref()
            .map(|e| super::evidence::evaluation_to_proto(e, false))
    };
    pb::AreaImpact {
        school_id: impact.school_id.to_string(),
        area: to_wire(impact.area),
        before: evaluation(&impact.before),
        after: evaluation(&impact.after),
    }
}

pub(crate) fn partnership_id(v: &mut Violations, field: &str, id: &str) -> Option<PartnershipId> {
    PartnershipId::parse(id)
        .map_err(|problem| v.push(field, problem))
        .ok()
}

/// Review dates a partnership may have: year 0 or 9999 is a typing slip.
const REVIEW_DATES: (Date, Date) = (
    jiff::civil::date(2000, 1, 1),
    jiff::civil::date(2199, 12, 31),
);

/// `YYYY-MM-DD`; empty is `None`.
fn review_date(v: &mut Violations, text: &str) -> Option<Date> {
    (!text.is_empty())
        .then(|| v.check_date_within("review_date", text, REVIEW_DATES))
        .flatten()
}

pub(crate) fn proposal_from_proto(
    request: pb::ProposePartnershipRequest,
) -> Result<Proposal, Violations> {
    let pb::ProposePartnershipRequest {
        id,
        kind,
        members,
        focus,
        identified_need,
        strategic_objectives,
        provision,
        action_plan,
        success_criteria,
        review_date: date,
    } = request;
    let mut v = Violations::new();
    let id = (!id.is_empty())
        .then(|| partnership_id(&mut v, "id", &id))
        .flatten();
    let kind = required::<PartnershipKind>(&mut v, "kind", kind);
    let directed = kind.is_some_and(PartnershipKind::is_directed);
    let members = if v.check_count(
        "members",
        "members",
        members.len(),
        partnership_limits::MEMBERS_MAX,
    ) {
        members
    } else {
        Vec::new()
    };
    let members: Vec<Member> = members
        .into_iter()
        .enumerate()
        .filter_map(|(i, member)| {
            let school = school_id(
                &mut v,
                &format!("members[{i}].school_id"),
                &member.school_id,
            );
            let field = format!("members[{i}].role");
            let role = match read::<MemberRole>(&mut v, &field, member.role)? {
                Some(role) => role,
                None if !directed => MemberRole::Member,
                None => {
                    v.push(
                        field,
                        "is required: MEMBER_ROLE_SUPPORTER or MEMBER_ROLE_SUPPORTED in this kind of partnership",
                    );
                    return None;
                }
            };
            Some(Member {
                school_id: school?,
                role,
            })
        })
        .collect();
    let focus = focus_set_from_proto(&mut v, "focus", &focus);
    let plan = Plan {
        identified_need,
        strategic_objectives,
        provision,
        action_plan,
        success_criteria,
        review_date: review_date(&mut v, &date),
    };
    let Some(kind) = kind else {
        return Err(v);
    };
    let proposal = Proposal {
        id,
        kind,
        members,
        focus,
        plan,
    };
    // Member and text rules only when every member converted, so counts are
    // not reported against a list with holes.
    if v.is_empty() {
        v.extend(proposal.validate());
    }
    v.into_result(proposal)
}

pub(crate) fn update_from_proto(
    request: pb::UpdatePartnershipRequest,
) -> Result<PartnershipUpdate, Violations> {
    let pb::UpdatePartnershipRequest {
        id,
        version,
        status,
        focus,
        identified_need,
        strategic_objectives,
        provision,
        action_plan,
        success_criteria,
        review_date: date,
        impact_rating,
        impact_notes,
    } = request;
    let mut v = Violations::new();
    let id = partnership_id(&mut v, "id", &id);
    let changes = PartnershipChanges {
        status: optional(&mut v, "status", status),
        focus: focus.map(|list| focus_set_from_proto(&mut v, "focus.areas", &list.areas)),
        identified_need,
        strategic_objectives,
        provision,
        action_plan,
        success_criteria,
        review_date: date.map(|text| review_date(&mut v, &text)),
        impact_rating: optional(&mut v, "impact_rating", impact_rating),
        impact_notes,
    };
    v.extend(PartnershipUpdate::check_version(version));
    v.extend(changes.validate());
    match id {
        Some(id) if v.is_empty() => Ok(PartnershipUpdate {
            id,
            version,
            changes,
        }),
        _ => Err(v),
    }
}

/// A ListPartnerships request: its filter and page.
pub(crate) fn list_partnerships_from_proto(
    request: pb::ListPartnershipsRequest,
) -> Result<(PartnershipFilter, PageRequest), Violations> {
    let pb::ListPartnershipsRequest {
        page_size,
        page_token,
        school_id: school,
        status,
        kind,
        consortium,
    } = request;
    let mut v = Violations::new();
    let page = page_request(
        &mut v,
        "ListPartnerships",
        &(&school, status, kind, &consortium),
        page_size,
        &page_token,
    );
    if !school.is_empty() {
        school_id(&mut v, "school_id", &school);
    }
    v.check_text(
        "consortium",
        &consortium,
        0,
        limits::AREA_MAX_CHARS,
        TextKind::Line,
    );
    let filter = PartnershipFilter {
        school_id: school,
        status: optional(&mut v, "status", status),
        kind: optional(&mut v, "kind", kind),
        consortium,
    };
    v.into_result((filter, page))
}

pub(crate) fn list_partnerships_to_proto(
    page: &Page<Arc<Partnership>>,
    request: &PageRequest,
) -> pb::ListPartnershipsResponse {
    pb::ListPartnershipsResponse {
        partnerships: page.items.iter().map(|p| partnership_to_proto(p)).collect(),
        next_page_token: next_page_token(page, request),
        total_size: page.total,
    }
}
