//! The PartnershipRegistry service and its proto ↔ domain conversions.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use tonic::{Request, Response, Status};

use crate::domain::{
    ImpactRating, Member, MemberRole, Partnership, PartnershipId, PartnershipKind,
    PartnershipStatus, Plan, SchoolId, TextKind, Violations, quoted,
};
use crate::engine::{Engine, Error, PartnershipFilter, PartnershipUpdate, Proposal};

use super::convert::{
    encode_page_token, focus_set_from_proto, focus_set_to_proto, known, page_request, page_scope,
};
use super::error::{OrStatus, invalid};
use super::pb;
use super::pb::partnership_registry_server::PartnershipRegistry;

pub struct PartnershipService {
    engine: Arc<Engine>,
}

impl PartnershipService {
    pub fn new(engine: Arc<Engine>) -> PartnershipService {
        PartnershipService { engine }
    }

    async fn write<T, F>(&self, write: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
    {
        super::write_off_workers(&self.engine, write).await
    }
}

// ---- enums -----------------------------------------------------------------

fn kind_from_proto(kind: pb::PartnershipKind) -> Option<PartnershipKind> {
    Some(match kind {
        pb::PartnershipKind::Unspecified => return None,
        pb::PartnershipKind::Support => PartnershipKind::Support,
        pb::PartnershipKind::Peer => PartnershipKind::Peer,
        pb::PartnershipKind::LeadEmerging => PartnershipKind::LeadEmerging,
        pb::PartnershipKind::Transition => PartnershipKind::Transition,
        pb::PartnershipKind::Cluster => PartnershipKind::Cluster,
        pb::PartnershipKind::SoftFederation => PartnershipKind::SoftFederation,
        pb::PartnershipKind::HardFederation => PartnershipKind::HardFederation,
    })
}

fn kind_to_proto(kind: PartnershipKind) -> pb::PartnershipKind {
    match kind {
        PartnershipKind::Support => pb::PartnershipKind::Support,
        PartnershipKind::Peer => pb::PartnershipKind::Peer,
        PartnershipKind::LeadEmerging => pb::PartnershipKind::LeadEmerging,
        PartnershipKind::Transition => pb::PartnershipKind::Transition,
        PartnershipKind::Cluster => pb::PartnershipKind::Cluster,
        PartnershipKind::SoftFederation => pb::PartnershipKind::SoftFederation,
        PartnershipKind::HardFederation => pb::PartnershipKind::HardFederation,
    }
}

fn status_from_proto(status: pb::PartnershipStatus) -> Option<PartnershipStatus> {
    Some(match status {
        pb::PartnershipStatus::Unspecified => return None,
        pb::PartnershipStatus::Proposed => PartnershipStatus::Proposed,
        pb::PartnershipStatus::Agreed => PartnershipStatus::Agreed,
        pb::PartnershipStatus::Active => PartnershipStatus::Active,
        pb::PartnershipStatus::Completed => PartnershipStatus::Completed,
        pb::PartnershipStatus::Ended => PartnershipStatus::Ended,
    })
}

fn status_to_proto(status: PartnershipStatus) -> pb::PartnershipStatus {
    match status {
        PartnershipStatus::Proposed => pb::PartnershipStatus::Proposed,
        PartnershipStatus::Agreed => pb::PartnershipStatus::Agreed,
        PartnershipStatus::Active => pb::PartnershipStatus::Active,
        PartnershipStatus::Completed => pb::PartnershipStatus::Completed,
        PartnershipStatus::Ended => pb::PartnershipStatus::Ended,
    }
}

fn rating_from_proto(rating: pb::ImpactRating) -> Option<ImpactRating> {
    Some(match rating {
        pb::ImpactRating::Unspecified => return None,
        pb::ImpactRating::Red => ImpactRating::Red,
        pb::ImpactRating::Amber => ImpactRating::Amber,
        pb::ImpactRating::Yellow => ImpactRating::Yellow,
        pb::ImpactRating::Green => ImpactRating::Green,
    })
}

fn rating_to_proto(rating: Option<ImpactRating>) -> pb::ImpactRating {
    match rating {
        None => pb::ImpactRating::Unspecified,
        Some(ImpactRating::Red) => pb::ImpactRating::Red,
        Some(ImpactRating::Amber) => pb::ImpactRating::Amber,
        Some(ImpactRating::Yellow) => pb::ImpactRating::Yellow,
        Some(ImpactRating::Green) => pb::ImpactRating::Green,
    }
}

fn role_to_proto(role: MemberRole) -> pb::MemberRole {
    match role {
        MemberRole::Supporter => pb::MemberRole::Supporter,
        MemberRole::Supported => pb::MemberRole::Supported,
        MemberRole::Member => pb::MemberRole::Member,
    }
}

// ---- messages --------------------------------------------------------------

fn timestamp_to_proto(time: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.as_second(),
        nanos: time.subsec_nanosecond(),
    }
}

pub(crate) fn partnership_to_proto(partnership: &Partnership) -> pb::Partnership {
    let plan = &partnership.plan;
    pb::Partnership {
        id: partnership.id.to_string(),
        kind: kind_to_proto(partnership.kind) as i32,
        status: status_to_proto(partnership.status) as i32,
        members: partnership
            .members
            .iter()
            .map(|member| pb::PartnershipMember {
                school_id: member.school_id.to_string(),
                role: role_to_proto(member.role) as i32,
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
        impact_rating: rating_to_proto(partnership.impact_rating) as i32,
        impact_notes: partnership.impact_notes.clone(),
        version: partnership.version,
        created_at: Some(timestamp_to_proto(partnership.created_at)),
        updated_at: Some(timestamp_to_proto(partnership.updated_at)),
        started_at: partnership.started_at.map(timestamp_to_proto),
        finished_at: partnership.finished_at.map(timestamp_to_proto),
    }
}

fn school_id(v: &mut Violations, field: &str, id: &str) -> Option<SchoolId> {
    SchoolId::parse(id)
        .map_err(|problem| v.push(field, problem))
        .ok()
}

fn partnership_id(v: &mut Violations, field: &str, id: &str) -> Option<PartnershipId> {
    PartnershipId::parse(id)
        .map_err(|problem| v.push(field, problem))
        .ok()
}

/// `YYYY-MM-DD`; empty is `None`.
fn review_date(v: &mut Violations, text: &str) -> Option<Date> {
    if text.is_empty() {
        return None;
    }
    let (earliest, latest) = REVIEW_DATES;
    match text.parse::<Date>() {
        Ok(date) if text.len() == 10 && (earliest..=latest).contains(&date) => Some(date),
        Ok(date) if text.len() == 10 => {
            v.push(
                "review_date",
                format!("must be between {earliest} and {latest}, got {date}"),
            );
            None
        }
        _ => {
            v.push(
                "review_date",
                format!("must be a date YYYY-MM-DD, got {}", quoted(text)),
            );
            None
        }
    }
}

/// Review dates a partnership may have: year 0 or 9999 is a typing slip.
const REVIEW_DATES: (Date, Date) = (
    jiff::civil::date(2000, 1, 1),
    jiff::civil::date(2199, 12, 31),
);

fn proposal_from_proto(request: pb::ProposePartnershipRequest) -> Result<Proposal, Violations> {
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
    let kind = match known::<pb::PartnershipKind>(&mut v, "kind", kind).map(kind_from_proto) {
        Some(Some(kind)) => Some(kind),
        Some(None) => {
            v.push("kind", "is required");
            None
        }
        None => None,
    };
    let directed = kind.is_some_and(PartnershipKind::is_directed);
    let members = if v.check_count(
        "members",
        "members",
        members.len(),
        crate::domain::partnership_limits::MEMBERS_MAX,
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
            let role = match known::<pb::MemberRole>(&mut v, &field, member.role)? {
                pb::MemberRole::Supporter => MemberRole::Supporter,
                pb::MemberRole::Supported => MemberRole::Supported,
                pb::MemberRole::Member => MemberRole::Member,
                pb::MemberRole::Unspecified if !directed => MemberRole::Member,
                pb::MemberRole::Unspecified => {
                    v.push(
                        field,
                        "is required: SUPPORTER or SUPPORTED in this kind of partnership",
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

fn update_from_proto(
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
    let mut update = PartnershipUpdate::new(
        id.clone().unwrap_or_else(|| PartnershipId::numbered(0)),
        version,
    );
    update.status =
        known::<pb::PartnershipStatus>(&mut v, "status", status).and_then(status_from_proto);
    update.focus = focus.map(|list| focus_set_from_proto(&mut v, "focus.areas", &list.areas));
    update.identified_need = identified_need;
    update.strategic_objectives = strategic_objectives;
    update.provision = provision;
    update.action_plan = action_plan;
    update.success_criteria = success_criteria;
    update.review_date = date.map(|text| review_date(&mut v, &text));
    update.impact_rating = known::<pb::ImpactRating>(&mut v, "impact_rating", impact_rating)
        .and_then(rating_from_proto);
    update.impact_notes = impact_notes;
    v.extend(update.validate());
    if id.is_none() {
        return Err(v);
    }
    v.into_result(update)
}

#[tonic::async_trait]
impl PartnershipRegistry for PartnershipService {
    async fn propose_partnership(
        &self,
        request: Request<pb::ProposePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let proposal = proposal_from_proto(request.into_inner()).map_err(invalid)?;
        let partnership = self
            .write(move |engine| engine.propose_partnership(proposal))
            .await?;
        tracing::info!(id = %partnership.id, kind = %partnership.kind, "partnership proposed");
        Ok(Response::new(partnership_to_proto(&partnership)))
    }

    async fn update_partnership(
        &self,
        request: Request<pb::UpdatePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let update = update_from_proto(request.into_inner()).map_err(invalid)?;
        let partnership = self
            .write(move |engine| engine.update_partnership(update))
            .await?;
        tracing::info!(
            id = %partnership.id,
            status = %partnership.status,
            version = partnership.version,
            "partnership updated"
        );
        Ok(Response::new(partnership_to_proto(&partnership)))
    }

    async fn get_partnership(
        &self,
        request: Request<pb::GetPartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        let pb::GetPartnershipRequest { id } = request.into_inner();
        let mut v = Violations::new();
        let id = partnership_id(&mut v, "id", &id).ok_or_else(|| invalid(v))?;
        let partnership = self.engine.get_partnership(id.as_str()).or_status()?;
        Ok(Response::new(partnership_to_proto(&partnership)))
    }

    async fn list_partnerships(
        &self,
        request: Request<pb::ListPartnershipsRequest>,
    ) -> Result<Response<pb::ListPartnershipsResponse>, Status> {
        let pb::ListPartnershipsRequest {
            page_size,
            page_token,
            school_id: school,
            status,
            kind,
            consortium,
        } = request.into_inner();
        let mut v = Violations::new();
        let scope = page_scope("ListPartnerships", &(&school, status, kind, &consortium));
        let (page_size, after) =
            page_request(&mut v, "ListPartnerships", &scope, page_size, &page_token);
        if !school.is_empty() {
            school_id(&mut v, "school_id", &school);
        }
        v.check_text(
            "consortium",
            &consortium,
            0,
            crate::domain::limits::AREA_MAX_CHARS,
            TextKind::Line,
        );
        let filter = PartnershipFilter {
            school_id: school,
            status: known::<pb::PartnershipStatus>(&mut v, "status", status)
                .and_then(status_from_proto),
            kind: known::<pb::PartnershipKind>(&mut v, "kind", kind).and_then(kind_from_proto),
            consortium,
        };
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let page = self
            .engine
            .list_partnerships(&filter, after.as_deref(), page_size);
        Ok(Response::new(pb::ListPartnershipsResponse {
            partnerships: page.items.iter().map(|p| partnership_to_proto(p)).collect(),
            next_page_token: page
                .next_after
                .as_deref()
                .map(|after| encode_page_token(&scope, after))
                .unwrap_or_default(),
            total_size: page.total,
        }))
    }
}
