//! An immutable view of the registry that reads work on: schools in id order,
//! their scoring profiles (with what the partnerships make of them: support
//! places in use, track records), the search index and the partnerships. Built after each write and
//! published whole, so a reader never sees half a write and never waits.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use fixedbitset::FixedBitSet;

use crate::domain::{AffiliationKind, MemberRole, Partnership, PartnershipStatus, StoredSchool};

use super::chunked::Chunked;
use super::families::{FamilyGroup, FamilyLabel, FamilyRef};
use super::index::{BucketKey, Merged, SearchIndex};
use super::registry::{Changes, Registry};
use super::scoring::{AreaGrades, NO_BODY, NO_FAMILY, Profile, TrackRecord};

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Schools by index: in id order when the snapshot was built whole,
    /// then each school created since in a place a deleted one left, or at
    /// the next index. An index never
    /// moves until the snapshot is built whole again, so a write changes
    /// no other school's index.
    schools: Chunked<Arc<StoredSchool>>,
    /// Each index's place in id order: a key that compares as the ids do
    /// (spaced [`ORDER_GAP`] apart when built whole; a school created
    /// between two takes a key between theirs).
    order_keys: Chunked<u64>,
    /// The live schools' indices in id order.
    by_order: Arc<Vec<u32>>,
    profiles: Chunked<Profile>,
    index: SearchIndex,
    /// Index of each school by id (a binary search over the schools would
    /// chase a pointer per step). Shared until a school comes or goes.
    by_id: Arc<HashMap<Box<str>, u32>>,
    /// The numbers of families, areas and bodies in the profiles.
    numbers: Arc<Numbers>,
    /// Members of each family, by the family number in [`Profile::family`]
    /// (empty for a family no school has any more).
    family_members: Arc<Lists>,
    /// Members of each trust, federation and diocese (sorted), by kind and
    /// then by the number in [`Profile::trust`] and [`Profile::diocese`].
    body_members: Arc<[Lists; 3]>,
    /// Partnerships in id order.
    partnerships: Arc<Vec<Arc<Partnership>>>,
    /// Schools in an ACTIVE partnership with each school, sorted; only
    /// schools with some.
    active_partners: Arc<HashMap<u32, Vec<u32>>>,
    /// Open schools whose safeguarding is not met, in index order, with
    /// their profiles: never supporters, and few, so a match counts them by
    /// reading each — one sequential run rather than a lookup apiece.
    safeguarding_not_met: Arc<Vec<(u32, Profile)>>,
    /// Indices of the schools deleted since the snapshot was built whole:
    /// each keeps its place (so every other index, and the order of
    /// indices, stays as it was) with a closed profile in no family or
    /// body, and is no longer found by id or listed. A set of bits, so a
    /// delete copies a few kilobytes whatever the number before it.
    vacant: Arc<FixedBitSet>,
    /// How many places are vacant.
    vacancies: usize,
    /// Schools created since the snapshot was built whole: each took a
    /// vacant place or the next index, and is found by id in
    /// [`Snapshot::by_order`].
    added: usize,
    /// Places added since the snapshot was built whole: schools created
    /// when no place was vacant.
    grown: usize,
    /// The registry version it holds (set by the engine as it publishes).
    pub(super) version: u64,
}

/// The distance between neighbouring order keys when a snapshot is built
/// whole: 32 schools can be created, each between the same two, before
/// the keys run out and the snapshot is built whole.
const ORDER_GAP: u64 = 1 << 32;

/// Places a snapshot adds, for schools created when none was vacant,
/// before the next is built whole. A created school costs a write nothing more for
/// being one of many (it is found by id in the live indices in id order),
/// so this only spaces out whole builds (120–320 ms at 30,000), which a
/// run of schools created one at a time would otherwise meet often.
const MAX_ADDED: usize = 4096;

/// Schools created by the writes of one publication past which the next
/// snapshot is built whole at once: for a batch, cheaper than placing each
/// school, and it leaves the index with no overlay to merge.
const MAX_CREATED_AT_ONCE: usize = 256;

/// Deleted schools a snapshot holds as vacant places before the next is
/// built whole: at least this many, or a quarter of the places. A vacant
/// place costs a write nothing (the set is of bits) and a search nothing
/// (it is in no bucket), only the memory of its record until then.
const MIN_VACANT: usize = 64;

/// The schools of a snapshot in id order, the deleted ones left out.
#[derive(Debug, Clone, Copy)]
pub struct Schools<'a> {
    all: &'a Chunked<Arc<StoredSchool>>,
    /// The live schools' indices in id order.
    order: &'a [u32],
}

impl<'a> Schools<'a> {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn iter(&self) -> SchoolsIter<'a> {
        SchoolsIter {
            all: self.all,
            order: self.order.iter(),
        }
    }

    /// The schools with their snapshot indices.
    pub fn indexed(&self) -> impl Iterator<Item = (u32, &'a Arc<StoredSchool>)> + 'a {
        let all = self.all;
        self.order
            .iter()
            .map(move |&index| (index, &all[index as usize]))
    }

    pub fn to_vec(&self) -> Vec<Arc<StoredSchool>> {
        self.iter().cloned().collect()
    }
}

impl std::ops::Index<usize> for Schools<'_> {
    type Output = Arc<StoredSchool>;

    /// The `n`-th school in id order.
    fn index(&self, n: usize) -> &Arc<StoredSchool> {
        &self.all[self.order[n] as usize]
    }
}

impl<'a> IntoIterator for Schools<'a> {
    type Item = &'a Arc<StoredSchool>;
    type IntoIter = SchoolsIter<'a>;

    fn into_iter(self) -> SchoolsIter<'a> {
        self.iter()
    }
}

/// [`Schools::iter`].
#[derive(Debug, Clone)]
pub struct SchoolsIter<'a> {
    all: &'a Chunked<Arc<StoredSchool>>,
    order: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for SchoolsIter<'a> {
    type Item = &'a Arc<StoredSchool>;

    fn next(&mut self) -> Option<&'a Arc<StoredSchool>> {
        self.order.next().map(|&index| &self.all[index as usize])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.order.size_hint()
    }
}

impl ExactSizeIterator for SchoolsIter<'_> {}

/// Families, consortia and local authorities (by their trimmed, case-folded
/// name; 0 is the empty name, so "none recorded" never equals a real one),
/// trusts, federations and dioceses, each numbered as first met. Numbers
/// are only identities: a snapshot updated after a write keeps those of the
/// one before and numbers what is new after them.
#[derive(Debug, Clone)]
struct Numbers {
    /// Each family by its number.
    family_names: Vec<FamilyName>,
    given_families: HashMap<Box<str>, u32>,
    computed_families: HashMap<(FamilyGroup, u32), u32>,
    areas: HashMap<Box<str>, u32>,
    bodies: [HashMap<Box<str>, u32>; 3],
}

/// A family numbered in [`Numbers`]: see [`FamilyRef`].
#[derive(Debug, Clone)]
enum FamilyName {
    Given(Box<str>),
    Computed(FamilyGroup, u32),
}

impl FamilyName {
    fn as_ref(&self) -> FamilyRef<'_> {
        match self {
            FamilyName::Given(id) => FamilyRef::Given(id),
            FamilyName::Computed(group, n) => FamilyRef::Computed(*group, *n),
        }
    }
}

impl Default for Numbers {
    fn default() -> Self {
        Numbers {
            family_names: Vec::new(),
            given_families: HashMap::new(),
            computed_families: HashMap::new(),
            areas: HashMap::from([(Box::from(""), 0)]),
            bodies: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Numbered {
    Area,
    Body(AffiliationKind),
}

impl Numbers {
    fn map(&self, numbered: Numbered) -> &HashMap<Box<str>, u32> {
        match numbered {
            Numbered::Area => &self.areas,
            Numbered::Body(kind) => &self.bodies[kind as usize],
        }
    }

    fn map_mut(&mut self, numbered: Numbered) -> &mut HashMap<Box<str>, u32> {
        match numbered {
            Numbered::Area => &mut self.areas,
            Numbered::Body(kind) => &mut self.bodies[kind as usize],
        }
    }
}

/// Numbers names for the profiles, copying the shared [`Numbers`] only when
/// a name is new.
struct Numberer<'s> {
    numbers: Arc<Numbers>,
    /// The same few area names come back on every school: each is looked
    /// up as written before its case is folded.
    areas_as_written: HashMap<&'s str, u32>,
}

impl<'s> Numberer<'s> {
    fn new(numbers: Arc<Numbers>) -> Self {
        Numberer {
            numbers,
            areas_as_written: HashMap::new(),
        }
    }

    fn number(&mut self, numbered: Numbered, name: &str) -> u32 {
        if let Some(&number) = self.numbers.map(numbered).get(name) {
            return number;
        }
        let map = Arc::make_mut(&mut self.numbers).map_mut(numbered);
        let next = map.len() as u32;
        *map.entry(Box::from(name)).or_insert(next)
    }

    fn area(&mut self, text: &'s str) -> u32 {
        if let Some(&number) = self.areas_as_written.get(text) {
            return number;
        }
        let number = self.number(Numbered::Area, &text.trim().to_lowercase());
        self.areas_as_written.insert(text, number);
        number
    }

    fn family(&mut self, family: Option<FamilyRef<'_>>) -> u32 {
        let Some(family) = family else {
            return NO_FAMILY;
        };
        let numbers = &self.numbers;
        let known = match family {
            FamilyRef::Given(id) => numbers.given_families.get(id),
            FamilyRef::Computed(group, n) => numbers.computed_families.get(&(group, n)),
        };
        if let Some(&number) = known {
            return number;
        }
        let numbers = Arc::make_mut(&mut self.numbers);
        let number = numbers.family_names.len() as u32;
        match family {
            FamilyRef::Given(id) => {
                numbers.given_families.insert(Box::from(id), number);
                numbers.family_names.push(FamilyName::Given(Box::from(id)));
            }
            FamilyRef::Computed(group, n) => {
                numbers.computed_families.insert((group, n), number);
                numbers.family_names.push(FamilyName::Computed(group, n));
            }
        }
        number
    }

    fn body(&mut self, kind: AffiliationKind, stored: &StoredSchool) -> u32 {
        stored
            .school
            .affiliations
            .get(kind)
            .map_or(NO_BODY, |body| {
                self.number(Numbered::Body(kind), &body.code)
            })
    }

    /// The scoring profile of `stored`, with what its partnerships make of
    /// it.
    fn profile(
        &mut self,
        stored: &'s StoredSchool,
        family: Option<FamilyRef<'_>>,
        active_support: u32,
        track_record: TrackRecord,
    ) -> Profile {
        let school = &stored.school;
        Profile {
            unit: school.location.unit_vector(),
            phase: school.phase,
            stage: stored.stage(),
            language: school.language_medium,
            challenge: stored.challenge_index,
            family: self.family(family),
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
            active_support,
            track_record,
            trust: self.body(AffiliationKind::Trust, stored),
            diocese: self.body(AffiliationKind::Diocese, stored),
            consortium: self.area(&school.consortium),
            local_authority: self.area(&school.local_authority),
            open: school.open,
            safeguarding_not_met: stored.evidence.safeguarding_not_met,
        }
    }

    /// The numbers of the bodies `stored` belongs to, by kind.
    fn bodies(&mut self, stored: &StoredSchool) -> [u32; 3] {
        AffiliationKind::ALL.map(|kind| self.body(kind, stored))
    }
}

/// What the partnerships make of their members: support places in use
/// (ACTIVE partnerships in which a school supports) and track records
/// (completed partnerships rated GREEN or YELLOW).
#[derive(Default)]
struct PartnershipFacts<'p> {
    active_support: HashMap<&'p str, u32>,
    track_records: HashMap<&'p str, TrackRecord>,
}

impl<'p> PartnershipFacts<'p> {
    fn of(partnerships: &'p [Arc<Partnership>]) -> Self {
        let mut facts = PartnershipFacts::default();
        for partnership in partnerships {
            if partnership.status == PartnershipStatus::Active {
                for supporter in partnership.with_role(MemberRole::Supporter) {
                    *facts.active_support.entry(supporter.as_str()).or_default() += 1;
                }
            }
            if let Some(rating) = partnership.proven_rating() {
                let green = rating == crate::domain::ImpactRating::Green;
                for school in partnership.credited() {
                    facts
                        .track_records
                        .entry(school.as_str())
                        .or_default()
                        .add(partnership.focus, green);
                }
            }
        }
        facts
    }

    fn of_school(&self, id: &str) -> (u32, TrackRecord) {
        (
            self.active_support.get(id).copied().unwrap_or(0),
            self.track_records
                .get(id)
                .copied()
                .unwrap_or(TrackRecord::NONE),
        )
    }
}

/// Schools in an ACTIVE partnership with each school, from the registry's
/// graph.
fn active_partners(
    registry: &Registry,
    index_of: impl Fn(&str) -> Option<u32>,
) -> HashMap<u32, Vec<u32>> {
    let mut active_partners: HashMap<u32, Vec<u32>> = HashMap::new();
    for (a, b) in registry.active_partner_pairs() {
        if let (Some(a), Some(b)) = (index_of(a.as_str()), index_of(b.as_str())) {
            active_partners.entry(a).or_default().push(b);
            active_partners.entry(b).or_default().push(a);
        }
    }
    for partners in active_partners.values_mut() {
        partners.sort_unstable();
        partners.dedup();
    }
    active_partners
}

/// Sorted lists of school indices by number, each shared between
/// snapshots until a write changes it.
type Lists = Vec<Arc<Vec<u32>>>;

/// Puts `member` in the sorted list `list` (growing `lists` to hold it).
fn insert_sorted(lists: &mut Lists, list: u32, member: u32) {
    if lists.len() <= list as usize {
        lists.resize(list as usize + 1, Arc::default());
    }
    let list = Arc::make_mut(&mut lists[list as usize]);
    if let Err(position) = list.binary_search(&member) {
        list.insert(position, member);
    }
}

/// Takes `member` out of the sorted list `list`, if there.
fn remove_sorted(lists: &mut Lists, list: u32, member: u32) {
    if let Some(list) = lists.get_mut(list as usize)
        && let Ok(position) = list.binary_search(&member)
    {
        Arc::make_mut(list).remove(position);
    }
}

/// "In none" for [`move_member`]: no family, no body.
const NONE: u32 = NO_FAMILY;
const _: () = assert!(NO_FAMILY == NO_BODY);

/// Moves `member` from list `from` to list `to` ([`NONE`] for neither),
/// copying only what a snapshot before shares.
fn move_member(lists: &mut Arc<Lists>, from: u32, to: u32, member: u32) {
    if from != to {
        move_between(Arc::make_mut(lists), from, to, member);
    }
}

/// [`move_member`] for the bodies of each kind.
fn move_bodies(lists: &mut Arc<[Lists; 3]>, from: [u32; 3], to: [u32; 3], member: u32) {
    if from == to {
        return;
    }
    let lists = Arc::make_mut(lists);
    for (kind, (from, to)) in from.into_iter().zip(to).enumerate() {
        if from != to {
            move_between(&mut lists[kind], from, to, member);
        }
    }
}

fn move_between(lists: &mut Lists, from: u32, to: u32, member: u32) {
    if from != NONE {
        remove_sorted(lists, from, member);
    }
    if to != NONE {
        insert_sorted(lists, to, member);
    }
}

impl Snapshot {
    /// The snapshot of everything in `registry`.
    pub(crate) fn build(registry: &Registry) -> Snapshot {
        let schools: Chunked<Arc<StoredSchool>> = registry.iter().cloned().collect();
        let partnerships: Vec<Arc<Partnership>> = registry.partnerships().cloned().collect();
        let facts = PartnershipFacts::of(&partnerships);
        let mut numberer = Numberer::new(Arc::default());
        let mut family_members: Lists = Vec::new();
        let mut body_members: [Lists; 3] = Default::default();
        let mut profiles = Vec::with_capacity(schools.len());
        for (index, stored) in schools.iter().enumerate() {
            let (active_support, track_record) = facts.of_school(stored.school.id.as_str());
            let family = registry.family_of(stored);
            let profile = numberer.profile(stored, family, active_support, track_record);
            if profile.family != NO_FAMILY {
                insert_sorted(&mut family_members, profile.family, index as u32);
            }
            for (kind, number) in numberer.bodies(stored).into_iter().enumerate() {
                if number != NO_BODY {
                    insert_sorted(&mut body_members[kind], number, index as u32);
                }
            }
            profiles.push(profile);
        }
        let numbers = numberer.numbers;
        let profiles: Chunked<Profile> = profiles.into_iter().collect();
        let by_id: HashMap<Box<str>, u32> = schools
            .iter()
            .enumerate()
            .map(|(index, stored)| (Box::from(stored.school.id.as_str()), index as u32))
            .collect();
        let safeguarding_not_met = profiles
            .iter()
            .enumerate()
            .filter(|(_, profile)| profile.open && profile.safeguarding_not_met)
            .map(|(index, profile)| (index as u32, *profile))
            .collect();
        Snapshot {
            index: SearchIndex::build(&profiles),
            active_partners: Arc::new(active_partners(registry, |id| by_id.get(id).copied())),
            safeguarding_not_met: Arc::new(safeguarding_not_met),
            by_id: Arc::new(by_id),
            numbers,
            family_members: Arc::new(family_members),
            body_members: Arc::new(body_members),
            partnerships: Arc::new(partnerships),
            vacant: Arc::default(),
            vacancies: 0,
            added: 0,
            grown: 0,
            version: 0,
            order_keys: (1..=schools.len() as u64).map(|n| n * ORDER_GAP).collect(),
            by_order: Arc::new((0..schools.len() as u32).collect()),
            schools,
            profiles,
        }
    }

    /// The snapshot after `changes` were made to the registry this
    /// snapshot was built from: a copy sharing everything they left as it
    /// was, with the changed schools' records and profiles replaced, moved
    /// between families, bodies and buckets of the index. A school created
    /// takes the lowest vacant place, else the next index, with an order
    /// key between those of its neighbours in id order. A school deleted
    /// leaves a vacant place. Past [`MAX_CREATED_AT_ONCE`] created by these
    /// changes, [`MAX_ADDED`] places added or [`MIN_VACANT`] vacant (or a quarter of
    /// the schools), or when two neighbours' order keys leave no room, the
    /// snapshot is built whole.
    pub(crate) fn after(&self, registry: &Registry, changes: &Changes) -> Snapshot {
        let created = changes.created.len();
        // Created schools fill vacant places first, so churn (schools
        // created and deleted in turn) neither grows the snapshot nor
        // builds it whole.
        let grown = self.grown + created.saturating_sub(self.vacancies);
        let vacant = self.vacancies.saturating_sub(created) + changes.deleted.len();
        if created > MAX_CREATED_AT_ONCE || grown > MAX_ADDED || vacant > self.max_vacant() {
            return Snapshot::build(registry);
        }
        let mut next = self.clone();
        let mut facts = None;
        let partnerships: Arc<Vec<Arc<Partnership>>>;
        if !changes.partnerships.is_empty() {
            partnerships = Arc::new(registry.partnerships().cloned().collect());
            next.partnerships = Arc::clone(&partnerships);
            facts = Some(PartnershipFacts::of(&partnerships));
        }
        let mut numberer = Numberer::new(Arc::clone(&self.numbers));
        let mut moved: Vec<(u32, Profile, Profile)> = Vec::new();
        // New schools take vacant places, else the next indices: none
        // moves.
        for id in &changes.created {
            let Some(stored) = registry.get(id.as_str()) else {
                continue;
            };
            let Some((at, key)) = next.place_in_order(id.as_str()) else {
                return Snapshot::build(registry);
            };
            let reused = next.vacant.minimum();
            let index = reused.map_or(next.schools.len(), |place| place) as u32;
            Arc::make_mut(&mut next.by_order).insert(at, index);
            let (active_support, track_record) = facts
                .as_ref()
                .map_or((0, TrackRecord::NONE), |facts: &PartnershipFacts<'_>| {
                    facts.of_school(id.as_str())
                });
            let family = registry.family_of(stored);
            let profile = numberer.profile(stored, family, active_support, track_record);
            move_member(&mut next.family_members, NONE, profile.family, index);
            let bodies = numberer.bodies(stored);
            move_bodies(&mut next.body_members, [NONE; 3], bodies, index);
            // What the place held before: in no bucket of the index.
            let absent = match reused {
                Some(place) => {
                    let vacated = next.profiles[place];
                    Arc::make_mut(&mut next.vacant).remove(place);
                    next.vacancies -= 1;
                    next.schools.set(place, Arc::clone(stored));
                    next.profiles.set(place, profile);
                    next.order_keys.set(place, key);
                    vacated
                }
                None => {
                    next.schools.push(Arc::clone(stored));
                    next.profiles.push(profile);
                    next.order_keys.push(key);
                    next.grown += 1;
                    Profile {
                        open: false,
                        safeguarding_not_met: false,
                        ..profile
                    }
                }
            };
            next.added += 1;
            moved.push((index, absent, profile));
        }
        // Schools a family cut moved and no write touched: only their
        // family numbers and the family lists change (a written school takes
        // its family below, read from the registry as it is now).
        for (id, group, number) in &changes.families {
            if changes.schools.contains(id)
                || changes.created.contains(id)
                || changes.deleted.contains(id)
            {
                continue;
            }
            let Some(index) = self.index_of(id.as_str()) else {
                continue;
            };
            let old = next.profiles[index as usize];
            let family = numberer.family(Some(FamilyRef::Computed(*group, *number)));
            if family == old.family {
                continue;
            }
            move_member(&mut next.family_members, old.family, family, index);
            let profile = Profile { family, ..old };
            next.profiles.set(index as usize, profile);
            moved.push((index, old, profile));
        }
        let mut affected: BTreeSet<u32> = changes
            .schools
            .iter()
            .filter_map(|id| self.index_of(id.as_str()))
            .collect();
        if !changes.partnerships.is_empty() {
            for id in &changes.partnerships {
                let before = self.partnership(id.as_str()).into_iter();
                for partnership in before.chain(registry.partnership(id.as_str())) {
                    affected.extend(
                        partnership
                            .members
                            .iter()
                            .filter_map(|member| self.index_of(member.school_id.as_str())),
                    );
                }
            }
            next.active_partners = Arc::new(active_partners(registry, |id| next.index_of(id)));
        }
        for &index in &affected {
            let before = self.school(index);
            let Some(stored) = registry.get(before.school.id.as_str()) else {
                continue;
            };
            let old = *self.profile(index);
            let (active_support, track_record) = match &facts {
                Some(facts) => facts.of_school(stored.school.id.as_str()),
                None => (old.active_support, old.track_record),
            };
            let family = registry.family_of(stored);
            let profile = numberer.profile(stored, family, active_support, track_record);
            move_member(&mut next.family_members, old.family, profile.family, index);
            let (old_bodies, bodies) = (numberer.bodies(before), numberer.bodies(stored));
            move_bodies(&mut next.body_members, old_bodies, bodies, index);
            next.schools.set(index as usize, Arc::clone(stored));
            if profile != old {
                next.profiles.set(index as usize, profile);
                moved.push((index, old, profile));
            }
        }
        for id in &changes.deleted {
            let Some(index) = self.index_of(id.as_str()) else {
                continue;
            };
            let old = next.profiles[index as usize];
            move_member(&mut next.family_members, old.family, NONE, index);
            let bodies = numberer.bodies(&next.schools[index as usize]);
            move_bodies(&mut next.body_members, bodies, [NONE; 3], index);
            let closed = Profile {
                open: false,
                family: NO_FAMILY,
                trust: NO_BODY,
                diocese: NO_BODY,
                safeguarding_not_met: false,
                ..old
            };
            next.profiles.set(index as usize, closed);
            moved.push((index, old, closed));
            let vacant = Arc::make_mut(&mut next.vacant);
            vacant.grow(index as usize + 1);
            vacant.insert(index as usize);
            next.vacancies += 1;
            let key = next.order_keys[index as usize];
            let position = next
                .by_order
                .binary_search_by_key(&key, |&live| next.order_keys[live as usize]);
            if let Ok(position) = position {
                Arc::make_mut(&mut next.by_order).remove(position);
            }
        }
        next.numbers = numberer.numbers;
        // Only a school with safeguarding not met before or after can be in
        // the list or enter it; a family cut moves thousands that are not.
        let mut safeguarding = moved
            .iter()
            .filter(|(_, old, new)| old.safeguarding_not_met || new.safeguarding_not_met)
            .peekable();
        if safeguarding.peek().is_some() {
            let list = Arc::make_mut(&mut next.safeguarding_not_met);
            for (index, _, profile) in safeguarding {
                list.retain(|(member, _)| member != index);
                if profile.open && profile.safeguarding_not_met {
                    let at = list.partition_point(|(member, _)| member < index);
                    list.insert(at, (*index, *profile));
                }
            }
        }
        moved.retain(|(_, old, new)| !old.same_but_family(new));
        next.index.update(&moved, &next.profiles);
        next
    }

    /// Schools held (deleted ones not counted).
    pub fn len(&self) -> usize {
        self.schools.len() - self.vacancies
    }

    /// The registry version it holds: the number of the last write in it.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One more than the highest school index: indices run below this,
    /// including those of deleted schools.
    pub(crate) fn index_bound(&self) -> u32 {
        self.schools.len() as u32
    }

    /// Families with members.
    pub fn family_count(&self) -> usize {
        self.family_members
            .iter()
            .filter(|members| !members.is_empty())
            .count()
    }

    /// The family of the school at `index`: the one its record gives, or
    /// the computed one (`auto-…`); `None` without either.
    pub fn family_id(&self, index: u32) -> Option<String> {
        self.family_label(index).map(|family| family.id())
    }

    /// [`Snapshot::family_id`], written only when displayed.
    pub fn family_label(&self, index: u32) -> Option<FamilyLabel<'_>> {
        let family = self.profile(index).family;
        (family != NO_FAMILY)
            .then(|| FamilyLabel(self.numbers.family_names[family as usize].as_ref()))
    }

    /// The family of the school with id `id`, if it has one.
    pub fn family_of(&self, id: &str) -> Option<String> {
        self.index_of(id).and_then(|index| self.family_id(index))
    }

    /// The number of the family with id `id`, if any school has had it.
    /// Computed ids are found by reading every family's name: for
    /// listings, not for matches.
    pub(crate) fn family_number(&self, id: &str) -> Option<u32> {
        if let Some(&number) = self.numbers.given_families.get(id) {
            return Some(number);
        }
        self.numbers
            .family_names
            .iter()
            .position(|name| matches!(name, FamilyName::Computed(..)) && name.as_ref().id() == id)
            .map(|number| number as u32)
    }

    /// Indices of the members of family number `family`.
    pub(crate) fn family_members(&self, family: u32) -> &[u32] {
        self.family_members
            .get(family as usize)
            .map_or(&[], |members| members.as_slice())
    }

    /// Indices of the members of body number `number` of `kind`, sorted.
    pub(crate) fn body_members(&self, kind: AffiliationKind, number: u32) -> &[u32] {
        self.body_members[kind as usize]
            .get(number as usize)
            .map_or(&[], |members| members.as_slice())
    }

    /// Indices of the members of the body of `kind` with this code, sorted;
    /// empty when no school belongs to it.
    pub fn members_of(&self, kind: AffiliationKind, code: &str) -> &[u32] {
        self.numbers.bodies[kind as usize]
            .get(code)
            .map_or(&[], |number| self.body_members(kind, *number))
    }

    /// Index of the school with this id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        let built_whole = self
            .by_id
            .get(id)
            .copied()
            .filter(|&index| self.vacancies == 0 || !self.vacant.contains(index as usize))
            // A place a created school took over holds another id now.
            .filter(|&index| {
                self.added == 0 || self.schools[index as usize].school.id.as_str() == id
            });
        if built_whole.is_some() || self.added == 0 {
            return built_whole;
        }
        // Created since: the live schools in id order hold it.
        self.by_order
            .get(self.order_position(id))
            .copied()
            .filter(|&index| self.schools[index as usize].school.id.as_str() == id)
    }

    /// The position in the live schools in id order of the first whose id
    /// is not below `id`: where a school with that id is, or would go.
    fn order_position(&self, id: &str) -> usize {
        self.by_order
            .partition_point(|&index| self.schools[index as usize].school.id.as_str() < id)
    }

    /// Where a school created with id `id` goes in id order: its position
    /// among the live schools and an order key between its neighbours';
    /// `None` when their keys leave no room.
    fn place_in_order(&self, id: &str) -> Option<(usize, u64)> {
        let at = self.order_position(id);
        let key_at = |position: usize| self.order_keys[self.by_order[position] as usize];
        let before = if at == 0 { 0 } else { key_at(at - 1) };
        let after = if at == self.by_order.len() {
            before.checked_add(2 * ORDER_GAP)?
        } else {
            key_at(at)
        };
        (after - before >= 2).then_some((at, before + (after - before) / 2))
    }

    /// The key of the school at `index` in id order: keys compare as the
    /// schools' ids do.
    pub(crate) fn order_key(&self, index: u32) -> u64 {
        self.order_keys[index as usize]
    }

    pub fn get(&self, id: &str) -> Option<&Arc<StoredSchool>> {
        self.index_of(id).map(|index| self.record(index))
    }

    /// The record of the school at `index`, shared.
    pub(crate) fn record(&self, index: u32) -> &Arc<StoredSchool> {
        &self.schools[index as usize]
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

    pub(crate) fn profiles(&self) -> &Chunked<Profile> {
        &self.profiles
    }

    /// Schools in id order.
    pub fn schools(&self) -> Schools<'_> {
        Schools {
            all: &self.schools,
            order: &self.by_order,
        }
    }

    pub(crate) fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Writes the search index holds beside its trees (entries skipped
    /// plus members scored one by one), over all buckets: what the merger
    /// has yet to fold in.
    pub fn index_overlay(&self) -> usize {
        self.index.overlay()
    }

    /// The most vacant places a snapshot holds before a write builds the
    /// next whole.
    fn max_vacant(&self) -> usize {
        MIN_VACANT.max(self.schools.len() / 4)
    }

    /// Places for schools: those held, and those deleted schools left
    /// vacant since the snapshot was built whole (which created schools
    /// take first).
    pub fn places(&self) -> usize {
        self.schools.len()
    }

    /// Schools created, and places left vacant, since the snapshot was
    /// built whole.
    pub fn places_since_built_whole(&self) -> (usize, usize) {
        (self.added, self.vacancies)
    }

    /// Buckets of the index whose overlays are due to be merged.
    pub(crate) fn merges_due(&self) -> Vec<BucketKey> {
        self.index.merges_due()
    }

    /// Builds the trees of bucket `key` again from this snapshot.
    pub(crate) fn merge(&self, key: BucketKey) -> Option<Merged> {
        self.index.merge(key, &self.profiles)
    }

    /// Asserts the search index holds every open school once, as it is.
    #[cfg(test)]
    pub(crate) fn assert_index_exact(&self) {
        self.index.assert_exact(&self.profiles);
    }

    /// This snapshot with `merged` (from an earlier one) installed, or
    /// `None` if the bucket's trees changed since the merge began.
    pub(crate) fn with_merged(&self, merged: Merged) -> Option<Snapshot> {
        let mut next = self.clone();
        next.index.install(merged, &self.profiles).then_some(next)
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
