//! The school record and its validation rules.

use std::borrow::Borrow;
use std::fmt;

use super::{
    Affiliations, Evaluation, Evidence, EvidenceRules, FocusSet, GeoPoint, LanguageMedium, Phase,
    Stage, TextKind, Violations, derive_evidence, validate_evaluations,
};

/// Bounds on school fields, shared by the API, CSV import and tests.
pub mod limits {
    pub const ID_MAX_CHARS: usize = 64;
    pub const NAME_MAX_CHARS: usize = 200;
    pub const AREA_MAX_CHARS: usize = 100;
    pub const RELIGIOUS_CHARACTER_MAX_CHARS: usize = 100;
    pub const FAMILY_ID_MAX_CHARS: usize = 64;
    pub const PUPILS_MAX: u32 = 20_000;
    pub const CAPACITY_MAX: u32 = 50;
}

/// A school's identifier: 1–64 characters from `A–Z a–z 0–9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchoolId(String);

impl SchoolId {
    /// Validates and wraps an id; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<SchoolId, String> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("is required".to_owned());
        }
        if chars > limits::ID_MAX_CHARS {
            return Err(format!(
                "must have at most {} characters, got {chars}",
                limits::ID_MAX_CHARS
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(format!(
                "may contain only letters, digits and - _ . : (found {bad:?})"
            ));
        }
        Ok(SchoolId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SchoolId {
    type Err = String;

    fn from_str(text: &str) -> Result<SchoolId, String> {
        SchoolId::parse(text)
    }
}

impl fmt::Display for SchoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for SchoolId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The contextual percentages behind the index of challenge. `None` means
/// unknown.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContextMeasures {
    /// % eligible for free school meals.
    pub fsm_percent: Option<f64>,
    /// % living in the 20% most deprived areas.
    pub deprivation_percent: Option<f64>,
    /// % with additional/special learning needs.
    pub aln_percent: Option<f64>,
    /// % new to English or Welsh.
    pub eal_percent: Option<f64>,
}

impl ContextMeasures {
    pub fn fields(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("fsm_percent", self.fsm_percent),
            ("deprivation_percent", self.deprivation_percent),
            ("aln_percent", self.aln_percent),
            ("eal_percent", self.eal_percent),
        ]
    }
}

/// A school as a client describes it. Derived values (challenge index,
/// computed family, default capacity) live in [`StoredSchool`].
#[derive(Debug, Clone, PartialEq)]
pub struct School {
    pub id: SchoolId,
    pub name: String,
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub language_medium: Option<LanguageMedium>,
    pub location: GeoPoint,
    pub local_authority: String,
    pub consortium: String,
    pub pupils: Option<u32>,
    pub context: ContextMeasures,
    /// A family given by the client; `None` means "compute one".
    pub family_id: Option<String>,
    pub strengths: FocusSet,
    pub needs: FocusSet,
    /// Capacity given by the client; `None` means the default for the stage.
    pub capacity: Option<u32>,
    pub religious_character: String,
    pub open: bool,
    /// Inspection and local judgements, from which the stage, strengths and
    /// needs are derived when not given.
    pub evaluations: Vec<Evaluation>,
    /// The trust, federation and diocese the school belongs to.
    pub affiliations: Affiliations,
}

/// The fields of a school record that have rules besides the id and phase
/// (which parse or do not), checkable before the record is a [`School`]:
/// a request missing its location still has its other fields checked.
#[derive(Debug, Clone, Copy)]
pub struct SchoolFields<'a> {
    pub name: &'a str,
    /// `None` when the record does not give it (reported by whoever
    /// requires it).
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub local_authority: &'a str,
    pub consortium: &'a str,
    pub pupils: Option<u32>,
    pub context: ContextMeasures,
    pub family_id: Option<&'a str>,
    pub capacity: Option<u32>,
    pub religious_character: &'a str,
}

impl SchoolFields<'_> {
    /// Every range, length and text rule; field paths are the proto field
    /// names.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        v.check_text("name", self.name, 1, limits::NAME_MAX_CHARS, TextKind::Line);
        if let Some(latitude) = self.latitude {
            v.check_range("latitude", latitude, -90.0, 90.0);
        }
        if let Some(longitude) = self.longitude {
            v.check_range("longitude", longitude, -180.0, 180.0);
        }
        v.check_text(
            "local_authority",
            self.local_authority,
            0,
            limits::AREA_MAX_CHARS,
            TextKind::Line,
        );
        v.check_text(
            "consortium",
            self.consortium,
            0,
            limits::AREA_MAX_CHARS,
            TextKind::Line,
        );
        if let Some(pupils) = self.pupils
            && pupils > limits::PUPILS_MAX
        {
            v.push(
                "pupils",
                format!("must be at most {}, got {pupils}", limits::PUPILS_MAX),
            );
        }
        for (field, value) in self.context.fields() {
            if let Some(value) = value {
                v.check_range(field, value, 0.0, 100.0);
            }
        }
        if let Some(family) = self.family_id {
            v.check_text(
                "family_id",
                family,
                1,
                limits::FAMILY_ID_MAX_CHARS,
                TextKind::Line,
            );
        }
        if let Some(capacity) = self.capacity
            && capacity > limits::CAPACITY_MAX
        {
            v.push(
                "capacity",
                format!("must be at most {}, got {capacity}", limits::CAPACITY_MAX),
            );
        }
        v.check_text(
            "religious_character",
            self.religious_character,
            0,
            limits::RELIGIOUS_CHARACTER_MAX_CHARS,
            TextKind::Line,
        );
        v
    }
}

/// Prefix of family ids the engine computes. A client sending one back (after
/// reading a school) is treated as not giving a family, so it stays computed.
pub(super) const COMPUTED_FAMILY_PREFIX: &str = "auto-";

impl School {
    /// Checks every range, length and text rule; field paths are the proto
    /// field names. The id is checked where it is parsed ([`SchoolId::parse`]).
    pub fn validate(&self) -> Violations {
        let mut v = self.fields().validate();
        self.affiliations.validate(&mut v);
        v.extend(validate_evaluations(&self.evaluations));
        v
    }

    /// The school's checked fields.
    pub fn fields(&self) -> SchoolFields<'_> {
        SchoolFields {
            name: &self.name,
            latitude: Some(self.location.latitude),
            longitude: Some(self.location.longitude),
            local_authority: &self.local_authority,
            consortium: &self.consortium,
            pupils: self.pupils,
            context: self.context,
            family_id: self.family_id.as_deref(),
            capacity: self.capacity,
            religious_character: &self.religious_character,
        }
    }

    /// The family the client gave, unless it is empty or a computed one.
    pub fn given_family(&self) -> Option<&str> {
        self.family_id
            .as_deref()
            .filter(|family| !family.is_empty() && !family.starts_with(COMPUTED_FAMILY_PREFIX))
    }
}

impl School {
    /// An open school with its required fields and every optional one
    /// unknown (no stage, medium, size, context, areas, capacity or area).
    pub fn new(id: SchoolId, name: impl Into<String>, phase: Phase, location: GeoPoint) -> School {
        School {
            id,
            name: name.into(),
            phase,
            stage: None,
            language_medium: None,
            location,
            local_authority: String::new(),
            consortium: String::new(),
            pupils: None,
            context: ContextMeasures::default(),
            family_id: None,
            strengths: FocusSet::EMPTY,
            needs: FocusSet::EMPTY,
            capacity: None,
            religious_character: String::new(),
            open: true,
            evaluations: Vec::new(),
            affiliations: Affiliations::default(),
        }
    }
}

#[cfg(test)]
impl School {
    /// An open primary school near Cardiff with every optional field
    /// unknown, for unit tests to change what they are about.
    pub(crate) fn plain(id: &str) -> School {
        School::new(
            SchoolId::parse(id).expect("test id"),
            format!("School {id}"),
            Phase::Primary,
            GeoPoint::new(51.5, -3.2),
        )
    }
}

/// A school as the registry holds it: the client's record plus what the
/// engine derives from it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchool {
    pub school: School,
    /// Index of challenge, 0–100; `None` when no context measure is known.
    pub challenge_index: Option<f64>,
    /// Capacity as given, or the default for the stage.
    pub capacity: u32,
    /// The stage, strengths and needs in use — given, or derived from the
    /// evaluations — with their reasons.
    pub evidence: Evidence,
}

impl StoredSchool {
    /// The school with what is derived from it alone: its evidence under
    /// `rules`, its capacity, and `challenge_index` (computed by the
    /// caller, which knows the weights). Its family is the one given in
    /// the record or, without one, computed from the registry (a
    /// snapshot's [`family_id`](crate::engine::Snapshot::family_id)).
    pub fn new(
        school: School,
        challenge_index: Option<f64>,
        rules: &EvidenceRules,
    ) -> StoredSchool {
        let evidence = derive_evidence(
            &school.evaluations,
            school.stage,
            school.strengths,
            school.needs,
            rules,
        );
        let capacity = school
            .capacity
            .unwrap_or_else(|| Stage::default_capacity(evidence.stage.value()));
        StoredSchool {
            school,
            challenge_index,
            capacity,
            evidence,
        }
    }

    /// The stage in use: given, or derived from current evidence.
    pub fn stage(&self) -> Option<Stage> {
        self.evidence.stage.value()
    }

    /// The strengths in use: given, or derived from current evidence.
    pub fn strengths(&self) -> FocusSet {
        self.evidence.strengths.value().unwrap_or(FocusSet::EMPTY)
    }

    /// The needs in use: given, or derived from current evidence.
    pub fn needs(&self) -> FocusSet {
        self.evidence.needs.value().unwrap_or(FocusSet::EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn school_ids() {
        assert!(SchoolId::parse("6602130").is_ok());
        assert!(SchoolId::parse("urn:100000.a-b_c").is_ok());
        assert_eq!(SchoolId::parse("").unwrap_err(), "is required");
        assert!(SchoolId::parse("a b").unwrap_err().contains("' '"));
        assert!(SchoolId::parse(&"9".repeat(64)).is_ok());
        assert!(
            SchoolId::parse(&"9".repeat(65))
                .unwrap_err()
                .contains("at most 64")
        );
    }
}
