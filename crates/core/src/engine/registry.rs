//! The mutable registry: a `petgraph` graph with schools, the families
//! records give and the bodies schools belong to (trusts, federations,
//! dioceses) as nodes and membership edges, plus an id-ordered index and
//! the groups computed families are cut from (a computed family is a place
//! in its group's cut, not a node: one write can move hundreds of schools
//! between them). Only the writer touches it; readers use the
//! [`Snapshot`](super::Snapshot) built from it after each write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableUnGraph};
use petgraph::visit::EdgeRef;

use crate::domain::{
    AffiliationKind, Affiliations, ContextMeasures, Partnership, PartnershipId, PartnershipStatus,
    School, SchoolId, StoredSchool,
};

use super::config::{ChallengeWeights, EngineConfig};
use super::families::{FamilyGroup, FamilyRef, family_count, family_group, family_number};

/// The family number of a group member not cut yet.
const UNCUT: usize = usize::MAX;

/// A node of the school graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    School(SchoolId),
    /// A family of similar schools (docs/domain.md), given or computed.
    Family(String),
    /// A trust, federation or diocese, by its code.
    Body(AffiliationKind, String),
}

/// An edge of the school graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Relation {
    /// School → family it belongs to.
    MemberOf,
    /// School → trust, federation or diocese it belongs to.
    BelongsTo,
    /// Two schools in the same partnership (one edge per pair of members);
    /// its kind, status and record are in the registry's partnership map.
    Partners(PartnershipId),
}

#[derive(Debug, Clone)]
struct Entry {
    node: NodeIndex,
    stored: Arc<StoredSchool>,
}

/// Counts from applying a batch of upserts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub created: u32,
    pub updated: u32,
    /// Identical to the stored school: nothing to do.
    pub unchanged: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Registry {
    config: Arc<EngineConfig>,
    graph: StableUnGraph<Node, Relation>,
    schools: BTreeMap<SchoolId, Entry>,
    /// Given families with members.
    families: HashMap<String, NodeIndex>,
    /// Trusts, federations and dioceses with members, by kind and code.
    bodies: HashMap<(AffiliationKind, String), NodeIndex>,
    /// The schools whose family is computed, by group, in the order the
    /// group is cut, each with the number of its family in the group at
    /// the last cut ([`UNCUT`] until cut): a write re-cuts only the groups
    /// it touches, and only the members whose number changes are updated.
    family_groups: BTreeMap<FamilyGroup, BTreeMap<(Challenge, SchoolId), usize>>,
    partnerships: BTreeMap<PartnershipId, Arc<Partnership>>,
    /// What changed since [`Registry::take_changes`] was last called.
    changes: Changes,
}

/// What writes changed in the registry since the last snapshot was built
/// from it, so the next one copies only that.
#[derive(Debug, Default, Clone)]
pub(crate) struct Changes {
    /// Schools whose records a write replaced.
    pub schools: BTreeSet<SchoolId>,
    /// Computed families changed by a cut, in order (a later entry for a
    /// school overrides an earlier one): each school with its group and
    /// family number there. Records do not change, so a cut that moves
    /// hundreds of schools costs the next snapshot only their numbers.
    pub families: Vec<(SchoolId, FamilyGroup, u32)>,
    /// Partnerships added or replaced.
    pub partnerships: BTreeSet<PartnershipId>,
    /// Schools deleted.
    pub deleted: BTreeSet<SchoolId>,
    /// Schools created.
    pub created: BTreeSet<SchoolId>,
}

impl Registry {
    pub(crate) fn new(config: Arc<EngineConfig>) -> Registry {
        Registry {
            config,
            graph: StableUnGraph::default(),
            schools: BTreeMap::new(),
            families: HashMap::new(),
            bodies: HashMap::new(),
            family_groups: BTreeMap::new(),
            partnerships: BTreeMap::new(),
            changes: Changes::default(),
        }
    }

    /// What changed since the last call (or since the registry was made).
    pub(crate) fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Arc<StoredSchool>> {
        self.schools.get(id).map(|entry| &entry.stored)
    }

    /// Schools in id order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<StoredSchool>> {
        self.schools.values().map(|entry| &entry.stored)
    }

    /// Ids of the members of a family, in id order, read from the graph.
    #[cfg(test)]
    pub(crate) fn family_members(&self, family: &str) -> Vec<SchoolId> {
        let Some(&family_node) = self.families.get(family) else {
            return Vec::new();
        };
        let mut members: Vec<SchoolId> = self
            .graph
            .neighbors(family_node)
            .filter_map(|node| match &self.graph[node] {
                Node::School(id) => Some(id.clone()),
                Node::Family(_) | Node::Body(..) => None,
            })
            .collect();
        members.sort();
        members
    }

    /// Number of given families (nodes of the graph).
    #[cfg(test)]
    pub(crate) fn family_count(&self) -> usize {
        self.families.len()
    }

    /// Creates or replaces schools, which must already be valid, then
    /// recomputes the families. Cannot fail, so a batch is applied whole.
    pub(crate) fn upsert_all(&mut self, schools: impl IntoIterator<Item = School>) -> UpsertCounts {
        let mut counts = UpsertCounts::default();
        let rules = self.config.evidence.rules();
        let mut changes = FamilyChanges::default();
        for school in schools {
            let challenge = challenge_index(&school.context, &self.config.challenge);
            let stored = StoredSchool::new(school, challenge, &rules);
            match self.schools.get_mut(&stored.school.id) {
                Some(entry) if entry.stored.school == stored.school => counts.unchanged += 1,
                Some(entry) => {
                    let node = entry.node;
                    let old = std::mem::replace(&mut entry.stored, Arc::new(stored));
                    let new = Arc::clone(&entry.stored);
                    self.link_bodies(
                        node,
                        Some(&old.school.affiliations),
                        &new.school.affiliations,
                    );
                    self.regroup(Some(&old), Some(&new), &mut changes);
                    self.changes.schools.insert(new.school.id.clone());
                    counts.updated += 1;
                }
                None => {
                    let stored = Arc::new(stored);
                    let node = self.graph.add_node(Node::School(stored.school.id.clone()));
                    self.link_bodies(node, None, &stored.school.affiliations);
                    self.regroup(None, Some(&stored), &mut changes);
                    self.changes.created.insert(stored.school.id.clone());
                    self.schools
                        .insert(stored.school.id.clone(), Entry { node, stored });
                    counts.created += 1;
                }
            }
        }
        self.remove_empty_bodies();
        self.refresh_families(changes);
        counts
    }

    /// Moves a school (its `old` and `new` records; `None` when created or
    /// deleted) between the groups its family is computed in, noting what
    /// must be cut again.
    fn regroup(
        &mut self,
        old: Option<&StoredSchool>,
        new: Option<&StoredSchool>,
        changes: &mut FamilyChanges,
    ) {
        let Some(id) = old.or(new).map(|stored| stored.school.id.clone()) else {
            return;
        };
        if let (Some(old), Some(new)) = (old, new)
            && same_family_place(old, new)
        {
            // The cut and the school's computed family stay as they are
            // (upsert_all kept its family).
            return;
        }
        let (before, after) = (old.and_then(family_group), new.and_then(family_group));
        if let Some((key, challenge)) = before {
            if let Some(group) = self.family_groups.get_mut(&key) {
                group.remove(&(Challenge(challenge), id.clone()));
            }
            changes.groups.insert(key);
        }
        if let Some((key, challenge)) = after {
            self.family_groups
                .entry(key)
                .or_default()
                .insert((Challenge(challenge), id.clone()), UNCUT);
            changes.groups.insert(key);
        }
        changes.schools.push(id);
    }

    /// Moves a school's membership edges from the bodies of `old` to those
    /// of `new` (creating body nodes as needed); a body left with no
    /// members is removed by [`Registry::remove_empty_bodies`].
    fn link_bodies(&mut self, school: NodeIndex, old: Option<&Affiliations>, new: &Affiliations) {
        if old == Some(new) {
            return;
        }
        let stale: Vec<_> = self
            .graph
            .edges(school)
            .filter(|edge| *edge.weight() == Relation::BelongsTo)
            .map(|edge| edge.id())
            .collect();
        for edge in stale {
            self.graph.remove_edge(edge);
        }
        for (kind, body) in new.iter() {
            let graph = &mut self.graph;
            let node = *self
                .bodies
                .entry((kind, body.code.clone()))
                .or_insert_with(|| graph.add_node(Node::Body(kind, body.code.clone())));
            self.graph.add_edge(school, node, Relation::BelongsTo);
        }
    }

    fn remove_empty_bodies(&mut self) {
        remove_memberless(&mut self.graph, &mut self.bodies);
    }

    /// Each trust, federation and diocese with the ids of its members,
    /// read from the graph (members unordered).
    #[cfg(test)]
    pub(crate) fn bodies(
        &self,
    ) -> impl Iterator<Item = (AffiliationKind, &str, impl Iterator<Item = &SchoolId>)> {
        self.bodies.iter().map(|((kind, code), node)| {
            let members =
                self.graph
                    .neighbors(*node)
                    .filter_map(|member| match &self.graph[member] {
                        Node::School(id) => Some(id),
                        Node::Family(_) | Node::Body(..) => None,
                    });
            (*kind, code.as_str(), members)
        })
    }

    pub(crate) fn partnership(&self, id: &str) -> Option<&Arc<Partnership>> {
        self.partnerships.get(id)
    }

    /// Partnerships in id order.
    pub(crate) fn partnerships(&self) -> impl ExactSizeIterator<Item = &Arc<Partnership>> {
        self.partnerships.values()
    }

    /// Partnerships a school is a member of, read from the graph.
    pub(crate) fn partnerships_of(&self, school: &str) -> Vec<&Arc<Partnership>> {
        let Some(entry) = self.schools.get(school) else {
            return Vec::new();
        };
        let mut ids: Vec<&PartnershipId> = self
            .graph
            .edges(entry.node)
            .filter_map(|edge| match edge.weight() {
                Relation::Partners(id) => Some(id),
                Relation::MemberOf | Relation::BelongsTo => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.partnerships.get(id))
            .collect()
    }

    /// Pairs of schools joined by an edge of an ACTIVE partnership, each
    /// pair once, read from the graph.
    pub(crate) fn active_partner_pairs(&self) -> impl Iterator<Item = (&SchoolId, &SchoolId)> {
        self.graph.edge_indices().filter_map(|edge| {
            let Relation::Partners(id) = &self.graph[edge] else {
                return None;
            };
            let active = self
                .partnerships
                .get(id)
                .is_some_and(|p| p.status == PartnershipStatus::Active);
            let (a, b) = self.graph.edge_endpoints(edge)?;
            match (active, &self.graph[a], &self.graph[b]) {
                (true, Node::School(a), Node::School(b)) => Some((a, b)),
                _ => None,
            }
        })
    }

    /// Adds or replaces a partnership, whose members must be in the registry
    /// and must not change once proposed. A new one gets an edge between
    /// every pair of its members.
    pub(crate) fn put_partnership(&mut self, partnership: Arc<Partnership>) {
        let id = partnership.id.clone();
        if !self.partnerships.contains_key(&id) {
            let nodes: Vec<NodeIndex> = partnership
                .members
                .iter()
                .filter_map(|member| self.schools.get(&member.school_id))
                .map(|entry| entry.node)
                .collect();
            for (i, &a) in nodes.iter().enumerate() {
                for &b in &nodes[i + 1..] {
                    self.graph.add_edge(a, b, Relation::Partners(id.clone()));
                }
            }
        }
        self.changes.partnerships.insert(id.clone());
        self.partnerships.insert(id, partnership);
    }

    /// The first free id of the form `p-NNNNNN`.
    pub(crate) fn next_partnership_id(&self) -> PartnershipId {
        let next = self
            .partnerships
            .keys()
            .filter_map(PartnershipId::number)
            .max()
            .map_or(1, |n| n + 1);
        PartnershipId::numbered(next)
    }

    /// Removes a school; `None` if there was none with that id.
    pub(crate) fn delete(&mut self, id: &str) -> Option<Arc<StoredSchool>> {
        let entry = self.schools.remove(id)?;
        self.changes.schools.remove(id);
        self.changes.deleted.insert(entry.stored.school.id.clone());
        self.graph.remove_node(entry.node);
        self.remove_empty_bodies();
        let mut changes = FamilyChanges::default();
        self.regroup(Some(&entry.stored), None, &mut changes);
        self.refresh_families(changes);
        Some(entry.stored)
    }

    /// Links the schools a write touched to the family their record gives
    /// (a graph edge), and cuts again the groups it touched (schools of the
    /// same phase, language group and size band, ordered by challenge
    /// index, cut into families of about the target size), logging each
    /// member whose family number changes. A school with neither a given
    /// family nor a challenge index has none. Every other school keeps its
    /// family, as the cut of an untouched group does not change.
    fn refresh_families(&mut self, changes: FamilyChanges) {
        for id in changes.schools {
            if let Some(entry) = self.schools.get(&id) {
                let (node, stored) = (entry.node, Arc::clone(&entry.stored));
                self.link_given_family(node, stored.school.given_family());
            }
        }
        for key in changes.groups {
            let Some(group) = self.family_groups.get_mut(&key) else {
                continue;
            };
            if group.is_empty() {
                self.family_groups.remove(&key);
                continue;
            }
            let (total, count) = (
                group.len(),
                family_count(group.len(), &self.config.families),
            );
            for (position, ((_, id), number)) in group.iter_mut().enumerate() {
                let cut = family_number(position, total, count);
                if *number != cut {
                    *number = cut;
                    self.changes.families.push((id.clone(), key, cut as u32));
                }
            }
        }
        remove_memberless(&mut self.graph, &mut self.families);
    }

    /// Makes `family` the only given family the school at `node` belongs
    /// to in the graph.
    fn link_given_family(&mut self, node: NodeIndex, family: Option<&str>) {
        let linked: Vec<(EdgeIndex, NodeIndex)> = self
            .graph
            .edges(node)
            .filter(|edge| *edge.weight() == Relation::MemberOf)
            .map(|edge| (edge.id(), edge.target()))
            .collect();
        if let ([(_, linked)], Some(family)) = (linked.as_slice(), family)
            && self.graph[*linked] == Node::Family(family.to_owned())
        {
            return;
        }
        for (edge, _) in linked {
            self.graph.remove_edge(edge);
        }
        if let Some(name) = family {
            let graph = &mut self.graph;
            let family_node = *self
                .families
                .entry(name.to_owned())
                .or_insert_with(|| graph.add_node(Node::Family(name.to_owned())));
            self.graph.add_edge(node, family_node, Relation::MemberOf);
        }
    }

    /// The family of a school this registry holds: the one its record
    /// gives, or its place in its group's cut; `None` without either.
    pub(crate) fn family_of<'a>(&self, stored: &'a StoredSchool) -> Option<FamilyRef<'a>> {
        if let Some(given) = stored.school.given_family() {
            return Some(FamilyRef::Given(given));
        }
        let (key, challenge) = family_group(stored)?;
        let number = *self
            .family_groups
            .get(&key)?
            .get(&(Challenge(challenge), stored.school.id.clone()))?;
        (number != UNCUT).then_some(FamilyRef::Computed(key, number as u32))
    }
}

/// Whether a school's new record keeps the old one's computed family: the
/// same group and the same place in its order (a rename, a new stage), so
/// neither its family nor its group's cut changes.
fn same_family_place(old: &StoredSchool, new: &StoredSchool) -> bool {
    let before = family_group(old);
    before.is_some() && before == family_group(new)
}

/// What a write touched, for [`Registry::refresh_families`]: the schools
/// written and the family groups they left or joined.
#[derive(Debug, Default)]
struct FamilyChanges {
    schools: Vec<SchoolId>,
    groups: BTreeSet<FamilyGroup>,
}

/// A challenge index ordered as a group's cut orders it (`total_cmp`).
#[derive(Debug, Clone, Copy)]
struct Challenge(f64);

impl PartialEq for Challenge {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Challenge {}
impl PartialOrd for Challenge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Challenge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Drops the group nodes (families, bodies) of `nodes` that no school
/// belongs to any more, from the map and the graph.
fn remove_memberless<K>(
    graph: &mut StableUnGraph<Node, Relation>,
    nodes: &mut HashMap<K, NodeIndex>,
) {
    nodes.retain(|_, node| {
        let has_members = graph.neighbors(*node).next().is_some();
        if !has_members {
            graph.remove_node(*node);
        }
        has_members
    });
}

/// The index of challenge (docs/domain.md): the weighted mean of the known
/// measures, weights renormalised over them; `None` if none is known.
pub(super) fn challenge_index(
    measures: &ContextMeasures,
    weights: &ChallengeWeights,
) -> Option<f64> {
    let pairs = [
        (measures.fsm_percent, weights.fsm),
        (measures.deprivation_percent, weights.deprivation),
        (measures.aln_percent, weights.aln),
        (measures.eal_percent, weights.eal),
    ];
    let (sum, weight) = pairs
        .iter()
        .filter_map(|(value, weight)| value.map(|value| (value * weight, *weight)))
        .fold((0.0, 0.0), |(sum, total), (value, weight)| {
            (sum + value, total + weight)
        });
    (weight > 0.0).then(|| sum / weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LanguageMedium, SchoolId};

    #[test]
    fn challenge_index_renormalises_over_known_measures() {
        let weights = ChallengeWeights::default();
        let all = ContextMeasures {
            fsm_percent: Some(40.0),
            deprivation_percent: Some(50.0),
            aln_percent: Some(20.0),
            eal_percent: Some(0.0),
        };
        let expected = 0.5 * 40.0 + 0.2 * 50.0 + 0.15 * 20.0;
        assert!((challenge_index(&all, &weights).unwrap() - expected).abs() < 1e-12);
        let fsm_only = ContextMeasures {
            fsm_percent: Some(30.0),
            ..ContextMeasures::default()
        };
        assert_eq!(challenge_index(&fsm_only, &weights), Some(30.0));
        assert_eq!(challenge_index(&ContextMeasures::default(), &weights), None);
    }

    fn school(id: &str, fsm: f64) -> School {
        School {
            language_medium: Some(LanguageMedium::English),
            pupils: Some(150),
            context: ContextMeasures {
                fsm_percent: Some(fsm),
                ..ContextMeasures::default()
            },
            ..School::plain(id)
        }
    }

    /// Every school has its family (given, or its place in its group's
    /// cut), and the graph's membership edges agree with the given ones,
    /// after upserts, a given family, a change of it and deletes.
    #[test]
    fn graph_membership_follows_the_given_families() {
        let mut registry = Registry::new(Arc::new(EngineConfig::default()));
        let ids: Vec<String> = (0..16).map(|i| format!("s{i:02}")).collect();
        registry.upsert_all(ids.iter().enumerate().map(|(i, id)| school(id, i as f64)));
        let mut given = school("g1", 3.0);
        given.family_id = Some("hand-made".into());
        registry.upsert_all([given]);
        registry.delete("s00").unwrap();

        let check = |registry: &Registry| {
            let mut families: BTreeMap<String, Vec<SchoolId>> = BTreeMap::new();
            for stored in registry.iter() {
                let family = registry
                    .family_of(stored)
                    .expect("every school has a family");
                families
                    .entry(family.id())
                    .or_default()
                    .push(stored.school.id.clone());
            }
            let given = families.keys().filter(|f| !f.starts_with("auto-")).count();
            assert_eq!(registry.family_count(), given, "a node per given family");
            for (family, members) in &families {
                let in_graph = registry.family_members(family);
                if family.starts_with("auto-") {
                    assert!(in_graph.is_empty(), "{family} is a cut, not a node");
                } else {
                    assert_eq!(&in_graph, members, "{family}");
                }
            }
            families
        };
        let families = check(&registry);
        assert_eq!(families["hand-made"], [SchoolId::parse("g1").unwrap()]);
        // 15 computed schools make two families (7 and 8 members average
        // nearer the target of 11 than one family of 15).
        let computed: Vec<_> = families.keys().filter(|f| f.starts_with("auto-")).collect();
        assert_eq!(computed.len(), 2, "{computed:?}");
        assert!(registry.family_members("no-such-family").is_empty());

        let mut moved = school("g1", 3.0);
        moved.family_id = Some("made-again".into());
        registry.upsert_all([moved]);
        let families = check(&registry);
        assert!(!families.contains_key("hand-made"));
        assert_eq!(families["made-again"], [SchoolId::parse("g1").unwrap()]);

        registry.delete("g1").unwrap();
        let families = check(&registry);
        assert!(
            !families.contains_key("made-again"),
            "an empty family node is removed"
        );
    }

    /// Trust, federation and diocese nodes follow the schools' records:
    /// an edge per membership, moved on an update, a body with no members
    /// left removed.
    #[test]
    fn graph_bodies_follow_the_affiliations() {
        use crate::domain::{Affiliation, AffiliationKind::*};
        let mut registry = Registry::new(Arc::new(EngineConfig::default()));
        let in_trust = |id: &str, trust: &str| {
            let mut school = school(id, 10.0);
            school.affiliations.trust = Some(Affiliation::new(trust, format!("Trust {trust}")));
            school.affiliations.diocese = Some(Affiliation::new("CE28", "Diocese of Worcester"));
            school
        };
        registry.upsert_all([
            in_trust("a", "T1"),
            in_trust("b", "T1"),
            in_trust("c", "T2"),
        ]);
        let members = |registry: &Registry| {
            let mut bodies: Vec<(String, Vec<String>)> = registry
                .bodies()
                .map(|(kind, code, members)| {
                    let mut ids: Vec<String> = members.map(ToString::to_string).collect();
                    ids.sort();
                    (format!("{kind} {code}"), ids)
                })
                .collect();
            bodies.sort();
            bodies
        };
        let owned = |pairs: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            pairs
                .iter()
                .map(|(body, ids)| {
                    (
                        body.to_string(),
                        ids.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect()
        };
        assert_eq!(
            members(&registry),
            owned(&[
                ("diocese CE28", &["a", "b", "c"]),
                ("trust T1", &["a", "b"]),
                ("trust T2", &["c"])
            ])
        );
        // c joins T1 and leaves the diocese; T2 has no members left.
        let mut moved = in_trust("c", "T1");
        moved.affiliations.diocese = None;
        registry.upsert_all([moved]);
        registry.delete("a").unwrap();
        assert_eq!(
            members(&registry),
            owned(&[("diocese CE28", &["b"]), ("trust T1", &["b", "c"])])
        );
        let snapshot = super::super::snapshot::Snapshot::build(&registry);
        let ids = |indices: &[u32]| -> Vec<String> {
            indices
                .iter()
                .map(|&i| snapshot.school(i).school.id.to_string())
                .collect()
        };
        assert_eq!(ids(snapshot.members_of(Trust, "T1")), ["b", "c"]);
        assert!(snapshot.members_of(Trust, "T2").is_empty());
        assert_eq!(ids(snapshot.members_of(Diocese, "CE28")), ["b"]);
        assert!(snapshot.members_of(Federation, "CE28").is_empty());
    }

    /// Families re-cut group by group as schools come, change and go are
    /// the families a cut of the whole registry gives, every step of the
    /// way.
    #[test]
    fn families_cut_per_group_equal_a_whole_recomputation() {
        use crate::domain::Phase;
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let config = Arc::new(EngineConfig::default());
        let mut registry = Registry::new(Arc::clone(&config));
        let random_school = |rng: &mut rand_chacha::ChaCha8Rng, id: &str| {
            let mut school = school(id, rng.random_range(0.0..60.0));
            school.phase = [Phase::Primary, Phase::Secondary][rng.random_range(0..2)];
            school.pupils = Some(rng.random_range(20..400));
            if rng.random_bool(0.1) {
                school.context = ContextMeasures::default();
            }
            if rng.random_bool(0.05) {
                school.family_id = Some(format!("given-{}", rng.random_range(0..3)));
            }
            if rng.random_bool(0.2) {
                school.language_medium = Some(LanguageMedium::Welsh);
            }
            school
        };
        for step in 0..400 {
            let id = format!("s{:03}", rng.random_range(0..150));
            if rng.random_bool(0.15) {
                registry.delete(&id);
            } else if let Some(stored) = registry.get(&id).filter(|_| rng.random_bool(0.2)) {
                // A change that leaves the school's place in its group.
                let mut renamed = stored.school.clone();
                renamed.name = format!("{} (step {step})", renamed.name);
                registry.upsert_all([renamed]);
            } else {
                let batch = if rng.random_bool(0.1) {
                    (0..20)
                        .map(|i| random_school(&mut rng, &format!("b{step}-{i}")))
                        .collect()
                } else {
                    vec![random_school(&mut rng, &id)]
                };
                registry.upsert_all(batch);
            }
            let mut expected: HashMap<&str, Option<String>> = registry
                .iter()
                .map(|stored| {
                    let given = stored.school.given_family().map(str::to_owned);
                    (stored.school.id.as_str(), given)
                })
                .collect();
            for family in super::super::families::compute_families(
                registry.iter().map(|stored| stored.as_ref()),
                &config.families,
            ) {
                for member in &family.members {
                    let id = registry.get(member.as_str()).unwrap().school.id.as_str();
                    expected.insert(id, Some(family.id.clone()));
                }
            }
            for stored in registry.iter() {
                assert_eq!(
                    registry.family_of(stored).map(|family| family.id()),
                    expected[stored.school.id.as_str()],
                    "step {step}: {}",
                    stored.school.id
                );
            }
            let given: BTreeSet<_> = expected
                .values()
                .flatten()
                .filter(|family| !family.starts_with("auto-"))
                .collect();
            assert_eq!(
                registry.family_count(),
                given.len(),
                "step {step}: family nodes"
            );
        }
    }
}
