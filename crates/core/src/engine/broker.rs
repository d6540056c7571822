//! Consortium-wide brokerage: pair many seekers with partners at once so the
//! total match score is as high as it can be without asking any school for
//! more support than it has places for.
//!
//! Each seeker's candidates come from the pruned top-K search (its best K
//! partners under the request's constraints), which keeps the problem
//! sparse. The assignment on those candidates is a maximum-weight
//! b-matching, solved exactly as a min-cost flow (source → seeker → partner
//! → sink, capacities the places each side has, costs the negated scores in
//! integer units). It is then certified for all partners, not only the K
//! considered: by LP duality, if every seeker whose list was cut short has
//! in its list a partner left with a free place, no partner outside the
//! lists could raise the total (that partner's score is at most the list's
//! lowest, and the free partner's dual price is zero). A seeker that fails
//! the test gets a four times longer list and the flow is solved again.

use std::collections::HashMap;

use crate::domain::{MatchMode, Phase, Stage, StoredSchool};

use super::config::ScoringConfig;
use super::error::{Error, Result};
use super::flow::Network;
use super::matcher::{Constraints, RankedCandidate, SearchRequest, explain, search, why_none};
use super::snapshot::Snapshot;

/// Bounds on brokerage requests.
pub mod limits {
    /// Most seekers in one run.
    pub const MAX_SEEKERS: usize = 10_000;
    /// Candidates first considered per seeker.
    pub const INITIAL_CANDIDATES: usize = 16;
}

/// Scores in integer units for the flow: exact sums, no rounding drift.
const SCORE_UNITS: f64 = 1e12;

/// Which schools seek partners.
#[derive(Debug, Clone, PartialEq)]
pub enum SeekerSelection {
    /// These schools (each must exist).
    Ids(Vec<String>),
    /// Every open school matching the filter.
    Filter(SeekerFilter),
}

/// Open schools in an area and at stages. Empty strings and lists mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeekerFilter {
    pub consortium: String,
    pub local_authority: String,
    pub stages: Vec<Stage>,
    pub phase: Option<Phase>,
}

/// A brokerage run: who seeks, and the constraints every seeker's search
/// uses.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerQuery {
    pub seekers: SeekerSelection,
    pub constraints: Constraints,
    /// Give every pair's components with their reasons.
    pub explain: bool,
    /// Candidates first considered per seeker ([`limits::INITIAL_CANDIDATES`]
    /// by default; tests use fewer to make lists grow).
    pub initial_candidates: usize,
}

/// One seeker paired with one partner.
#[derive(Debug, Clone)]
pub struct Pairing<'a> {
    pub seeker: &'a StoredSchool,
    /// The partner, ranked as in the seeker's own search.
    pub partner: RankedCandidate<'a>,
}

/// A seeker left without a partner, and why.
#[derive(Debug, Clone)]
pub struct Unassigned<'a> {
    pub seeker: &'a StoredSchool,
    pub reason: String,
}

/// Totals of one assignment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AssignmentSummary {
    pub total_score: f64,
    pub pairs: u32,
    /// Most pairs given to one supporting school.
    pub max_supporter_load: u32,
}

#[derive(Debug, Clone)]
pub struct BrokerOutcome<'a> {
    /// Schools in the run as seekers.
    pub seekers: u32,
    /// In seeker id order (a LEAD seeker may have several partners, in rank
    /// order).
    pub pairings: Vec<Pairing<'a>>,
    pub unassigned: Vec<Unassigned<'a>>,
    pub optimal: AssignmentSummary,
    /// Each seeker in id order taking its best partners with a free place
    /// from the same candidate lists, as one Match after another would: the
    /// baseline the optimum improves on.
    pub greedy: AssignmentSummary,
    /// Candidate pairs the flow was solved over, in the last round.
    pub candidate_pairs: u32,
    /// Times the flow was solved (lists grew between rounds).
    pub rounds: u32,
}

/// One seeker's search result.
struct Seeker<'a> {
    /// Its snapshot index.
    index: u32,
    school: &'a StoredSchool,
    /// How many pairs it can be in: 1, or its free places when it leads.
    places: i64,
    /// Candidates (other seekers removed), best first; `Err` when the
    /// search refused the seeker (closed, no capacity to lead, ...).
    candidates: std::result::Result<Vec<RankedCandidate<'a>>, String>,
    /// The search returned as many as asked: more partners may exist,
    /// none scoring above `floor`.
    truncated: bool,
    /// The lowest score the search listed, in units.
    floor: i64,
    asked: usize,
}

fn units(score: f64) -> i64 {
    (score * SCORE_UNITS).round() as i64
}

/// The schools a selection names, sorted by id, without repeats; `run`
/// names the operation in errors ("a brokerage run", "group formation").
pub(crate) fn select_seekers(
    snapshot: &Snapshot,
    selection: &SeekerSelection,
    run: &str,
) -> Result<Vec<u32>> {
    let mut seekers: Vec<u32> = match selection {
        SeekerSelection::Ids(ids) => ids
            .iter()
            .map(|id| {
                snapshot
                    .index_of(id)
                    .ok_or_else(|| Error::school_not_found(id))
            })
            .collect::<Result<_>>()?,
        SeekerSelection::Filter(filter) => {
            let matches = |wanted: &str, value: &str| {
                wanted.is_empty() || wanted.trim().eq_ignore_ascii_case(value.trim())
            };
            snapshot
                .schools()
                .indexed()
                .filter(|(_, stored)| {
                    let school = &stored.school;
                    school.open
                        && matches(&filter.consortium, &school.consortium)
                        && matches(&filter.local_authority, &school.local_authority)
                        && filter.phase.is_none_or(|phase| phase == school.phase)
                        && (filter.stages.is_empty()
                            || stored.stage().is_some_and(|s| filter.stages.contains(&s)))
                })
                .map(|(index, _)| index)
                .collect()
        }
    };
    seekers.sort_unstable_by_key(|&index| snapshot.order_key(index));
    seekers.dedup();
    if seekers.len() > limits::MAX_SEEKERS {
        return Err(Error::ResourceExhausted(format!(
            "{run} takes at most {} schools, got {}",
            limits::MAX_SEEKERS,
            seekers.len()
        )));
    }
    Ok(seekers)
}

/// Runs one brokerage over `snapshot`, calling `progress(done, seekers)`
/// as seekers' searches finish (the bulk of a long run), for a progress
/// bar.
pub(super) fn broker_with_progress<'a>(
    snapshot: &'a Snapshot,
    query: &BrokerQuery,
    config: &ScoringConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<BrokerOutcome<'a>> {
    let indices = select_seekers(snapshot, &query.seekers, "a brokerage run")?;
    let leads = query.constraints.mode == MatchMode::Lead;
    let request = |limit: usize| SearchRequest {
        constraints: &query.constraints,
        limit,
        explain: false,
        // A school is brokered as a seeker or as a partner, not both.
        excluded: &indices,
        tiered: false,
    };
    let search = |seeker: u32, asked: usize| {
        let school = snapshot.school(seeker);
        let (candidates, truncated, floor) = match search(snapshot, seeker, &request(asked), config)
        {
            Ok(outcome) => {
                let truncated = outcome.candidates.len() == asked;
                let floor = outcome.candidates.last().map_or(0, |c| units(c.score));
                (Ok(outcome.candidates), truncated, floor)
            }
            Err(error) => (Err(error.to_string()), false, 0),
        };
        Seeker {
            index: seeker,
            school,
            places: if leads {
                i64::from(snapshot.free_places(seeker))
            } else {
                1
            },
            candidates,
            truncated,
            floor,
            asked,
        }
    };
    let mut seekers: Vec<Seeker<'a>> = indices
        .iter()
        .enumerate()
        .map(|(done, &index)| {
            let searched = search(index, query.initial_candidates.max(1));
            progress(done + 1, indices.len());
            searched
        })
        .collect();

    let mut rounds = 0;
    let (assignment, candidate_pairs) = loop {
        rounds += 1;
        let solved = solve(snapshot, &seekers, leads);
        // Certificate, per seeker whose list was cut short: no partner left
        // out (scoring at most `floor`) could raise the total.
        let uncertain: Vec<usize> = seekers
            .iter()
            .enumerate()
            .filter(|(s, seeker)| seeker.truncated && !solved.certifies(*s, seeker))
            .map(|(s, _)| s)
            .collect();
        let (assignment, candidate_pairs) = (solved.assignment, solved.candidate_pairs);
        if uncertain.is_empty() {
            break (assignment, candidate_pairs);
        }
        for s in uncertain {
            let asked = seekers[s].asked * 4;
            seekers[s] = search(seekers[s].index, asked);
        }
    };

    let optimal = summarize(&seekers, &assignment, leads);
    let greedy_assignment = greedy(snapshot, &seekers, leads);
    let greedy = summarize(&seekers, &greedy_assignment, leads);

    let mut pairings = Vec::new();
    let mut unassigned = Vec::new();
    for (s, seeker) in seekers.iter().enumerate() {
        let chosen = &assignment[s];
        if chosen.is_empty() {
            let reason = match &seeker.candidates {
                Err(reason) => reason.clone(),
                Ok(candidates) if candidates.is_empty() => {
                    why_none(snapshot, seeker.index, &request(1), config)
                        .unwrap_or_else(|error| error.to_string())
                }
                Ok(_) => {
                    "every partner that meets the constraints gives its places to seekers it suits better".to_owned()
                }
            };
            unassigned.push(Unassigned {
                seeker: seeker.school,
                reason,
            });
            continue;
        }
        let candidates = seeker
            .candidates
            .as_ref()
            .expect("assigned seekers have candidates");
        for &c in chosen {
            let candidate = &candidates[c];
            let partner = if query.explain {
                explain(snapshot, seeker.index, &request(1), config, candidate)?
            } else {
                candidate.clone()
            };
            pairings.push(Pairing {
                seeker: seeker.school,
                partner,
            });
        }
    }
    Ok(BrokerOutcome {
        seekers: seekers.len() as u32,
        pairings,
        unassigned,
        optimal,
        greedy,
        candidate_pairs,
        rounds,
    })
}

/// The chosen candidates (positions in each seeker's list) of one
/// assignment, per seeker.
type Assignment = Vec<Vec<usize>>;

/// The best assignment over the current lists, with what proves it best
/// over all partners.
struct Solved<'s> {
    assignment: Assignment,
    candidate_pairs: u32,
    /// Places left of each listed partner.
    free: HashMap<&'s str, i64>,
    /// Each seeker's dual value: potential(seeker) − potential(sink).
    dual: Vec<i64>,
}

impl Solved<'_> {
    /// Whether no partner outside `seeker`'s list (each scoring at most its
    /// floor) could improve the assignment. Either suffices:
    /// - a listed partner has a free place: its dual price is 0, so the
    ///   seeker's dual value is at least that partner's score ≥ the floor;
    /// - the seeker's dual value, from the flow's final potentials, is at
    ///   least the floor (every partner's potential can be taken at most
    ///   the sink's, so a left-out pair's reduced cost is non-negative).
    ///
    /// Either way every left-out pair meets its dual constraint, so the
    /// optimum over the lists is the optimum over all partners.
    fn certifies(&self, s: usize, seeker: &Seeker<'_>) -> bool {
        let has_free_partner = seeker.candidates.as_ref().is_ok_and(|candidates| {
            candidates.iter().any(|c| {
                self.free
                    .get(c.school.school.id.as_str())
                    .is_some_and(|free| *free > 0)
            })
        });
        has_free_partner || seeker.floor <= self.dual[s]
    }
}

fn solve<'s>(snapshot: &Snapshot, seekers: &'s [Seeker<'_>], leads: bool) -> Solved<'s> {
    // Nodes: 1..=n seekers (0 is unused), then partners by first
    // appearance, then the sink. Each seeker also has a zero-cost arc
    // straight to the sink: "unassigned".
    let n = seekers.len();
    let mut partner_node: HashMap<&str, usize> = HashMap::new();
    let mut partner_ids: Vec<&str> = Vec::new();
    for seeker in seekers {
        for candidate in seeker.candidates.iter().flatten() {
            let id = candidate.school.school.id.as_str();
            if !partner_node.contains_key(id) {
                partner_node.insert(id, n + 1 + partner_ids.len());
                partner_ids.push(id);
            }
        }
    }
    let sink = n + 1 + partner_ids.len();
    let mut network = Network::new(sink + 1);
    let mut potential = vec![0i64; sink + 1];
    let mut arcs: Vec<Vec<usize>> = Vec::with_capacity(n);
    let mut pairs = 0u32;
    for (s, seeker) in seekers.iter().enumerate() {
        let mut seeker_arcs = Vec::new();
        for candidate in seeker.candidates.iter().flatten() {
            let node = partner_node[candidate.school.school.id.as_str()];
            let cost = -units(candidate.score);
            seeker_arcs.push(network.add_arc(1 + s, node, 1, cost));
            potential[node] = potential[node].min(cost);
            pairs += 1;
        }
        network.add_arc(1 + s, sink, seeker.places, 0);
        arcs.push(seeker_arcs);
    }
    let mut places_arc = Vec::with_capacity(partner_ids.len());
    for (p, id) in partner_ids.iter().enumerate() {
        let node = n + 1 + p;
        let places = if leads {
            1
        } else {
            let index = snapshot
                .index_of(id)
                .expect("candidates are in the snapshot");
            i64::from(snapshot.profile(index).free_capacity())
        };
        places_arc.push((network.add_arc(node, sink, places, 0), places));
        potential[sink] = potential[sink].min(potential[node]);
    }
    let supplies: Vec<(usize, i64)> = seekers
        .iter()
        .enumerate()
        .map(|(s, seeker)| (1 + s, seeker.places))
        .collect();
    network.send_each(&supplies, sink, potential);
    let assignment = arcs
        .iter()
        .map(|seeker_arcs| {
            seeker_arcs
                .iter()
                .enumerate()
                .filter(|(_, arc)| network.flow(**arc) > 0)
                .map(|(c, _)| c)
                .collect()
        })
        .collect();
    let free = partner_ids
        .iter()
        .zip(&places_arc)
        .map(|(id, (arc, places))| (*id, places - network.flow(*arc)))
        .collect();
    let potentials = network.potentials();
    let dual = (0..n)
        .map(|s| potentials[1 + s] - potentials[sink])
        .collect();
    Solved {
        assignment,
        candidate_pairs: pairs,
        free,
        dual,
    }
}

/// Seekers in id order, each taking its best candidates with a free place.
fn greedy(snapshot: &Snapshot, seekers: &[Seeker<'_>], leads: bool) -> Assignment {
    let mut used: HashMap<&str, i64> = HashMap::new();
    let places = |id: &str| {
        if leads {
            1
        } else {
            snapshot.index_of(id).map_or(0, |index| {
                i64::from(snapshot.profile(index).free_capacity())
            })
        }
    };
    seekers
        .iter()
        .map(|seeker| {
            let mut chosen = Vec::new();
            for (c, candidate) in seeker.candidates.iter().flatten().enumerate() {
                if chosen.len() as i64 >= seeker.places {
                    break;
                }
                let id = candidate.school.school.id.as_str();
                let taken = used.entry(id).or_insert(0);
                if *taken < places(id) {
                    *taken += 1;
                    chosen.push(c);
                }
            }
            chosen
        })
        .collect()
}

fn summarize(seekers: &[Seeker<'_>], assignment: &Assignment, leads: bool) -> AssignmentSummary {
    let mut summary = AssignmentSummary::default();
    let mut load: HashMap<&str, u32> = HashMap::new();
    for (seeker, chosen) in seekers.iter().zip(assignment) {
        let Ok(candidates) = &seeker.candidates else {
            continue;
        };
        for &c in chosen {
            summary.total_score += candidates[c].score;
            summary.pairs += 1;
            let supporter = if leads {
                seeker.school.school.id.as_str()
            } else {
                candidates[c].school.school.id.as_str()
            };
            *load.entry(supporter).or_insert(0) += 1;
        }
    }
    summary.max_supporter_load = load.values().copied().max().unwrap_or(0);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::School;
    use crate::engine::{Engine, EngineConfig};

    #[test]
    fn too_many_schools_are_refused_in_the_words_of_the_operation() {
        let schools: Vec<School> = (0..limits::MAX_SEEKERS + 1)
            .map(|i| School::plain(&format!("s{i:05}")))
            .collect();
        let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
        let everyone = SeekerSelection::Filter(SeekerFilter::default());
        for run in ["a brokerage run", "group formation"] {
            let error = select_seekers(&engine.snapshot(), &everyone, run).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("{run} takes at most 10000 schools, got 10001")
            );
        }
    }
}
