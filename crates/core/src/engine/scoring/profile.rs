//! What scoring reads of a school, packed so one candidate is one small
//! record.

use crate::domain::{FocusArea, FocusSet, Grade, LanguageMedium, Phase, Stage, UnitVector};

/// A school's grade in each focus area from its current evidence, packed
/// three bits an area (0: no evidence; 1–5: urgent improvement …
/// exceptional), so it costs a profile eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AreaGrades(u64);

impl AreaGrades {
    pub const NONE: AreaGrades = AreaGrades(0);

    pub fn from_grades(grades: impl IntoIterator<Item = (FocusArea, Grade)>) -> AreaGrades {
        let mut packed = 0u64;
        for (area, grade) in grades {
            let shift = 3 * area as u32;
            packed = (packed & !(0b111 << shift)) | ((grade.level() as u64) << shift);
        }
        AreaGrades(packed)
    }

    /// The grade's level (1–5) in `area`, if evidenced.
    pub fn level(self, area: FocusArea) -> Option<i32> {
        let level = (self.0 >> (3 * area as u32)) & 0b111;
        (level != 0).then_some(level as i32)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The grade levels a group of schools has in each focus area, six bits an
/// area: bit 0 when some member has no grade there (it is compared at its
/// stage), bits 1–5 for the levels present. 126 bits, so a bound can take
/// each area's best level present instead of the best of any area's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AreaLevels(u128);

impl AreaLevels {
    /// The levels of one school.
    pub(crate) fn of(grades: AreaGrades) -> AreaLevels {
        let mut bits = 0u128;
        for area in FocusArea::ALL {
            let slot = grades.level(area).map_or(0, |level| level as u32);
            bits |= 1 << (6 * area as u32 + slot);
        }
        AreaLevels(bits)
    }

    pub(crate) fn union(self, other: AreaLevels) -> AreaLevels {
        AreaLevels(self.0 | other.0)
    }

    /// The levels present in `area`: bit 0 for no grade, bits 1–5 by level.
    pub(crate) fn in_area(self, area: FocusArea) -> usize {
        ((self.0 >> (6 * area as u32)) & 0b11_1111) as usize
    }
}

/// Focus areas in which a school completed partnerships whose impact was
/// rated GREEN, and those rated YELLOW at best (design: a database of
/// practice worthy of emulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackRecord {
    pub green: FocusSet,
    /// Areas rated YELLOW and never GREEN.
    pub yellow: FocusSet,
}

impl TrackRecord {
    pub const NONE: TrackRecord = TrackRecord {
        green: FocusSet::EMPTY,
        yellow: FocusSet::EMPTY,
    };

    /// Adds a completed partnership's areas at its rating (GREEN or YELLOW).
    pub fn add(&mut self, focus: FocusSet, green: bool) {
        if green {
            self.green = self.green.union(focus);
            self.yellow = self.yellow.difference(focus);
        } else {
            self.yellow = self.yellow.union(focus.difference(self.green));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.green.is_empty() && self.yellow.is_empty()
    }

    /// The same record restricted to `areas`.
    pub(super) fn within(self, areas: FocusSet) -> TrackRecord {
        TrackRecord {
            green: self.green.intersection(areas),
            yellow: self.yellow.intersection(areas),
        }
    }
}

/// Sentinel for "no family" in [`Profile::family`].
pub(crate) const NO_FAMILY: u32 = u32::MAX;

/// Sentinel for "in none" in [`Profile::trust`] and [`Profile::diocese`].
pub(crate) const NO_BODY: u32 = u32::MAX;

/// The fields of a school that filters and scoring read, packed together so
/// scoring one candidate touches one small record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Profile {
    pub unit: UnitVector,
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub language: Option<LanguageMedium>,
    pub challenge: Option<f64>,
    /// Interned family id, or [`NO_FAMILY`].
    pub family: u32,
    pub strengths: FocusSet,
    pub needs: FocusSet,
    /// Grades by focus area from current evidence.
    pub area_grades: AreaGrades,
    pub pupils: Option<u32>,
    /// Natural log of pupils (at least 1), precomputed for the size component.
    pub ln_pupils: f64,
    pub capacity: u32,
    /// Active partnerships in which this school gives support.
    pub active_support: u32,
    pub track_record: TrackRecord,
    /// Numbers of the school's trust and diocese in the snapshot, or
    /// [`NO_BODY`].
    pub trust: u32,
    pub diocese: u32,
    /// Interned, case-folded consortium and local authority.
    pub consortium: u32,
    pub local_authority: u32,
    pub open: bool,
    /// Its most recent current safeguarding judgement is "not met": it is
    /// never proposed to support or lead.
    pub safeguarding_not_met: bool,
}

impl Profile {
    /// Whether the two differ in nothing but their family, which the
    /// search index does not read (a family cut again changes many
    /// schools' families at once).
    pub(crate) fn same_but_family(&self, other: &Profile) -> bool {
        Profile {
            family: other.family,
            ..*self
        } == *other
    }

    pub(crate) fn free_capacity(&self) -> u32 {
        self.capacity.saturating_sub(self.active_support)
    }

    /// Free share of capacity: the load component of a supporter.
    pub(crate) fn free_share(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            f64::from(self.free_capacity()) / f64::from(self.capacity)
        }
    }

    /// Log pupils when the number of pupils is known.
    pub(crate) fn known_ln_pupils(&self) -> Option<f64> {
        self.pupils.map(|_| self.ln_pupils)
    }
}
