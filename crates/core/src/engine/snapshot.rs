//! An immutable view of the registry that reads work on: schools in id order,
//! their scoring profiles (with what the partnerships make of them: support
//! places in use, track records), the search index and the partnerships. Built after each write and
//! published whole, so a reader never sees half a write and never waits.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{AffiliationKind, MemberRole, Partnership, PartnershipStatus, StoredSchool};

use super::index::SearchIndex;
use super::registry::Registry;
use super::scoring::{AreaGrades, NO_BODY, NO_FAMILY, Profile, TrackRecord};

#[derive(Debug, Default)]
pub struct Snapshot {
    /// Schools in id order; a school's index is its position here, so
    /// comparing indices compares ids.
    schools: Vec<Arc<StoredSchool>>,
    profiles: Vec<Profile>,
    index: SearchIndex,
    /// Index of each school by id (a binary search over the schools would
    /// chase a pointer per step).
    /// Shared with the snapshot before when the write kept every id at its
    /// index.
    by_id: Arc<HashMap<Box<str>, u32>>,
    /// Members of each family, by the family number in [`Profile::family`].
    family_members: Vec<Vec<u32>>,
    /// Members of each trust, federation and diocese (sorted), by kind and
    /// then by the number in [`Profile::trust`] and [`Profile::diocese`].
    body_members: [Vec<Vec<u32>>; 3],
    /// The number of each body by its code, by kind.
    body_numbers: [HashMap<Box<str>, u32>; 3],
    /// Partnerships in id order.
    partnerships: Vec<Arc<Partnership>>,
    /// Schools in an ACTIVE partnership with each school, sorted; only
    /// schools with some.
    active_partners: HashMap<u32, Vec<u32>>,
    /// Open schools whose safeguarding is not met, in index order, with
    /// their profiles: never supporters, and few, so a match counts them by
    /// reading each — one sequential run rather than a lookup apiece.
    safeguarding_not_met: Vec<(u32, Profile)>,
}

/// Consortium and local-authority names numbered by their trimmed,
/// case-folded text; 0 is the empty name, so "none recorded" never equals a
/// real one.
struct AreaNumbers<'a> {
    folded: HashMap<String, u32>,
    /// The same few names come back on every school: each is looked up as
    /// written before its case is folded.
    as_written: HashMap<&'a str, u32>,
}

impl Default for AreaNumbers<'_> {
    fn default() -> Self {
        AreaNumbers {
            folded: HashMap::from([(String::new(), 0)]),
            as_written: HashMap::new(),
        }
    }
}

impl<'a> AreaNumbers<'a> {
    fn number(&mut self, text: &'a str) -> u32 {
        if let Some(&number) = self.as_written.get(text) {
            return number;
        }
        let next = self.folded.len() as u32;
        let number = *self
            .folded
            .entry(text.trim().to_lowercase())
            .or_insert(next);
        self.as_written.insert(text, number);
        number
    }
}

impl Snapshot {
    pub(crate) fn build(registry: &Registry) -> Snapshot {
        Snapshot::build_after(registry, None)
    }

    /// [`Snapshot::build`], taking over the parts of the index of
    /// `previous` (the snapshot before the write) that the write left as
    /// they were.
    pub(crate) fn build_after(registry: &Registry, previous: Option<&Snapshot>) -> Snapshot {
        let mut families: HashMap<&str, u32> = HashMap::new();
        let mut areas = AreaNumbers::default();
        let schools: Vec<Arc<StoredSchool>> = registry.iter().cloned().collect();
        let partnerships: Vec<Arc<Partnership>> = registry.partnerships().cloned().collect();
        // Bodies numbered per kind in code order, from the graph.
        let mut bodies: Vec<(AffiliationKind, &str, Vec<&crate::domain::SchoolId>)> = registry
            .bodies()
            .map(|(kind, code, members)| (kind, code, members.collect()))
            .collect();
        bodies.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut body_numbers: [HashMap<Box<str>, u32>; 3] = Default::default();
        for (kind, code, _) in &bodies {
            let numbers = &mut body_numbers[*kind as usize];
            let next = numbers.len() as u32;
            numbers.insert(Box::from(*code), next);
        }
        let body_number = |kind: AffiliationKind, stored: &StoredSchool| {
            stored
                .school
                .affiliations
                .get(kind)
                .and_then(|body| body_numbers[kind as usize].get(body.code.as_str()))
                .copied()
                .unwrap_or(NO_BODY)
        };
        let mut active_support: HashMap<&str, u32> = HashMap::new();
        let mut track_records: HashMap<&str, TrackRecord> = HashMap::new();
        for partnership in &partnerships {
            if partnership.status == PartnershipStatus::Active {
                for supporter in partnership.with_role(MemberRole::Supporter) {
                    *active_support.entry(supporter.as_str()).or_default() += 1;
                }
            }
            if let Some(rating) = partnership.proven_rating() {
                let green = rating == crate::domain::ImpactRating::Green;
                for school in partnership.credited() {
                    track_records
                        .entry(school.as_str())
                        .or_default()
                        .add(partnership.focus, green);
                }
            }
        }
        let profiles: Vec<Profile> = schools
            .iter()
            .map(|stored| {
                let school = &stored.school;
                let family = match &stored.family_id {
                    Some(name) => {
                        let next = families.len() as u32;
                        *families.entry(name.as_str()).or_insert(next)
                    }
                    None => NO_FAMILY,
                };
                Profile {
                    unit: school.location.unit_vector(),
                    phase: school.phase,
                    stage: stored.stage(),
                    language: school.language_medium,
                    challenge: stored.challenge_index,
                    family,
                    strengths: stored.strengths(),
                    needs: stored.needs(),
                    area_grades: AreaGrades::from_grades(
                        stored
                            .evidence
                            .area_grades
                            .iter()
                            .map(|(area, grade, _)| (*area, *grade)),
                    ),
                    pupils: school.pupils,
                    ln_pupils: f64::from(school.pupils.unwrap_or(1).max(1)).ln(),
                    capacity: stored.capacity,
                    active_support: active_support.get(school.id.as_str()).copied().unwrap_or(0),
                    track_record: track_records
                        .get(school.id.as_str())
                        .copied()
                        .unwrap_or(TrackRecord::NONE),
                    trust: body_number(AffiliationKind::Trust, stored),
                    diocese: body_number(AffiliationKind::Diocese, stored),
                    consortium: areas.number(&school.consortium),
                    local_authority: areas.number(&school.local_authority),
                    open: school.open,
                    safeguarding_not_met: stored.evidence.safeguarding_not_met,
                }
            })
            .collect();
        let index = SearchIndex::build_reusing(
            &profiles,
            previous.map(|previous| (&previous.index, previous.profiles.as_slice())),
        );
        let mut family_members = vec![Vec::new(); families.len()];
        for (member, profile) in profiles.iter().enumerate() {
            if profile.family != NO_FAMILY {
                family_members[profile.family as usize].push(member as u32);
            }
        }
        let same_ids = |previous: &&Snapshot| {
            previous.schools.len() == schools.len()
                && previous
                    .schools
                    .iter()
                    .zip(&schools)
                    .all(|(old, new)| Arc::ptr_eq(old, new) || old.school.id == new.school.id)
        };
        let by_id = match previous.filter(same_ids) {
            Some(previous) => Arc::clone(&previous.by_id),
            None => Arc::new(
                schools
                    .iter()
                    .enumerate()
                    .map(|(index, stored)| (Box::from(stored.school.id.as_str()), index as u32))
                    .collect(),
            ),
        };
        let mut body_members: [Vec<Vec<u32>>; 3] =
            std::array::from_fn(|kind| vec![Vec::new(); body_numbers[kind].len()]);
        for (kind, code, members) in &bodies {
            let number = body_numbers[*kind as usize][*code];
            let list = &mut body_members[*kind as usize][number as usize];
            list.extend(
                members
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()).copied()),
            );
            list.sort_unstable();
        }
        let mut active_partners: HashMap<u32, Vec<u32>> = HashMap::new();
        for (a, b) in registry.active_partner_pairs() {
            if let (Some(&a), Some(&b)) = (by_id.get(a.as_str()), by_id.get(b.as_str())) {
                active_partners.entry(a).or_default().push(b);
                active_partners.entry(b).or_default().push(a);
            }
        }
        for partners in active_partners.values_mut() {
            partners.sort_unstable();
            partners.dedup();
        }
        let safeguarding_not_met = profiles
            .iter()
            .enumerate()
            .filter(|(_, profile)| profile.open && profile.safeguarding_not_met)
            .map(|(index, profile)| (index as u32, *profile))
            .collect();
        Snapshot {
            safeguarding_not_met,
            by_id,
            family_members,
            body_members,
            body_numbers,
            partnerships,
            active_partners,
            schools,
            profiles,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.schools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schools.is_empty()
    }

    pub fn family_count(&self) -> usize {
        self.family_members.len()
    }

    /// Indices of the members of family number `family`.
    pub(crate) fn family_members(&self, family: u32) -> &[u32] {
        self.family_members
            .get(family as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Indices of the members of body number `number` of `kind`, sorted.
    pub(crate) fn body_members(&self, kind: AffiliationKind, number: u32) -> &[u32] {
        self.body_members[kind as usize]
            .get(number as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Indices of the members of the body of `kind` with this code, sorted;
    /// empty when no school belongs to it.
    pub fn members_of(&self, kind: AffiliationKind, code: &str) -> &[u32] {
        self.body_numbers[kind as usize]
            .get(code)
            .map_or(&[], |number| self.body_members(kind, *number))
    }

    /// Index of the school with this id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<StoredSchool>> {
        self.index_of(id).map(|index| &self.schools[index as usize])
    }

    pub fn school(&self, index: u32) -> &StoredSchool {
        &self.schools[index as usize]
    }

    /// Support places the school at `index` has free: its capacity less
    /// the ACTIVE partnerships in which it supports.
    pub fn free_places(&self, index: u32) -> u32 {
        self.profile(index).free_capacity()
    }

    pub(crate) fn profile(&self, index: u32) -> &Profile {
        &self.profiles[index as usize]
    }

    pub(crate) fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Schools in id order.
    pub fn schools(&self) -> &[Arc<StoredSchool>] {
        &self.schools
    }

    pub(crate) fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Partnerships in id order.
    pub fn partnerships(&self) -> &[Arc<Partnership>] {
        &self.partnerships
    }

    pub fn partnership(&self, id: &str) -> Option<&Arc<Partnership>> {
        self.partnerships
            .binary_search_by(|partnership| partnership.id.as_str().cmp(id))
            .ok()
            .map(|position| &self.partnerships[position])
    }

    /// Open schools whose safeguarding is not met, with their profiles.
    pub(crate) fn safeguarding_not_met(&self) -> &[(u32, Profile)] {
        &self.safeguarding_not_met
    }

    /// Indices of the schools in an ACTIVE partnership with school `index`,
    /// sorted.
    pub(crate) fn active_partners(&self, index: u32) -> &[u32] {
        self.active_partners.get(&index).map_or(&[], Vec::as_slice)
    }
}
