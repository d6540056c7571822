//! Partnerships between schools and their lifecycle (Estyn 2015, the
//! aide-memoire for school-to-school partnerships: a clear need, a plan, and
//! a record of impact).

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;

use super::{FocusSet, SchoolId, TextKind, Violations};

/// Bounds on partnership fields.
pub mod limits {
    /// Each free-text field of the aide-memoire.
    pub const TEXT_MAX_CHARS: usize = 4000;
    /// The most members any kind of partnership has (a cluster's 12).
    pub const MEMBERS_MAX: usize = 12;
}

crate::closed_set! {
    /// What a partnership is for (docs/domain.md).
    pub enum PartnershipKind {
        /// A school ahead supports one that needs to improve.
        Support = "support",
        /// Two schools at similar stages working together for mutual benefit.
        Peer = "peer",
        /// A lead practitioner school and an emerging one already on its
        /// improvement journey.
        LeadEmerging = "lead_emerging",
        /// Schools of different phases (e.g. a secondary and its feeder
        /// primaries) working on transition.
        Transition = "transition",
        /// A group of nearby schools working together with no single lead.
        Cluster = "cluster",
        /// Schools sharing leadership or staff under their own governing
        /// bodies.
        SoftFederation = "soft_federation",
        /// Schools under one governing body.
        HardFederation = "hard_federation",
    }
}

crate::closed_set! {
    /// Where a partnership is in its lifecycle:
    /// PROPOSED → AGREED → ACTIVE → COMPLETED, or ENDED from any of the first
    /// three.
    pub enum PartnershipStatus {
        Proposed = "proposed",
        Agreed = "agreed",
        Active = "active",
        /// Ran its course; its impact can be rated.
        Completed = "completed",
        /// Stopped early or withdrawn.
        Ended = "ended",
    }
}

crate::closed_set! {
    /// The impact a partnership had, rated like the support categories.
    pub enum ImpactRating {
        Red = "red",
        Amber = "amber",
        Yellow = "yellow",
        Green = "green",
    }
}

crate::closed_set! {
    /// What a school does in a partnership.
    pub enum MemberRole {
        /// Gives support (SUPPORT, LEAD_EMERGING); uses its capacity while
        /// the partnership is ACTIVE.
        Supporter = "supporter",
        /// Receives support (SUPPORT, LEAD_EMERGING).
        Supported = "supported",
        /// An equal member (every other kind).
        Member = "member",
    }
}

impl PartnershipKind {
    /// Fewest and most members.
    pub fn member_bounds(self) -> (usize, usize) {
        match self {
            PartnershipKind::Support | PartnershipKind::Peer | PartnershipKind::LeadEmerging => {
                (2, 2)
            }
            PartnershipKind::Transition => (2, 8),
            PartnershipKind::Cluster => (3, limits::MEMBERS_MAX),
            PartnershipKind::SoftFederation | PartnershipKind::HardFederation => (2, 6),
        }
    }

    /// Whether one member supports another (so roles are SUPPORTER and
    /// SUPPORTED); otherwise every member is a MEMBER.
    pub fn is_directed(self) -> bool {
        matches!(
            self,
            PartnershipKind::Support | PartnershipKind::LeadEmerging
        )
    }
}

impl PartnershipStatus {
    /// Whether a partnership in this status may move to `next`. Staying in
    /// the same status (to edit fields) is not a transition.
    pub fn can_become(self, next: PartnershipStatus) -> bool {
        use PartnershipStatus::*;
        matches!(
            (self, next),
            (Proposed, Agreed)
                | (Agreed, Active)
                | (Active, Completed)
                | (Proposed | Agreed | Active, Ended)
        )
    }

    /// COMPLETED and ENDED: no further transitions.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PartnershipStatus::Completed | PartnershipStatus::Ended
        )
    }

    /// The statuses this one may move to, for error messages.
    pub fn next_statuses(self) -> Vec<PartnershipStatus> {
        PartnershipStatus::ALL
            .iter()
            .copied()
            .filter(|next| self.can_become(*next))
            .collect()
    }
}

/// A partnership's identifier: same rules as a school id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnershipId(String);

impl PartnershipId {
    pub fn parse(text: &str) -> Result<PartnershipId, String> {
        // Same alphabet and length as school ids.
        SchoolId::parse(text).map(|id| PartnershipId(id.as_str().to_owned()))
    }

    /// The id the registry gives the `n`th partnership proposed without one
    /// (zero-padded, so ids sort in the order they were given).
    pub fn numbered(n: u64) -> PartnershipId {
        PartnershipId(format!("p-{n:06}"))
    }

    /// `n` for ids of the form `p-n`.
    pub fn number(&self) -> Option<u64> {
        self.0.strip_prefix("p-")?.parse().ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartnershipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for PartnershipId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// One school in a partnership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub school_id: SchoolId,
    pub role: MemberRole,
}

/// The aide-memoire: why the partnership exists, what it will do and how it
/// will know it worked. Free text, each at most
/// [`limits::TEXT_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub identified_need: String,
    pub strategic_objectives: String,
    pub provision: String,
    pub action_plan: String,
    pub success_criteria: String,
    /// When progress is next reviewed.
    pub review_date: Option<Date>,
}

impl Plan {
    pub fn texts(&self) -> [(&'static str, &str); 5] {
        [
            ("identified_need", &self.identified_need),
            ("strategic_objectives", &self.strategic_objectives),
            ("provision", &self.provision),
            ("action_plan", &self.action_plan),
            ("success_criteria", &self.success_criteria),
        ]
    }
}

/// A partnership as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Partnership {
    pub id: PartnershipId,
    pub kind: PartnershipKind,
    pub status: PartnershipStatus,
    /// In the order proposed; never changes.
    pub members: Vec<Member>,
    /// The focus areas the partnership works on.
    pub focus: FocusSet,
    pub plan: Plan,
    pub impact_rating: Option<ImpactRating>,
    pub impact_notes: String,
    /// Starts at 1; every update adds 1 (optimistic concurrency).
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When it became ACTIVE.
    pub started_at: Option<Timestamp>,
    /// When it became COMPLETED or ENDED.
    pub finished_at: Option<Timestamp>,
}

impl Partnership {
    /// Members with this role.
    pub fn with_role(&self, role: MemberRole) -> impl Iterator<Item = &SchoolId> {
        self.members
            .iter()
            .filter(move |member| member.role == role)
            .map(|member| &member.school_id)
    }

    pub fn has_member(&self, school: &str) -> bool {
        self.members
            .iter()
            .any(|member| member.school_id.as_str() == school)
    }

    /// Schools whose track record this partnership builds when it is
    /// completed with a good rating: the supporters of a directed
    /// partnership, every member of the others.
    pub fn credited(&self) -> impl Iterator<Item = &SchoolId> {
        let directed = self.kind.is_directed();
        self.members
            .iter()
            .filter(move |member| !directed || member.role == MemberRole::Supporter)
            .map(|member| &member.school_id)
    }

    /// A good rating (GREEN or YELLOW) of a COMPLETED partnership.
    pub fn proven_rating(&self) -> Option<ImpactRating> {
        (self.status == PartnershipStatus::Completed)
            .then_some(self.impact_rating)
            .flatten()
            .filter(|rating| matches!(rating, ImpactRating::Green | ImpactRating::Yellow))
    }
}

/// Checks a proposal's members against its kind: the count, distinct
/// schools, and roles (SUPPORTER and SUPPORTED for directed kinds, MEMBER
/// otherwise). Field paths are `members`, `members[i].…`.
pub fn validate_members(kind: PartnershipKind, members: &[Member]) -> Violations {
    let mut v = Violations::new();
    let (fewest, most) = kind.member_bounds();
    if !(fewest..=most).contains(&members.len()) {
        let wanted = if fewest == most {
            format!("exactly {fewest}")
        } else {
            format!("{fewest}–{most}")
        };
        v.push(
            "members",
            format!(
                "a {kind} partnership has {wanted} members, got {}",
                members.len()
            ),
        );
    }
    for (i, member) in members.iter().enumerate() {
        if let Some(first) = members[..i]
            .iter()
            .position(|earlier| earlier.school_id == member.school_id)
        {
            v.push(
                format!("members[{i}].school_id"),
                format!("{} is already members[{first}]", member.school_id),
            );
        }
        let allowed = if kind.is_directed() {
            member.role != MemberRole::Member
        } else {
            member.role == MemberRole::Member
        };
        if !allowed {
            let expected = if kind.is_directed() {
                "SUPPORTER or SUPPORTED"
            } else {
                "MEMBER (or unspecified)"
            };
            v.push(
                format!("members[{i}].role"),
                format!(
                    "a {kind} partnership's members are {expected}, got {}",
                    member.role
                ),
            );
        }
    }
    let roles_valid = members.iter().all(|m| m.role != MemberRole::Member);
    if kind.is_directed() && members.len() == 2 && roles_valid {
        let supporters = members
            .iter()
            .filter(|m| m.role == MemberRole::Supporter)
            .count();
        if supporters != 1 {
            v.push(
                "members",
                format!(
                    "a {kind} partnership has one supporter and one supported school, got {supporters} supporters"
                ),
            );
        }
    }
    v
}

/// Length and character rules of the free-text fields.
pub fn validate_texts(plan: &Plan, impact_notes: &str) -> Violations {
    let mut v = Violations::new();
    for (field, text) in plan.texts() {
        v.check_text(field, text, 0, limits::TEXT_MAX_CHARS, TextKind::Paragraphs);
    }
    v.check_text(
        "impact_notes",
        impact_notes,
        0,
        limits::TEXT_MAX_CHARS,
        TextKind::Paragraphs,
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: MemberRole) -> Member {
        Member {
            school_id: SchoolId::parse(id).unwrap(),
            role,
        }
    }

    #[test]
    fn the_lifecycle_moves_forward_only() {
        use PartnershipStatus::*;
        let allowed: Vec<_> = PartnershipStatus::ALL
            .iter()
            .flat_map(|from| {
                PartnershipStatus::ALL
                    .iter()
                    .filter(|to| from.can_become(**to))
                    .map(move |to| (*from, *to))
            })
            .collect();
        assert_eq!(
            allowed,
            [
                (Proposed, Agreed),
                (Proposed, Ended),
                (Agreed, Active),
                (Agreed, Ended),
                (Active, Completed),
                (Active, Ended)
            ]
        );
        assert!(Completed.is_final() && Ended.is_final() && !Active.is_final());
    }

    #[test]
    fn members_follow_the_kind() {
        let pair = [
            member("a", MemberRole::Supporter),
            member("b", MemberRole::Supported),
        ];
        assert!(validate_members(PartnershipKind::Support, &pair).is_empty());
        let v = validate_members(PartnershipKind::Peer, &pair);
        assert_eq!(
            v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(),
            ["members[0].role", "members[1].role"]
        );
        let two_supporters = [
            member("a", MemberRole::Supporter),
            member("b", MemberRole::Supporter),
        ];
        let v = validate_members(PartnershipKind::Support, &two_supporters);
        assert!(v.to_string().contains("one supporter"), "{v}");
        let duplicate = [
            member("a", MemberRole::Member),
            member("a", MemberRole::Member),
        ];
        let v = validate_members(PartnershipKind::Peer, &duplicate);
        assert_eq!(
            v.to_string(),
            "members[1].school_id: a is already members[0]"
        );
        let seven: Vec<_> = (0..7)
            .map(|i| member(&format!("s{i}"), MemberRole::Member))
            .collect();
        let v = validate_members(PartnershipKind::HardFederation, &seven);
        assert_eq!(
            v.to_string(),
            "members: a hard_federation partnership has 2–6 members, got 7"
        );
        assert!(validate_members(PartnershipKind::Cluster, &seven).is_empty());
    }

    #[test]
    fn numbered_ids_round_trip() {
        assert_eq!(PartnershipId::numbered(42).number(), Some(42));
        assert_eq!(PartnershipId::parse("fed-1").unwrap().number(), None);
        assert!(PartnershipId::parse("no spaces").is_err());
    }
}
