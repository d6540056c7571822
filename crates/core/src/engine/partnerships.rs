//! The partnership lifecycle: proposals, updates with optimistic
//! concurrency, and the rules that keep the record consistent with the
//! schools (members exist and are open, supporters have capacity, a school
//! is in one hard federation at a time).

use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::{
    FocusArea, FocusSet, ImpactRating, Member, MemberRole, Partnership, PartnershipId,
    PartnershipKind, PartnershipStatus, Plan, SchoolId, Violations, validate_members,
    validate_texts,
};

use super::registry::Registry;
use super::{Error, Result};

/// A new partnership, as proposed.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The id to give it; `None` for the next `p-NNNNNN`.
    pub id: Option<PartnershipId>,
    pub kind: PartnershipKind,
    pub members: Vec<Member>,
    pub focus: FocusSet,
    pub plan: Plan,
}

impl Proposal {
    pub fn validate(&self) -> Violations {
        let mut v = validate_members(self.kind, &self.members);
        v.extend(validate_texts(&self.plan, ""));
        v
    }
}

/// A focus area of a partnership that neither side has: not a need of a
/// school it supports nor a strength of one that supports (of any member
/// where the kind has no such roles). Work on the wrong focus is one of the
/// reasons Estyn found support fails; the proposal is kept, and warned of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusWarning {
    pub area: FocusArea,
    pub reason: String,
}

/// The focus areas of `partnership` that neither side has, by the schools'
/// strengths and needs as `school` gives them (given, or derived from
/// evidence).
pub(crate) fn focus_warnings(
    partnership: &Partnership,
    school: impl Fn(&str) -> Option<(FocusSet, FocusSet)>,
) -> Vec<FocusWarning> {
    let side = |role: MemberRole| -> Vec<&SchoolId> {
        let with_role: Vec<&SchoolId> = partnership.with_role(role).collect();
        if with_role.is_empty() {
            partnership.members.iter().map(|m| &m.school_id).collect()
        } else {
            with_role
        }
    };
    let (receivers, givers) = (side(MemberRole::Supported), side(MemberRole::Supporter));
    let needs: FocusSet = receivers
        .iter()
        .filter_map(|id| school(id.as_str()))
        .fold(FocusSet::EMPTY, |all, (_, needs)| all.union(needs));
    let strengths: FocusSet = givers
        .iter()
        .filter_map(|id| school(id.as_str()))
        .fold(FocusSet::EMPTY, |all, (strengths, _)| all.union(strengths));
    let names = |ids: &[&SchoolId]| match ids {
        [one] => one.to_string(),
        _ => "any member".to_owned(),
    };
    partnership
        .focus
        .iter()
        .filter(|area| !needs.contains(*area) && !strengths.contains(*area))
        .map(|area| FocusWarning {
            area,
            reason: format!(
                "{} is neither a need of {} nor a strength of {}",
                area.label(),
                names(&receivers),
                names(&givers)
            ),
        })
        .collect()
}

/// A change to one partnership, based on the version the caller read.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnershipUpdate {
    pub id: PartnershipId,
    /// The version the change is based on; must be the current one.
    pub version: u64,
    pub changes: PartnershipChanges,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartnershipChanges {
    pub status: Option<PartnershipStatus>,
    pub focus: Option<FocusSet>,
    pub identified_need: Option<String>,
    pub strategic_objectives: Option<String>,
    pub provision: Option<String>,
    pub action_plan: Option<String>,
    pub success_criteria: Option<String>,
    /// `Some(None)` clears the review date.
    pub review_date: Option<Option<Date>>,
    pub impact_rating: Option<ImpactRating>,
    pub impact_notes: Option<String>,
}

impl PartnershipUpdate {
    pub fn validate(&self) -> Violations {
        let mut v = PartnershipUpdate::check_version(self.version);
        v.extend(self.changes.validate());
        v
    }

    /// Version 0 is no version: every stored partnership starts at 1.
    pub fn check_version(version: u64) -> Violations {
        let mut v = Violations::new();
        if version == 0 {
            v.push(
                "version",
                "is required: the version of the partnership the update is based on",
            );
        }
        v
    }
}

impl PartnershipChanges {
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        let texts = [
            ("identified_need", &self.identified_need),
            ("strategic_objectives", &self.strategic_objectives),
            ("provision", &self.provision),
            ("action_plan", &self.action_plan),
            ("success_criteria", &self.success_criteria),
            ("impact_notes", &self.impact_notes),
        ];
        for (field, text) in texts {
            if let Some(text) = text {
                v.check_text(
                    field,
                    text,
                    0,
                    crate::domain::partnership_limits::TEXT_MAX_CHARS,
                    crate::domain::TextKind::Paragraphs,
                );
            }
        }
        v
    }

    /// Whether only the impact fields are set, besides the status (all a
    /// final partnership accepts).
    fn only_impact(&self) -> bool {
        self.focus.is_none()
            && self.identified_need.is_none()
            && self.strategic_objectives.is_none()
            && self.provision.is_none()
            && self.action_plan.is_none()
            && self.success_criteria.is_none()
            && self.review_date.is_none()
    }
}

/// Builds a proposed partnership after checking it against the registry.
pub(super) fn propose(
    registry: &Registry,
    proposal: Proposal,
    now: Timestamp,
) -> Result<Partnership> {
    let id = match proposal.id {
        Some(id) => {
            if registry.partnership(id.as_str()).is_some() {
                return Err(Error::AlreadyExists(format!(
                    "partnership {id:?} already exists"
                )));
            }
            id
        }
        None => registry.next_partnership_id(),
    };
    let mut phases = Vec::new();
    for member in &proposal.members {
        let stored = registry
            .get(member.school_id.as_str())
            .ok_or_else(|| Error::school_not_found(member.school_id.as_str()))?;
        if !stored.school.open {
            return Err(Error::FailedPrecondition(format!(
                "school {:?} is closed; closed schools cannot join a partnership",
                member.school_id.as_str()
            )));
        }
        phases.push(stored.school.phase);
    }
    if proposal.kind == PartnershipKind::Transition && phases.iter().all(|p| *p == phases[0]) {
        return Err(Error::FailedPrecondition(format!(
            "a transition partnership joins schools of different phases; all of these are {}",
            phases[0]
        )));
    }
    let first = proposal.members[0].school_id.as_str();
    let same_schools = |existing: &Partnership| {
        existing.members.len() == proposal.members.len()
            && proposal
                .members
                .iter()
                .all(|m| existing.has_member(m.school_id.as_str()))
    };
    if let Some(existing) = registry
        .partnerships_of(first)
        .into_iter()
        .find(|existing| {
            existing.kind == proposal.kind && !existing.status.is_final() && same_schools(existing)
        })
    {
        return Err(Error::AlreadyExists(format!(
            "these schools already have a {} partnership, {} ({}); update it instead",
            existing.kind, existing.id, existing.status
        )));
    }
    Ok(Partnership {
        id,
        kind: proposal.kind,
        status: PartnershipStatus::Proposed,
        members: proposal.members,
        focus: proposal.focus,
        plan: proposal.plan,
        impact_rating: None,
        impact_notes: String::new(),
        version: 1,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    })
}

/// The partnership after `update`, checked against the lifecycle and the
/// registry; `None` when the update changes nothing.
pub(super) fn update(
    registry: &Registry,
    update: PartnershipUpdate,
    now: Timestamp,
) -> Result<Option<Partnership>> {
    let changes = update.changes;
    let current = registry
        .partnership(update.id.as_str())
        .ok_or_else(|| Error::partnership_not_found(update.id.as_str()))?;
    if update.version != current.version {
        return Err(Error::Aborted(format!(
            "partnership {} is at version {}, the update was based on version {}; read it again and retry",
            current.id, current.version, update.version
        )));
    }
    // A status equal to the current one is no transition.
    let transition = changes.status.filter(|status| *status != current.status);
    let mut next = Partnership::clone(current);
    if let Some(status) = transition {
        if !current.status.can_become(status) {
            let allowed: Vec<&str> = current
                .status
                .next_statuses()
                .into_iter()
                .map(PartnershipStatus::name)
                .collect();
            return Err(Error::FailedPrecondition(format!(
                "partnership {} is {} and cannot become {status} (it can become {}; the lifecycle is proposed → agreed → active → completed, or ended before completion)",
                current.id,
                current.status,
                if allowed.is_empty() {
                    "nothing else".to_owned()
                } else {
                    allowed.join(" or ")
                }
            )));
        }
        if status == PartnershipStatus::Active {
            check_activation(registry, current)?;
            next.started_at = Some(now);
        }
        if status.is_final() {
            next.finished_at = Some(now);
        }
        next.status = status;
    } else if current.status.is_final() && !changes.only_impact() {
        return Err(Error::FailedPrecondition(format!(
            "partnership {} is {}: only its impact_rating and impact_notes can change",
            current.id, current.status
        )));
    }
    if let Some(rating) = changes.impact_rating {
        if next.started_at.is_none() {
            return Err(Error::FailedPrecondition(format!(
                "partnership {} has not been active, so its impact cannot be rated yet",
                current.id
            )));
        }
        next.impact_rating = Some(rating);
    }
    let set = |field: &mut String, value: Option<String>| {
        if let Some(value) = value {
            *field = value;
        }
    };
    set(&mut next.plan.identified_need, changes.identified_need);
    set(
        &mut next.plan.strategic_objectives,
        changes.strategic_objectives,
    );
    set(&mut next.plan.provision, changes.provision);
    set(&mut next.plan.action_plan, changes.action_plan);
    set(&mut next.plan.success_criteria, changes.success_criteria);
    set(&mut next.impact_notes, changes.impact_notes);
    if let Some(review_date) = changes.review_date {
        next.plan.review_date = review_date;
    }
    if let Some(focus) = changes.focus {
        next.focus = focus;
    }
    if next == **current {
        return Ok(None);
    }
    next.version += 1;
    next.updated_at = now;
    Ok(Some(next))
}

/// What must hold for a partnership to become ACTIVE: every member open,
/// every supporter with a free support place, and no member already in
/// another active hard federation.
fn check_activation(registry: &Registry, partnership: &Partnership) -> Result<()> {
    for member in &partnership.members {
        let id = member.school_id.as_str();
        let stored = registry
            .get(id)
            .ok_or_else(|| Error::Internal(format!("member {id} of {} missing", partnership.id)))?;
        if !stored.school.open {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is closed, so partnership {} cannot become active",
                partnership.id
            )));
        }
        let active_elsewhere = || {
            registry
                .partnerships_of(id)
                .into_iter()
                .filter(|other| other.id != partnership.id)
                .filter(|other| other.status == PartnershipStatus::Active)
        };
        if member.role == MemberRole::Supporter {
            let supporting: Vec<String> = active_elsewhere()
                .filter(|other| {
                    other
                        .with_role(MemberRole::Supporter)
                        .any(|s| s == &member.school_id)
                })
                .map(|other| other.id.to_string())
                .collect();
            if supporting.len() as u32 >= stored.capacity {
                return Err(Error::FailedPrecondition(format!(
                    "school {id:?} has no free capacity to support: {} support place(s), used by active partnership(s) {}",
                    stored.capacity,
                    if supporting.is_empty() {
                        "none".to_owned()
                    } else {
                        supporting.join(", ")
                    }
                )));
            }
        }
        if partnership.kind == PartnershipKind::HardFederation
            && let Some(other) =
                active_elsewhere().find(|other| other.kind == PartnershipKind::HardFederation)
        {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is already in active hard federation {}; a school has one governing body",
                other.id
            )));
        }
    }
    Ok(())
}

/// Which partnerships a listing returns. Empty strings and `None` mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnershipFilter {
    /// Partnerships this school is a member of.
    pub school_id: String,
    pub status: Option<PartnershipStatus>,
    pub kind: Option<PartnershipKind>,
    /// Partnerships with a member in this consortium (case-insensitive).
    pub consortium: String,
}
