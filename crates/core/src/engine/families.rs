//! Families of schools (docs/domain.md): schools of the same phase, language
//! group and size band, ordered by their index of challenge and cut into
//! families of about the target size. The registry gives each school its
//! computed family (unless the data gives one); `ComputeFamilies` shows the
//! families, or previews them at other sizes.

use std::collections::BTreeMap;

use crate::domain::{LanguageMedium, Phase, SchoolId, StoredSchool, Violations};

use super::config::FamilyConfig;

/// Bounds on family sizes a request may ask for.
pub(super) mod limits {
    pub(crate) const MAX_TARGET_SIZE: usize = 100;
}

/// One computed family.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedFamily {
    /// `auto-<phase>-<language group>-<size band>-<NN>`.
    pub id: String,
    pub phase: Phase,
    /// `en` (English-medium) or `cy` (Welsh-medium and bilingual).
    pub language_group: &'static str,
    /// Primary and nursery: `small` (< 100 pupils), `medium` (< 250),
    /// `large`, `unknown`; other phases: `all`.
    pub size_band: &'static str,
    /// In order of challenge index, lowest first (ties by id).
    pub members: Vec<SchoolId>,
    pub challenge_min: f64,
    pub challenge_max: f64,
}

/// Checks requested sizes; field paths are the proto's.
pub fn validate_sizes(config: &FamilyConfig) -> Violations {
    let mut v = Violations::new();
    if !(2..=limits::MAX_TARGET_SIZE).contains(&config.target_size) {
        v.push(
            "target_size",
            format!(
                "must be between 2 and {}, got {}",
                limits::MAX_TARGET_SIZE,
                config.target_size
            ),
        );
    }
    if config.min_size == 0 || config.min_size > config.target_size {
        v.push(
            "min_size",
            format!(
                "must be between 1 and target_size ({}), got {}",
                config.target_size, config.min_size
            ),
        );
    }
    v
}

/// The group a computed family is cut from: phase, language group, size
/// band.
pub(super) type FamilyGroup = (Phase, &'static str, &'static str);

/// A school's family: the one its record gives, or number `n` (from 0) of
/// the group its family is computed in. A computed family is a place in
/// its group's cut, so a cut that moves hundreds of schools changes only
/// numbers, never the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FamilyRef<'a> {
    Given(&'a str),
    Computed(FamilyGroup, u32),
}

impl FamilyRef<'_> {
    /// The family's id: the given one, or `auto-…-NN`.
    pub(crate) fn id(self) -> String {
        FamilyLabel(self).id()
    }
}

/// A school's family as a snapshot holds it, for display: its id is its
/// `Display` (the given id, or `auto-<phase>-<language group>-<size
/// band>-<NN>`), written only when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyLabel<'a>(pub(crate) FamilyRef<'a>);

impl FamilyLabel<'_> {
    /// The id, written in one allocation.
    pub fn id(&self) -> String {
        use std::fmt::Write;
        let mut id = String::with_capacity(40);
        write!(id, "{self}").expect("writing to a String never fails");
        id
    }
}

impl std::fmt::Display for FamilyLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            FamilyRef::Given(id) => f.write_str(id),
            FamilyRef::Computed((phase, language_group, size_band), n) => {
                write!(f, "auto-{phase}-{language_group}-{size_band}-{:02}", n + 1)
            }
        }
    }
}

/// The group of a school whose family is computed (it has an index of
/// challenge and no family of its own), with its challenge; `None` for
/// any other school.
pub(super) fn family_group(stored: &StoredSchool) -> Option<(FamilyGroup, f64)> {
    let school = &stored.school;
    let challenge = stored.challenge_index?;
    if school.given_family().is_some() {
        return None;
    }
    let key = (
        school.phase,
        LanguageMedium::family_group(school.language_medium),
        size_band(school.phase, school.pupils),
    );
    Some((key, challenge))
}

/// The computed families of `schools`: those with a challenge index and no
/// family of their own, grouped and cut as the module says. Deterministic:
/// groups in (phase, language group, size band) order.
pub(super) fn compute_families<'a>(
    schools: impl IntoIterator<Item = &'a StoredSchool>,
    config: &FamilyConfig,
) -> Vec<ComputedFamily> {
    let mut groups: BTreeMap<FamilyGroup, Vec<(f64, &SchoolId)>> = BTreeMap::new();
    for stored in schools {
        if let Some((key, challenge)) = family_group(stored) {
            groups
                .entry(key)
                .or_default()
                .push((challenge, &stored.school.id));
        }
    }
    let mut families = Vec::new();
    for (key, mut members) in groups {
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        families.extend(cut_group(key, &members, config));
    }
    families
}

/// One group's members, ordered by challenge (ties by id), cut into
/// families of about the target size.
pub(super) fn cut_group(
    (phase, language_group, size_band): FamilyGroup,
    members: &[(f64, &SchoolId)],
    config: &FamilyConfig,
) -> Vec<ComputedFamily> {
    let total = members.len();
    if total == 0 {
        return Vec::new();
    }
    let count = family_count(total, config);
    let mut cut: Vec<Vec<(f64, &SchoolId)>> = vec![Vec::new(); count];
    for (position, member) in members.iter().enumerate() {
        cut[family_number(position, total, count)].push(*member);
    }
    cut.into_iter()
        .enumerate()
        .map(|(n, members)| ComputedFamily {
            id: FamilyRef::Computed((phase, language_group, size_band), n as u32).id(),
            phase,
            language_group,
            size_band,
            challenge_min: members.first().map_or(0.0, |m| m.0),
            challenge_max: members.last().map_or(0.0, |m| m.0),
            members: members.into_iter().map(|(_, id)| id.clone()).collect(),
        })
        .collect()
}

/// The family of the member at `position` of a group of `total` cut into
/// `count` families (members ordered by challenge, ties by id).
pub(super) fn family_number(position: usize, total: usize, count: usize) -> usize {
    position * count / total
}

/// Welsh families split primary schools by size; other phases are too few
/// per language group to split further.
fn size_band(phase: Phase, pupils: Option<u32>) -> &'static str {
    match (phase, pupils) {
        (Phase::Primary | Phase::Nursery, Some(p)) if p < 100 => "small",
        (Phase::Primary | Phase::Nursery, Some(p)) if p < 250 => "medium",
        (Phase::Primary | Phase::Nursery, Some(_)) => "large",
        (Phase::Primary | Phase::Nursery, None) => "unknown",
        _ => "all",
    }
}

/// How many families to cut a group of `n` into: the count whose mean size
/// is nearest the target, without going under the minimum size where that
/// can be helped.
pub(crate) fn family_count(n: usize, config: &FamilyConfig) -> usize {
    let target = config.target_size.max(1);
    let most = (n / config.min_size.max(1)).max(1);
    let lower = (n / target).clamp(1, most);
    let upper = n.div_ceil(target).clamp(1, most);
    let distance = |count: usize| (n as f64 / count as f64 - target as f64).abs();
    if distance(upper) < distance(lower) {
        upper
    } else {
        lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_sizes_aim_for_eleven_and_respect_the_minimum() {
        let config = FamilyConfig::default();
        assert_eq!(family_count(3, &config), 1);
        assert_eq!(family_count(11, &config), 1);
        assert_eq!(family_count(16, &config), 2);
        assert_eq!(family_count(22, &config), 2);
        assert_eq!(family_count(28, &config), 3);
        assert_eq!(family_count(1100, &config), 100);
        for n in 6..500 {
            let count = family_count(n, &config);
            assert!(n / count >= config.min_size, "n={n} count={count}");
        }
    }
}
