//! The bodies a school belongs to (docs/domain.md "Trusts, federations and
//! dioceses"): a multi-academy trust, a federation under one governing
//! body, a diocese. Each is known by its publisher's code (GIAS's
//! `Trusts (code)`, `Federations (code)`, `Diocese (code)`) and named for
//! people; two schools share a body when their codes are equal.

use std::fmt;

use super::{TextKind, TrustRelation, Violations};

/// Bounds on affiliation fields.
pub mod limits {
    pub const CODE_MAX_CHARS: usize = 64;
    pub const NAME_MAX_CHARS: usize = 200;
}

/// Which kind of body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AffiliationKind {
    /// A multi-academy (or single-academy) trust.
    Trust,
    /// Schools federated under one governing body.
    Federation,
    /// The diocese of a church school (Church of England, Roman Catholic,
    /// Church in Wales).
    Diocese,
}

impl AffiliationKind {
    pub const ALL: [AffiliationKind; 3] = [
        AffiliationKind::Trust,
        AffiliationKind::Federation,
        AffiliationKind::Diocese,
    ];

    /// The field name (proto, CSV prefix) and the word in explanations.
    pub fn name(self) -> &'static str {
        match self {
            AffiliationKind::Trust => "trust",
            AffiliationKind::Federation => "federation",
            AffiliationKind::Diocese => "diocese",
        }
    }
}

impl fmt::Display for AffiliationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One body: its code and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Affiliation {
    /// The publisher's code, 1–64 characters; equal codes are one body.
    pub code: String,
    /// Its name, up to 200 characters; may be empty.
    pub name: String,
}

impl Affiliation {
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Affiliation {
        Affiliation {
            code: code.into(),
            name: name.into(),
        }
    }

    /// The name, or the code when the name is empty.
    pub fn label(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.code
        } else {
            &self.name
        }
    }
}

/// A school's trust, federation and diocese; `None` where it has none or
/// none is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Affiliations {
    pub trust: Option<Affiliation>,
    pub federation: Option<Affiliation>,
    pub diocese: Option<Affiliation>,
}

impl Affiliations {
    pub fn get(&self, kind: AffiliationKind) -> Option<&Affiliation> {
        match kind {
            AffiliationKind::Trust => self.trust.as_ref(),
            AffiliationKind::Federation => self.federation.as_ref(),
            AffiliationKind::Diocese => self.diocese.as_ref(),
        }
    }

    pub fn get_mut(&mut self, kind: AffiliationKind) -> &mut Option<Affiliation> {
        match kind {
            AffiliationKind::Trust => &mut self.trust,
            AffiliationKind::Federation => &mut self.federation,
            AffiliationKind::Diocese => &mut self.diocese,
        }
    }

    /// Each body the school belongs to, in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (AffiliationKind, &Affiliation)> {
        AffiliationKind::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind).map(|body| (kind, body)))
    }

    /// Length and text rules; field paths are `trust.code`, `diocese.name`, …
    pub fn validate(&self, v: &mut Violations) {
        for (kind, body) in self.iter() {
            v.check_text(
                &format!("{kind}.code"),
                &body.code,
                1,
                limits::CODE_MAX_CHARS,
                TextKind::Line,
            );
            v.check_text(
                &format!("{kind}.name"),
                &body.name,
                0,
                limits::NAME_MAX_CHARS,
                TextKind::Line,
            );
        }
    }

    /// The bodies both schools belong to, as "same trust (name)".
    pub fn shared_with(&self, other: &Affiliations) -> Vec<String> {
        self.iter()
            .filter(|(kind, body)| other.get(*kind).is_some_and(|o| o.code == body.code))
            .map(|(kind, body)| format!("same {kind} ({})", body.label()))
            .collect()
    }
}

impl TrustRelation {
    /// Whether a partner in trust `partner` may be matched with a seeker in
    /// trust `seeker` (each by code; `None` is in no trust). SAME_TRUST
    /// never admits when the seeker is in none.
    pub fn admits<T: PartialEq>(self, seeker: Option<T>, partner: Option<T>) -> bool {
        match self {
            TrustRelation::Any => true,
            TrustRelation::SameTrust => seeker.is_some() && seeker == partner,
            TrustRelation::OtherTrusts => seeker.is_none() || seeker != partner,
        }
    }
}

/// Whether a partner in diocese `partner` shares the seeker's (never when
/// the seeker is in none).
pub fn same_body<T: PartialEq>(seeker: Option<T>, partner: Option<T>) -> bool {
    seeker.is_some() && seeker == partner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_required_and_bounded_and_shared_bodies_are_named() {
        let mut a = Affiliations {
            trust: Some(Affiliation::new("15432", "Severn Academies Trust")),
            diocese: Some(Affiliation::new("CE28", "")),
            ..Affiliations::default()
        };
        let mut v = Violations::new();
        a.validate(&mut v);
        assert!(v.is_empty(), "{v:?}");

        let b = Affiliations {
            trust: Some(Affiliation::new("15432", "Other spelling")),
            federation: Some(Affiliation::new("F1", "A federation")),
            diocese: Some(Affiliation::new("CE28", "Diocese of Worcester")),
        };
        assert_eq!(
            a.shared_with(&b),
            ["same trust (Severn Academies Trust)", "same diocese (CE28)"]
        );

        let relation = |r: TrustRelation, s: Option<u32>, p: Option<u32>| r.admits(s, p);
        assert!(relation(TrustRelation::Any, None, Some(1)));
        assert!(relation(TrustRelation::SameTrust, Some(1), Some(1)));
        assert!(!relation(TrustRelation::SameTrust, Some(1), Some(2)));
        assert!(!relation(TrustRelation::SameTrust, None, None));
        assert!(relation(TrustRelation::OtherTrusts, Some(1), Some(2)));
        assert!(relation(TrustRelation::OtherTrusts, Some(1), None));
        assert!(!relation(TrustRelation::OtherTrusts, Some(1), Some(1)));
        assert!(relation(TrustRelation::OtherTrusts, None, None));
        assert!(!same_body::<u32>(None, None));

        a.federation = Some(Affiliation::new("", "x".repeat(201)));
        let mut v = Violations::new();
        a.validate(&mut v);
        let fields: Vec<&str> = v.iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, ["federation.code", "federation.name"]);
    }
}
