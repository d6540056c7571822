//! Every proto enum and the domain set it carries, declared once: a number
//! the proto does not define is refused (the generated getters would turn
//! it into the default), `*_UNSPECIFIED` means "not given".

use crate::dataset::ImportMerge;
use crate::domain::{
    EvaluationArea, EvaluationFramework, FocusArea, FocusSet, Grade, ImpactRating, Judgement,
    LanguageMedium, MatchMode, MemberRole, PartnershipKind, PartnershipStatus, Phase,
    PhaseRelation, Stage, TrustRelation, Violations,
};
use crate::engine::{Factor, GroupKind};
use crate::pb;

/// A domain value that travels as a proto enum.
pub(crate) trait ProtoEnum: Sized + Copy + 'static {
    type Proto: Copy + Into<i32> + TryFrom<i32>;
    /// Every domain value, in the proto's order.
    const VALUES: &'static [Self];
    /// `None` for `*_UNSPECIFIED`.
    fn from_proto(proto: Self::Proto) -> Option<Self>;
    fn to_proto(self) -> Self::Proto;
    /// The proto's name of a value (`PHASE_PRIMARY`).
    fn proto_name(proto: Self::Proto) -> &'static str;
    /// The proto's name of `*_UNSPECIFIED`.
    fn unspecified_name() -> &'static str;
}

/// Declares [`ProtoEnum`] for domain types whose variants have the proto
/// enum's names (the proto enum of `Phase` is `pb::Phase`).
macro_rules! proto_enums {
    ($($name:ident { $($variant:ident),+ $(,)? })+) => {$(
        impl ProtoEnum for $name {
            type Proto = pb::$name;
            const VALUES: &'static [$name] = &[$($name::$variant),+];

            fn from_proto(proto: pb::$name) -> Option<$name> {
                match proto {
                    pb::$name::Unspecified => None,
                    $(pb::$name::$variant => Some($name::$variant)),+
                }
            }

            fn to_proto(self) -> pb::$name {
                match self {
                    $($name::$variant => pb::$name::$variant),+
                }
            }

            fn proto_name(proto: pb::$name) -> &'static str {
                proto.as_str_name()
            }

            fn unspecified_name() -> &'static str {
                pb::$name::Unspecified.as_str_name()
            }
        }
    )+};
}

proto_enums! {
    Phase { Nursery, Primary, Middle, Secondary, Special, Pru }
    Stage { Red, Amber, Yellow, Green }
    LanguageMedium { English, Welsh, Bilingual, DualStream, Transitional }
    FocusArea {
        DataAndTracking, Literacy, Numeracy, SubjectSupport, SelfEvaluation,
        TeachingAndAssessment, Curriculum, MiddleLeadership, SeniorLeadership,
        Wellbeing, Eal, WelshLanguage, FourteenToNineteen, FoundationPhase,
        ClosingFsmGap, Attendance, Behaviour, Aln, Governance, BusinessManagement,
        Transition,
    }
    MatchMode { Support, Lead, Peer }
    PhaseRelation { SamePhase, CrossPhase, AnyPhase }
    TrustRelation { Any, SameTrust, OtherTrusts }
    ImportMerge { Replace, Register, Evaluations, FsmPercent }
    Factor { Stage, Proximity, Context, Focus, Phase, Language, Size, Load, TrackRecord }
    GroupKind { Cluster, Federation }
    PartnershipKind {
        Support, Peer, LeadEmerging, Transition, Cluster, SoftFederation, HardFederation,
    }
    PartnershipStatus { Proposed, Agreed, Active, Completed, Ended }
    ImpactRating { Red, Amber, Yellow, Green }
    MemberRole { Supporter, Supported, Member }
    EvaluationFramework { OfstedReportCard, OfstedLegacy, Estyn, WalesCategory, Local }
    EvaluationArea {
        Overall, Inclusion, CurriculumAndTeaching, Achievement, AttendanceAndBehaviour,
        PersonalDevelopmentAndWellbeing, LeadershipAndGovernance, EarlyYears, SixthForm,
        Safeguarding, CategoryOfConcern, QualityOfEducation, BehaviourAndAttitudes,
        PersonalDevelopment, LeadershipAndManagement, Learning,
        WellbeingAndAttitudesToLearning, TeachingAndLearningExperiences,
        CareSupportAndGuidance, FollowUp,
    }
    Judgement {
        Exceptional, StrongStandard, ExpectedStandard, NeedsAttention, UrgentImprovement,
        Outstanding, Good, RequiresImprovement, Inadequate, Excellent, Adequate,
        Unsatisfactory, Green, Yellow, Amber, Red, SpecialMeasures, SeriousWeaknesses,
        SignificantImprovement, EstynReview, Met, NotMet,
    }
    Grade { UrgentImprovement, NeedsAttention, ExpectedStandard, StrongStandard, Exceptional }
}

/// An enum field as sent: `None` (reported) for a number the proto does
/// not define, `Some(None)` for `*_UNSPECIFIED`.
pub(crate) fn read<T: ProtoEnum>(v: &mut Violations, field: &str, value: i32) -> Option<Option<T>> {
    match T::Proto::try_from(value) {
        Ok(proto) => Some(T::from_proto(proto)),
        Err(_) => {
            v.push(field, format!("unknown enum value {value}"));
            None
        }
    }
}

/// An enum field that may be left unspecified (it then means "any" or
/// "not known").
pub(crate) fn optional<T: ProtoEnum>(v: &mut Violations, field: &str, value: i32) -> Option<T> {
    read(v, field, value).flatten()
}

/// An enum field that must be given.
pub(crate) fn required<T: ProtoEnum>(v: &mut Violations, field: &str, value: i32) -> Option<T> {
    let given = read(v, field, value)?;
    if given.is_none() {
        let names: Vec<&str> = T::VALUES
            .iter()
            .map(|value| T::proto_name(value.to_proto()))
            .collect();
        v.push(field, format!("is required: one of {}", names.join(", ")));
    }
    given
}

/// A repeated enum field: at most one entry per value, each defined and
/// specified; `what` names the entries in the count error.
pub(crate) fn repeated<T: ProtoEnum>(
    v: &mut Violations,
    field: &str,
    what: &str,
    values: &[i32],
) -> Vec<T> {
    if !v.check_count(field, what, values.len(), T::VALUES.len()) {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter_map(|(i, value)| {
            let path = format!("{field}[{i}]");
            let given = read(v, &path, *value)?;
            if given.is_none() {
                v.push(
                    path,
                    format!("{} is not allowed here", T::unspecified_name()),
                );
            }
            given
        })
        .collect()
}

/// The wire number of a value.
pub(crate) fn to_wire<T: ProtoEnum>(value: T) -> i32 {
    value.to_proto().into()
}

/// The wire number of a value that may be unknown (`*_UNSPECIFIED`, 0).
pub(crate) fn optional_to_wire<T: ProtoEnum>(value: Option<T>) -> i32 {
    value.map_or(0, to_wire)
}

/// A repeated focus field: repeats are allowed and merged.
pub(crate) fn focus_set_from_proto(v: &mut Violations, field: &str, values: &[i32]) -> FocusSet {
    repeated::<FocusArea>(v, field, "entries (one per focus area)", values)
        .into_iter()
        .collect()
}

pub(crate) fn focus_set_to_proto(set: FocusSet) -> Vec<i32> {
    set.iter().map(to_wire).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_travels_both_ways() {
        fn round_trip<T: ProtoEnum + PartialEq + std::fmt::Debug>() {
            for &value in T::VALUES {
                assert_eq!(T::from_proto(value.to_proto()), Some(value));
                assert_ne!(to_wire(value), 0, "{value:?} is not UNSPECIFIED");
            }
        }
        round_trip::<Phase>();
        round_trip::<Stage>();
        round_trip::<LanguageMedium>();
        round_trip::<FocusArea>();
        round_trip::<MatchMode>();
        round_trip::<PhaseRelation>();
        round_trip::<TrustRelation>();
        round_trip::<ImportMerge>();
        round_trip::<Factor>();
        round_trip::<GroupKind>();
        round_trip::<PartnershipKind>();
        round_trip::<PartnershipStatus>();
        round_trip::<ImpactRating>();
        round_trip::<MemberRole>();
        // Every proto value is a domain value (the macro's matches are
        // exhaustive both ways; this checks the counts too).
        assert_eq!(FocusArea::VALUES.len(), FocusArea::ALL.len());
    }

    #[test]
    fn unknown_unspecified_and_required() {
        let mut v = Violations::new();
        assert_eq!(optional::<Stage>(&mut v, "stage", 0), None);
        assert!(v.is_empty());
        assert_eq!(optional::<Stage>(&mut v, "stage", 9), None);
        assert_eq!(required::<MatchMode>(&mut v, "mode", 0), None);
        assert_eq!(
            required::<MatchMode>(&mut v, "mode", 3),
            Some(MatchMode::Peer)
        );
        let stages = repeated::<Stage>(&mut v, "stages", "stages", &[1, 0, 4]);
        assert_eq!(stages, [Stage::Red, Stage::Green]);
        let messages: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "stage: unknown enum value 9",
                "mode: is required: one of MATCH_MODE_SUPPORT, MATCH_MODE_LEAD, MATCH_MODE_PEER",
                "stages[1]: STAGE_UNSPECIFIED is not allowed here",
            ]
        );
    }
}
