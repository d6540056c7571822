//! A deterministic synthetic population of schools shaped like Wales: 22 local
//! authorities in 4 consortia with their real school numbers' prefixes, the
//! real phase mix, Welsh-medium shares, support categories by phase, and
//! challenge that rises where categories are weaker. The same seed always
//! gives the same schools.
//!
//! Larger populations (England-sized and beyond, for benchmarks) tile further
//! Wales-shaped regions eastwards and southwards, keeping Wales's density of
//! schools, so regions 2, 3, ... are fictional places.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};

use crate::domain::{
    Affiliation, Affiliations, ContextMeasures, EvidenceRules, FocusArea, FocusSet, GeoPoint,
    LanguageMedium, Phase, School, SchoolId, Stage, derive_evidence,
};

/// Schools in the embedded default population (Wales has about 1,470).
pub const DEFAULT_SCHOOLS: usize = 1500;
/// Seed of the embedded default population (the year of the Estyn report).
pub const DEFAULT_SEED: u64 = 2015;
/// Schools per Wales-shaped region before another region is added.
const SCHOOLS_PER_REGION: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub schools: usize,
    pub seed: u64,
    pub focus: SyntheticFocus,
}

/// Which strengths and needs the synthetic schools have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyntheticFocus {
    /// A few each, by stage: strong schools more strengths, weak ones more
    /// needs.
    #[default]
    Realistic,
    /// Every school has every strength and every need: the heaviest data
    /// the index can be given, for measuring memory and latency at the
    /// extreme.
    EveryArea,
}

impl Default for SyntheticConfig {
    fn default() -> SyntheticConfig {
        SyntheticConfig {
            schools: DEFAULT_SCHOOLS,
            seed: DEFAULT_SEED,
            focus: SyntheticFocus::Realistic,
        }
    }
}

struct Authority {
    name: &'static str,
    consortium: &'static str,
    /// Welsh Government local-authority code: the first 3 digits of school
    /// numbers.
    code: u32,
    latitude: f64,
    longitude: f64,
    /// Spread of schools around the centre, km (one standard deviation).
    spread_km: f64,
    /// Relative number of schools (the real 2021 counts).
    schools: u32,
    /// Share of Welsh-medium (or bilingual, dual, transitional) schools.
    welsh_share: f64,
    /// Typical free-school-meals percentage.
    fsm_percent: f64,
    /// Its towns and villages, each with where it stands: a school is named
    /// after the one nearest to it.
    places: &'static [Place],
}

/// A town or village and where it stands (WGS84, to about a kilometre).
struct Place {
    name: &'static str,
    latitude: f64,
    longitude: f64,
}

const fn place(name: &'static str, latitude: f64, longitude: f64) -> Place {
    Place {
        name,
        latitude,
        longitude,
    }
}

const AUTHORITIES: [Authority; 22] = [
    Authority {
        name: "Isle of Anglesey",
        consortium: "GwE",
        code: 660,
        latitude: 53.28,
        longitude: -4.35,
        spread_km: 9.0,
        schools: 46,
        welsh_share: 0.85,
        fsm_percent: 18.0,
        places: &[
            place("Amlwch", 53.41, -4.35),
            place("Llangefni", 53.26, -4.31),
            place("Holyhead", 53.31, -4.63),
            place("Beaumaris", 53.26, -4.09),
            place("Benllech", 53.32, -4.22),
            place("Rhosneigr", 53.23, -4.51),
        ],
    },
    Authority {
        name: "Gwynedd",
        consortium: "GwE",
        code: 661,
        latitude: 52.92,
        longitude: -3.98,
        spread_km: 18.0,
        schools: 96,
        welsh_share: 0.97,
        fsm_percent: 15.0,
        places: &[
            place("Bangor", 53.23, -4.13),
            place("Caernarfon", 53.14, -4.27),
            place("Pwllheli", 52.89, -4.42),
            place("Dolgellau", 52.74, -3.89),
            place("Bala", 52.91, -3.60),
            place("Porthmadog", 52.93, -4.13),
            place("Tywyn", 52.58, -4.09),
            place("Blaenau Ffestiniog", 52.99, -3.94),
        ],
    },
    Authority {
        name: "Conwy",
        consortium: "GwE",
        code: 662,
        latitude: 53.17,
        longitude: -3.75,
        spread_km: 11.0,
        schools: 60,
        welsh_share: 0.35,
        fsm_percent: 17.0,
        places: &[
            place("Llandudno", 53.32, -3.83),
            place("Colwyn Bay", 53.29, -3.73),
            place("Abergele", 53.28, -3.58),
            place("Llanrwst", 53.14, -3.80),
            place("Conwy", 53.28, -3.83),
            place("Penmaenmawr", 53.27, -3.93),
        ],
    },
    Authority {
        name: "Denbighshire",
        consortium: "GwE",
        code: 663,
        latitude: 53.10,
        longitude: -3.35,
        spread_km: 10.0,
        schools: 54,
        welsh_share: 0.28,
        fsm_percent: 20.0,
        places: &[
            place("Rhyl", 53.32, -3.49),
            place("Prestatyn", 53.34, -3.41),
            place("Denbigh", 53.18, -3.42),
            place("Ruthin", 53.11, -3.31),
            place("Llangollen", 52.97, -3.17),
            place("Corwen", 52.98, -3.38),
        ],
    },
    Authority {
        name: "Flintshire",
        consortium: "GwE",
        code: 664,
        latitude: 53.20,
        longitude: -3.13,
        spread_km: 8.0,
        schools: 77,
        welsh_share: 0.08,
        fsm_percent: 15.0,
        places: &[
            place("Mold", 53.166, -3.139),
            place("Buckley", 53.17, -3.08),
            place("Flint", 53.25, -3.13),
            place("Connah's Quay", 53.22, -3.06),
            place("Holywell", 53.27, -3.22),
            place("Shotton", 53.21, -3.04),
        ],
    },
    Authority {
        name: "Wrexham",
        consortium: "GwE",
        code: 665,
        latitude: 53.02,
        longitude: -3.00,
        spread_km: 8.0,
        schools: 68,
        welsh_share: 0.12,
        fsm_percent: 18.0,
        places: &[
            place("Wrexham", 53.05, -2.99),
            place("Gresford", 53.09, -2.97),
            place("Rhosllanerchrugog", 53.01, -3.06),
            place("Chirk", 52.93, -3.06),
            place("Brymbo", 53.07, -3.07),
            place("Ruabon", 52.99, -3.04),
        ],
    },
    Authority {
        name: "Powys",
        consortium: "ERW",
        code: 666,
        latitude: 52.35,
        longitude: -3.40,
        spread_km: 24.0,
        schools: 91,
        welsh_share: 0.25,
        fsm_percent: 12.0,
        places: &[
            place("Newtown", 52.51, -3.31),
            place("Welshpool", 52.66, -3.15),
            place("Llandrindod Wells", 52.24, -3.38),
            place("Brecon", 51.95, -3.39),
            place("Machynlleth", 52.59, -3.85),
            place("Builth Wells", 52.15, -3.40),
            place("Knighton", 52.34, -3.05),
            place("Ystradgynlais", 51.78, -3.75),
        ],
    },
    Authority {
        name: "Ceredigion",
        consortium: "ERW",
        code: 667,
        latitude: 52.22,
        longitude: -4.08,
        spread_km: 15.0,
        schools: 43,
        welsh_share: 0.82,
        fsm_percent: 11.0,
        places: &[
            place("Aberystwyth", 52.41, -4.08),
            place("Cardigan", 52.08, -4.66),
            place("Lampeter", 52.11, -4.08),
            place("Aberaeron", 52.24, -4.26),
            place("Tregaron", 52.22, -3.94),
            place("Llandysul", 52.04, -4.31),
        ],
    },
    Authority {
        name: "Pembrokeshire",
        consortium: "ERW",
        code: 668,
        latitude: 51.85,
        longitude: -4.90,
        spread_km: 14.0,
        schools: 61,
        welsh_share: 0.22,
        fsm_percent: 17.0,
        places: &[
            place("Haverfordwest", 51.80, -4.97),
            place("Pembroke", 51.68, -4.92),
            place("Milford Haven", 51.71, -5.04),
            place("Tenby", 51.67, -4.70),
            place("Fishguard", 51.99, -4.98),
            place("Narberth", 51.80, -4.74),
        ],
    },
    Authority {
        name: "Carmarthenshire",
        consortium: "ERW",
        code: 669,
        latitude: 51.88,
        longitude: -4.18,
        spread_km: 16.0,
        schools: 109,
        welsh_share: 0.58,
        fsm_percent: 18.0,
        places: &[
            place("Carmarthen", 51.86, -4.31),
            place("Llanelli", 51.68, -4.16),
            place("Ammanford", 51.79, -3.99),
            place("Llandovery", 51.99, -3.80),
            place("Burry Port", 51.68, -4.25),
            place("Whitland", 51.82, -4.62),
            place("Llandeilo", 51.88, -3.99),
        ],
    },
    Authority {
        name: "Swansea",
        consortium: "ERW",
        code: 670,
        latitude: 51.64,
        longitude: -3.96,
        spread_km: 7.0,
        schools: 93,
        welsh_share: 0.12,
        fsm_percent: 21.0,
        places: &[
            place("Swansea", 51.62, -3.94),
            place("Morriston", 51.67, -3.92),
            place("Gorseinon", 51.67, -4.04),
            place("Pontarddulais", 51.71, -4.04),
            place("Mumbles", 51.57, -4.00),
            place("Clydach", 51.69, -3.90),
        ],
    },
    Authority {
        name: "Neath Port Talbot",
        consortium: "ERW",
        code: 671,
        latitude: 51.67,
        longitude: -3.75,
        spread_km: 7.0,
        schools: 62,
        welsh_share: 0.16,
        fsm_percent: 23.0,
        places: &[
            place("Neath", 51.66, -3.80),
            place("Port Talbot", 51.59, -3.78),
            place("Pontardawe", 51.72, -3.85),
            place("Glynneath", 51.75, -3.63),
            place("Briton Ferry", 51.63, -3.82),
            place("Cwmafan", 51.61, -3.76),
        ],
    },
    Authority {
        name: "Bridgend",
        consortium: "CSC",
        code: 672,
        latitude: 51.53,
        longitude: -3.58,
        spread_km: 6.0,
        schools: 59,
        welsh_share: 0.10,
        fsm_percent: 20.0,
        places: &[
            place("Bridgend", 51.50, -3.58),
            place("Maesteg", 51.61, -3.66),
            place("Porthcawl", 51.48, -3.70),
            place("Pencoed", 51.52, -3.50),
            place("Pyle", 51.53, -3.69),
            place("Ogmore Vale", 51.58, -3.54),
        ],
    },
    Authority {
        name: "Vale of Glamorgan",
        consortium: "CSC",
        code: 673,
        latitude: 51.43,
        longitude: -3.40,
        spread_km: 7.0,
        schools: 55,
        welsh_share: 0.10,
        fsm_percent: 14.0,
        places: &[
            place("Barry", 51.40, -3.27),
            place("Penarth", 51.44, -3.17),
            place("Cowbridge", 51.46, -3.45),
            place("Llantwit Major", 51.41, -3.49),
            place("Dinas Powys", 51.43, -3.22),
            place("Rhoose", 51.39, -3.35),
        ],
    },
    Authority {
        name: "Rhondda Cynon Taf",
        consortium: "CSC",
        code: 674,
        latitude: 51.62,
        longitude: -3.40,
        spread_km: 8.0,
        schools: 113,
        welsh_share: 0.16,
        fsm_percent: 25.0,
        places: &[
            place("Pontypridd", 51.60, -3.34),
            place("Aberdare", 51.71, -3.45),
            place("Tonypandy", 51.62, -3.45),
            place("Porth", 51.61, -3.41),
            place("Mountain Ash", 51.68, -3.38),
            place("Treorchy", 51.66, -3.51),
            place("Llantrisant", 51.54, -3.38),
        ],
    },
    Authority {
        name: "Merthyr Tydfil",
        consortium: "CSC",
        code: 675,
        latitude: 51.75,
        longitude: -3.37,
        spread_km: 4.0,
        schools: 27,
        welsh_share: 0.08,
        fsm_percent: 27.0,
        places: &[
            place("Merthyr Tydfil", 51.75, -3.38),
            place("Troedyrhiw", 51.71, -3.35),
            place("Treharris", 51.67, -3.31),
            place("Dowlais", 51.76, -3.35),
        ],
    },
    Authority {
        name: "Caerphilly",
        consortium: "EAS",
        code: 676,
        latitude: 51.64,
        longitude: -3.20,
        spread_km: 6.0,
        schools: 86,
        welsh_share: 0.11,
        fsm_percent: 24.0,
        places: &[
            place("Caerphilly", 51.58, -3.22),
            place("Blackwood", 51.67, -3.20),
            place("Bargoed", 51.69, -3.24),
            place("Risca", 51.61, -3.10),
            place("Ystrad Mynach", 51.64, -3.24),
            place("Newbridge", 51.667, -3.144),
        ],
    },
    Authority {
        name: "Blaenau Gwent",
        consortium: "EAS",
        code: 677,
        latitude: 51.77,
        longitude: -3.20,
        spread_km: 4.0,
        schools: 25,
        welsh_share: 0.05,
        fsm_percent: 28.0,
        places: &[
            place("Ebbw Vale", 51.78, -3.21),
            place("Tredegar", 51.77, -3.25),
            place("Abertillery", 51.73, -3.136),
            place("Brynmawr", 51.80, -3.18),
        ],
    },
    Authority {
        name: "Torfaen",
        consortium: "EAS",
        code: 678,
        latitude: 51.70,
        longitude: -3.04,
        spread_km: 4.5,
        schools: 32,
        welsh_share: 0.06,
        fsm_percent: 23.0,
        places: &[
            place("Pontypool", 51.70, -3.04),
            place("Cwmbran", 51.65, -3.02),
            place("Blaenavon", 51.78, -3.09),
            place("Griffithstown", 51.69, -3.03),
        ],
    },
    Authority {
        name: "Monmouthshire",
        consortium: "EAS",
        code: 679,
        latitude: 51.76,
        longitude: -2.85,
        spread_km: 10.0,
        schools: 34,
        welsh_share: 0.06,
        fsm_percent: 10.0,
        places: &[
            place("Monmouth", 51.81, -2.72),
            place("Abergavenny", 51.82, -3.02),
            place("Chepstow", 51.64, -2.67),
            place("Caldicot", 51.59, -2.75),
            place("Usk", 51.70, -2.90),
        ],
    },
    Authority {
        name: "Newport",
        consortium: "EAS",
        code: 680,
        latitude: 51.58,
        longitude: -2.99,
        spread_km: 5.0,
        schools: 56,
        welsh_share: 0.06,
        fsm_percent: 24.0,
        places: &[
            place("Newport", 51.59, -3.00),
            place("Caerleon", 51.61, -2.95),
            place("Bettws", 51.62, -3.03),
            place("Rogerstone", 51.59, -3.05),
            place("Maindee", 51.59, -2.98),
            place("Pillgwenlly", 51.57, -2.99),
        ],
    },
    Authority {
        name: "Cardiff",
        consortium: "CSC",
        code: 681,
        latitude: 51.49,
        longitude: -3.18,
        spread_km: 5.0,
        schools: 126,
        welsh_share: 0.16,
        fsm_percent: 24.0,
        places: &[
            place("Cardiff", 51.48, -3.18),
            place("Llanishen", 51.53, -3.18),
            place("Ely", 51.48, -3.25),
            place("Splott", 51.48, -3.15),
            place("Whitchurch", 51.52, -3.22),
            place("Canton", 51.48, -3.21),
            place("Rumney", 51.51, -3.13),
            place("Llandaff", 51.50, -3.22),
        ],
    },
];

/// Phase mix of Welsh maintained schools (with a few PRUs, which the Welsh
/// list does not include, so the phase is exercised).
const PHASE_MIX: [(Phase, f64); 6] = [
    (Phase::Nursery, 0.006),
    (Phase::Primary, 0.824),
    (Phase::Middle, 0.016),
    (Phase::Secondary, 0.121),
    (Phase::Special, 0.027),
    (Phase::Pru, 0.006),
];

/// Support category shares by phase (2019 categorisation, rounded), in order
/// green, yellow, amber, red; the remainder is unknown.
fn stage_mix(phase: Phase) -> [f64; 4] {
    match phase {
        Phase::Primary => [0.49, 0.40, 0.09, 0.015],
        Phase::Secondary => [0.37, 0.32, 0.19, 0.12],
        Phase::Middle => [0.22, 0.52, 0.13, 0.09],
        Phase::Special => [0.52, 0.37, 0.05, 0.03],
        Phase::Pru => [0.20, 0.40, 0.25, 0.10],
        // Nursery schools are not categorised.
        Phase::Nursery => [0.0; 4],
    }
}

/// The focus areas a school of this phase could plausibly name.
fn focus_pool(phase: Phase) -> Vec<FocusArea> {
    FocusArea::ALL
        .into_iter()
        .filter(|area| match (phase, area) {
            (Phase::Nursery, a) => matches!(
                a,
                FocusArea::FoundationPhase
                    | FocusArea::Literacy
                    | FocusArea::Numeracy
                    | FocusArea::Wellbeing
                    | FocusArea::Transition
                    | FocusArea::Attendance
                    | FocusArea::SeniorLeadership
                    | FocusArea::WelshLanguage
                    | FocusArea::Aln
            ),
            (Phase::Primary, FocusArea::FourteenToNineteen | FocusArea::SubjectSupport) => false,
            (Phase::Secondary, FocusArea::FoundationPhase) => false,
            _ => true,
        })
        .collect()
}

/// Generates the population; the same config always gives the same schools.
pub fn generate(config: SyntheticConfig) -> Vec<School> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let regions = config.schools.div_ceil(SCHOOLS_PER_REGION).max(1);
    let total_weight: u32 = AUTHORITIES.iter().map(|a| a.schools).sum();
    let mut next_number = vec![[0u32; 6]; AUTHORITIES.len() * regions];
    let mut schools = Vec::with_capacity(config.schools);
    for i in 0..config.schools {
        let region = i * regions / config.schools.max(1);
        let mut pick = rng.random_range(0..total_weight);
        let authority_index = AUTHORITIES
            .iter()
            .position(|a| {
                if pick < a.schools {
                    true
                } else {
                    pick -= a.schools;
                    false
                }
            })
            .expect("pick is below the total weight");
        let phase = choose_weighted(&mut rng, &PHASE_MIX);
        let counters = &mut next_number[region * AUTHORITIES.len() + authority_index];
        let phase_slot = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        let number = counters[phase_slot];
        counters[phase_slot] += 1;
        schools.push(make_school(
            &mut rng,
            &AUTHORITIES[authority_index],
            region,
            phase,
            number,
        ));
    }
    if config.focus == SyntheticFocus::EveryArea {
        let every: FocusSet = FocusArea::ALL.into_iter().collect();
        for school in &mut schools {
            school.strengths = every;
            school.needs = every;
        }
    }
    schools
}

/// Gives every school with no strengths and no needs recorded synthetic
/// ones, drawn as for the synthetic population (by phase, stage — given, or
/// derived from its evidence under `rules` — and medium); schools with a
/// record keep it. Each school's draw depends only on `seed` and its id,
/// so the result does not depend on the order. For measuring how focus is
/// matched on real places and stages whose focus areas are not published;
/// the areas are made up.
pub fn fill_missing_focus(schools: &mut [School], seed: u64, rules: &EvidenceRules) {
    for school in schools {
        if !school.strengths.is_empty() || !school.needs.is_empty() {
            continue;
        }
        // FNV-1a of the id: stable across runs and platforms.
        let id_hash = school
            .id
            .as_str()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ id_hash);
        let stage = derive_evidence(
            &school.evaluations,
            school.stage,
            FocusSet::EMPTY,
            FocusSet::EMPTY,
            rules,
        )
        .stage
        .value();
        (school.strengths, school.needs) =
            focus_areas(&mut rng, school.phase, stage, school.language_medium);
    }
}

/// Gives the schools report-card-like evidence in place of their given
/// stage, as a population inspected since November 2025 would have: six
/// report-card areas and safeguarding, graded around each school's stage
/// (red → urgent improvement … green → strong standard, a step either way
/// for some areas, exceptional for some strong schools), safeguarding met
/// for 98%. The steps never change the stage the stage rule derives (no
/// urgent improvement below red, nothing needing attention below amber, at
/// most two areas a step down for green), so the population keeps its
/// stages and differs only in the grades by area. `mix` says which share of
/// schools has no evidence and which only evidence from 2018–2021 (stale
/// under the default four years); the rest are dated 2023–2026. Strengths
/// and needs stay as given. The same seed gives the same evidence.
pub fn add_report_cards(schools: &mut [School], seed: u64, mix: ReportCardMix) {
    use crate::domain::{Evaluation, EvaluationArea as A, EvaluationFramework, Judgement};
    const AREAS: [A; 6] = [
        A::LeadershipAndGovernance,
        A::CurriculumAndTeaching,
        A::Achievement,
        A::AttendanceAndBehaviour,
        A::Inclusion,
        A::PersonalDevelopmentAndWellbeing,
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_ca4d);
    for school in schools {
        let Some(stage) = school.stage.take() else {
            continue;
        };
        let evidence: f64 = rng.random();
        if evidence < mix.missing {
            continue;
        }
        let year = if evidence < mix.missing + mix.stale {
            rng.random_range(2018..=2021)
        } else {
            rng.random_range(2023..=2026)
        };
        let date = jiff::civil::date(year, rng.random_range(1..=10), rng.random_range(1..=28));
        let base = stage.level() - 1; // 0 (urgent) … 3 (strong)
        let judged = |area: A, judgement: Judgement| Evaluation {
            framework: EvaluationFramework::OfstedReportCard,
            area,
            judgement,
            date,
            source: String::new(),
        };
        // A step down that the stage rule would read as a lower stage is
        // not taken: urgent improvement makes red, needing attention amber,
        // and green needs half its areas strong or better.
        let lowest = match stage {
            Stage::Red => 0,
            Stage::Amber | Stage::Yellow => base,
            Stage::Green => base - 1,
        };
        let mut steps_down_left = if stage == Stage::Green { 2 } else { 5 };
        let mut evaluations: Vec<Evaluation> = AREAS
            .into_iter()
            .map(|area| {
                let mut step: i32 = match rng.random_range(0..10) {
                    0 | 1 => -1,
                    2 | 3 => 1,
                    _ => 0,
                };
                if step < 0 {
                    if steps_down_left == 0 {
                        step = 0;
                    } else {
                        steps_down_left -= 1;
                    }
                }
                let grade = (base + step).clamp(lowest, 4);
                judged(area, Judgement::FIVE_POINT[grade as usize])
            })
            .collect();
        // The stage decides leadership (the stage rule reads it first).
        evaluations[0] = judged(
            A::LeadershipAndGovernance,
            Judgement::FIVE_POINT[base as usize],
        );
        let met = rng.random_bool(0.98);
        evaluations.push(judged(
            A::Safeguarding,
            if met {
                Judgement::Met
            } else {
                Judgement::NotMet
            },
        ));
        school.evaluations = evaluations;
    }
}

/// Which shares of a synthetic population lack evidence, or have only
/// stale evidence ([`add_report_cards`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportCardMix {
    pub missing: f64,
    pub stale: f64,
}

impl ReportCardMix {
    /// As a real population might be: 15% never inspected under report
    /// cards or its predecessors on record, 20% only long ago.
    pub const REALISTIC: ReportCardMix = ReportCardMix {
        missing: 0.15,
        stale: 0.20,
    };
    /// Every school with current evidence: the heaviest case for matching.
    pub const ALL_CURRENT: ReportCardMix = ReportCardMix {
        missing: 0.0,
        stale: 0.0,
    };
}

fn choose_weighted<T: Copy>(rng: &mut ChaCha8Rng, options: &[(T, f64)]) -> T {
    let total: f64 = options.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0.0..total);
    for (value, weight) in options {
        if pick < *weight {
            return *value;
        }
        pick -= weight;
    }
    options[options.len() - 1].0
}

fn make_school(
    rng: &mut ChaCha8Rng,
    authority: &Authority,
    region: usize,
    phase: Phase,
    number: u32,
) -> School {
    // School numbers: authority code, then a phase block as in the Welsh
    // list (1xxx nursery, 2xxx primary, 4xxx secondary, 7xxx special).
    let block = match phase {
        Phase::Nursery => 1000,
        Phase::Primary => 2000,
        Phase::Middle => 3000,
        Phase::Secondary => 4000,
        Phase::Pru => 6000,
        Phase::Special => 7000,
    };
    let number_text = format!("{}{:04}", authority.code, block + number % 1000);
    let id = if region == 0 {
        number_text
    } else {
        format!("r{}-{number_text}", region + 1)
    };

    // Location: around the authority's centre, in this region's tile.
    let (region_lat, region_lon) = (-2.5 * (region / 8) as f64, 3.2 * (region % 8) as f64);
    let normal = Normal::new(0.0, authority.spread_km).expect("spread is positive");
    let north_km: f64 = normal
        .sample(rng)
        .clamp(-2.5 * authority.spread_km, 2.5 * authority.spread_km);
    let east_km: f64 = normal
        .sample(rng)
        .clamp(-2.5 * authority.spread_km, 2.5 * authority.spread_km);
    let latitude = authority.latitude + region_lat + north_km / 111.2;
    let longitude = authority.longitude
        + region_lon
        + east_km / (111.2 * (authority.latitude + region_lat).to_radians().cos());

    let stage = {
        let mix = stage_mix(phase);
        let mut pick = rng.random_range(0.0..1.0);
        let mut stage = None;
        for (share, candidate) in
            mix.iter()
                .zip([Stage::Green, Stage::Yellow, Stage::Amber, Stage::Red])
        {
            if pick < *share {
                stage = Some(candidate);
                break;
            }
            pick -= share;
        }
        stage
    };

    let welsh_side = rng.random_bool(authority.welsh_share);
    let language_medium = match phase {
        Phase::Nursery | Phase::Special => None,
        Phase::Pru => Some(LanguageMedium::English),
        _ if welsh_side => Some(choose_weighted(
            rng,
            &[
                (LanguageMedium::Welsh, 0.85),
                (LanguageMedium::Bilingual, 0.06),
                (LanguageMedium::DualStream, 0.07),
                (LanguageMedium::Transitional, 0.02),
            ],
        )),
        _ => Some(LanguageMedium::English),
    };

    let (median, sigma, low, high) = match phase {
        Phase::Nursery => (70.0, 0.4, 15.0, 200.0),
        Phase::Primary => (210.0, 0.55, 9.0, 800.0),
        Phase::Middle => (1000.0, 0.4, 200.0, 2400.0),
        Phase::Secondary => (900.0, 0.35, 250.0, 2400.0),
        Phase::Special => (110.0, 0.5, 15.0, 400.0),
        Phase::Pru => (40.0, 0.5, 5.0, 150.0),
    };
    let pupils = LogNormal::new(f64::ln(median), sigma)
        .expect("sigma is positive")
        .sample(rng)
        .clamp(low, high)
        .round() as u32;

    // Weaker categories sit in more challenging contexts.
    let stage_factor = match stage {
        Some(Stage::Red) => 1.5,
        Some(Stage::Amber) => 1.25,
        Some(Stage::Yellow) => 1.0,
        Some(Stage::Green) => 0.85,
        None => 1.0,
    };
    let noise = LogNormal::new(0.0, 0.35).expect("sigma is positive");
    let fsm = (authority.fsm_percent * stage_factor * noise.sample(rng)).clamp(0.0, 80.0);
    let deprivation =
        (fsm * 1.4 + Normal::new(0.0, 8.0).expect("sd").sample(rng)).clamp(0.0, 100.0);
    let aln = if phase == Phase::Special {
        rng.random_range(90.0..100.0)
    } else {
        (20.0 + Normal::<f64>::new(0.0, 5.0).expect("sd").sample(rng)).clamp(0.0, 100.0)
    };
    let city = matches!(authority.name, "Cardiff" | "Newport" | "Swansea");
    let eal = (if city { 9.0 } else { 1.5 }
        * LogNormal::<f64>::new(0.0, 0.7).expect("sigma").sample(rng))
    .clamp(0.0, 100.0);
    let round = |value: f64| (value * 10.0).round() / 10.0;

    let (strengths, needs) = focus_areas(rng, phase, stage, language_medium);

    let capacity = if rng.random_bool(0.1) {
        let default = Stage::default_capacity(stage) as i32;
        Some((default + rng.random_range(-1..=1)).clamp(0, 5) as u32)
    } else {
        None
    };

    let religious_character = match (phase, rng.random_range(0.0..1.0)) {
        (Phase::Primary, r) if r < 0.11 => "Church in Wales",
        (Phase::Primary, r) if r < 0.17 => "Roman Catholic",
        (Phase::Secondary, r) if r < 0.03 => "Church in Wales",
        (Phase::Secondary, r) if r < 0.11 => "Roman Catholic",
        _ => "none",
    };

    // Drawn and set aside, so every draw after it (and so every other value
    // of the population) is as it was when places were picked at random.
    let _ = authority.places.choose(rng);
    // Named after the authority's place nearest to where it stands, and
    // the side of that place it is on.
    let (place, north_km, east_km) = authority
        .places
        .iter()
        .map(|place| {
            let north = (latitude - (place.latitude + region_lat)) * 111.2;
            let east =
                (longitude - (place.longitude + region_lon)) * 111.2 * latitude.to_radians().cos();
            (place, north, east)
        })
        .min_by(|a, b| {
            a.1.hypot(a.2)
                .total_cmp(&b.1.hypot(b.2))
                .then_with(|| a.0.name.cmp(b.0.name))
        })
        .expect("every authority has places");
    let district = district(north_km, east_km, number);
    let name = school_name(
        phase,
        language_medium,
        religious_character,
        place.name,
        district,
        number,
    );
    let suffix = |text: &str| {
        if region == 0 {
            text.to_owned()
        } else {
            format!("{text} (region {})", region + 1)
        }
    };

    // Church schools belong to a diocese, by where the consortium lies
    // (roughly: Welsh dioceses do not follow consortium borders); drawn
    // from the school's own fields, not the generator, so the rest of the
    // population is as before.
    let diocese = match (religious_character, authority.consortium) {
        ("Church in Wales", "GwE") => Some(("cw-bangor", "Diocese of Bangor")),
        ("Church in Wales", "ERW") => Some(("cw-st-davids", "Diocese of St Davids")),
        ("Church in Wales", "CSC") => Some(("cw-llandaff", "Diocese of Llandaff")),
        ("Church in Wales", _) => Some(("cw-monmouth", "Diocese of Monmouth")),
        ("Roman Catholic", "GwE") => Some(("rc-wrexham", "Diocese of Wrexham")),
        ("Roman Catholic", "ERW") => Some(("rc-menevia", "Diocese of Menevia")),
        ("Roman Catholic", _) => Some(("rc-cardiff", "Archdiocese of Cardiff")),
        _ => None,
    }
    .map(|(code, name)| {
        if region == 0 {
            Affiliation::new(code, name)
        } else {
            Affiliation::new(
                format!("{code}-{}", region + 1),
                format!("{name} (region {})", region + 1),
            )
        }
    });

    School {
        id: SchoolId::parse(&id).expect("generated ids are valid"),
        name,
        phase,
        stage,
        language_medium,
        location: GeoPoint::new(latitude, longitude),
        local_authority: suffix(authority.name),
        consortium: suffix(authority.consortium),
        pupils: Some(pupils),
        context: ContextMeasures {
            fsm_percent: Some(round(fsm)),
            deprivation_percent: Some(round(deprivation)),
            aln_percent: Some(round(aln)),
            eal_percent: Some(round(eal)),
        },
        family_id: None,
        strengths,
        needs,
        capacity,
        religious_character: religious_character.to_owned(),
        open: !rng.random_bool(0.01),
        evaluations: Vec::new(),
        affiliations: Affiliations {
            diocese,
            ..Affiliations::default()
        },
    }
}

/// Strong schools have more strengths and fewer needs; Welsh-medium schools
/// tend to be strong in Welsh language, English-medium ones to need it.
fn focus_areas(
    rng: &mut ChaCha8Rng,
    phase: Phase,
    stage: Option<Stage>,
    medium: Option<LanguageMedium>,
) -> (FocusSet, FocusSet) {
    let (strength_range, need_range) = match stage {
        Some(Stage::Green) => (3..=5, 0..=1),
        Some(Stage::Yellow) => (2..=3, 1..=2),
        Some(Stage::Amber) => (1..=2, 2..=3),
        Some(Stage::Red) => (0..=1, 3..=4),
        None => (0..=2, 0..=2),
    };
    let mut pool = focus_pool(phase);
    let strength_count = rng.random_range(strength_range);
    let need_count = rng.random_range(need_range);
    let mut strengths = FocusSet::EMPTY;
    let mut needs = FocusSet::EMPTY;
    if medium == Some(LanguageMedium::Welsh) && strength_count > 0 && rng.random_bool(0.5) {
        strengths.insert(FocusArea::WelshLanguage);
    }
    if medium == Some(LanguageMedium::English) && need_count > 0 && rng.random_bool(0.2) {
        needs.insert(FocusArea::WelshLanguage);
    }
    pool.retain(|area| !strengths.contains(*area) && !needs.contains(*area));
    while strengths.len() < strength_count && !pool.is_empty() {
        let area = pool.swap_remove(rng.random_range(0..pool.len()));
        strengths.insert(area);
    }
    while needs.len() < need_count && !pool.is_empty() {
        let area = pool.swap_remove(rng.random_range(0..pool.len()));
        needs.insert(area);
    }
    (strengths, needs)
}

/// The district a school's name carries after its place: the side of the
/// place it stands on when more than 2 km out ("Bangor North"), else one of
/// a place's own words, by its number, so names within a place differ as
/// real lists do.
fn district(north_km: f64, east_km: f64, number: u32) -> &'static str {
    if north_km.hypot(east_km) < 2.0 {
        return ["", " Park", " Vale", " Road"][number as usize % 4];
    }
    match (
        north_km.abs() >= east_km.abs(),
        north_km >= 0.0,
        east_km >= 0.0,
    ) {
        (true, true, _) => " North",
        (true, false, _) => " South",
        (false, _, true) => " East",
        (false, _, false) => " West",
    }
}

fn school_name(
    phase: Phase,
    medium: Option<LanguageMedium>,
    religious_character: &str,
    place: &str,
    district: &str,
    number: u32,
) -> String {
    const SAINTS: [&str; 6] = ["Mary", "Joseph", "David", "Patrick", "Teilo", "Helen"];
    let welsh = matches!(
        medium,
        Some(LanguageMedium::Welsh | LanguageMedium::Bilingual | LanguageMedium::Transitional)
    );
    match (phase, welsh, religious_character) {
        (Phase::Primary, _, "Roman Catholic") => {
            format!(
                "St {}'s RC Primary School, {place}",
                SAINTS[number as usize % SAINTS.len()]
            )
        }
        (Phase::Primary, true, "Church in Wales") => format!("Ysgol Eglwys {place}{district}"),
        (Phase::Primary, false, "Church in Wales") => {
            format!("{place}{district} Church in Wales Primary School")
        }
        (Phase::Primary, true, _) => format!("Ysgol Gynradd {place}{district}"),
        (Phase::Primary, false, _) => format!("{place}{district} Primary School"),
        (Phase::Secondary, _, "Roman Catholic") => {
            format!(
                "St {}'s Catholic High School, {place}",
                SAINTS[number as usize % SAINTS.len()]
            )
        }
        (Phase::Secondary, true, _) => format!("Ysgol Gyfun {place}{district}"),
        (Phase::Secondary, false, _) => format!("{place}{district} High School"),
        (Phase::Middle, true, _) => format!("Ysgol {place}{district} 3-16"),
        (Phase::Middle, false, _) => format!("{place}{district} Learning Community"),
        (Phase::Special, _, _) => format!("{place}{district} Special School"),
        (Phase::Nursery, _, _) => format!("{place}{district} Nursery School"),
        (Phase::Pru, _, _) => format!("{place}{district} Pupil Referral Unit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A school is named after the place of its authority nearest to it,
    /// and the side of the place it stands on: "Bala South" no longer
    /// stands 5.7 km from Rhosneigr.
    #[test]
    fn schools_are_named_after_the_place_nearest_them() {
        let schools = generate(SyntheticConfig::default());
        let mut checked = 0;
        for school in &schools {
            let authority = AUTHORITIES
                .iter()
                .find(|a| a.name == school.local_authority)
                .expect("an authority of the table");
            let km = |place: &Place| {
                let (lat, lon) = (school.location.latitude, school.location.longitude);
                let north = (lat - place.latitude) * 111.2;
                let east = (lon - place.longitude) * 111.2 * lat.to_radians().cos();
                north.hypot(east)
            };
            let nearest = authority
                .places
                .iter()
                .min_by(|a, b| km(a).total_cmp(&km(b)).then_with(|| a.name.cmp(b.name)))
                .unwrap();
            // The longest name that is a place of the authority (so
            // "Newport" is not read in "Newbridge").
            let named = authority
                .places
                .iter()
                .filter(|place| school.name.contains(place.name))
                .max_by_key(|place| place.name.len())
                .unwrap_or_else(|| panic!("{} names no place of {}", school.name, authority.name));
            assert_eq!(
                named.name,
                nearest.name,
                "{} ({:.1} km from {})",
                school.name,
                km(named),
                nearest.name
            );
            checked += 1;
        }
        assert_eq!(checked, schools.len());
    }

    #[test]
    fn same_seed_same_schools_other_seed_other_schools() {
        let config = SyntheticConfig {
            schools: 300,
            seed: 7,
            ..Default::default()
        };
        assert_eq!(generate(config), generate(config));
        assert_ne!(
            generate(config),
            generate(SyntheticConfig { seed: 8, ..config })
        );
    }

    #[test]
    fn default_population_looks_like_wales() {
        let schools = generate(SyntheticConfig::default());
        assert_eq!(schools.len(), DEFAULT_SCHOOLS);
        let mut ids: Vec<_> = schools.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), schools.len(), "ids are unique");
        for school in &schools {
            assert!(school.validate().is_empty(), "{:?}", school.validate());
            let GeoPoint {
                latitude,
                longitude,
            } = school.location;
            assert!((51.0..=53.7).contains(&latitude), "{latitude}");
            assert!((-5.6..=-2.4).contains(&longitude), "{longitude}");
        }
        let share = |phase| schools.iter().filter(|s| s.phase == phase).count() as f64 / 1500.0;
        assert!((0.78..0.87).contains(&share(Phase::Primary)));
        assert!((0.09..0.15).contains(&share(Phase::Secondary)));
        let consortia: std::collections::BTreeSet<_> =
            schools.iter().map(|s| s.consortium.as_str()).collect();
        assert_eq!(
            consortia.into_iter().collect::<Vec<_>>(),
            ["CSC", "EAS", "ERW", "GwE"]
        );
        let authorities: std::collections::BTreeSet<_> =
            schools.iter().map(|s| s.local_authority.as_str()).collect();
        assert_eq!(authorities.len(), 22);
        let red = schools
            .iter()
            .filter(|s| s.stage == Some(Stage::Red))
            .count();
        let green = schools
            .iter()
            .filter(|s| s.stage == Some(Stage::Green))
            .count();
        assert!(red > 10 && green > 500, "red {red} green {green}");
    }

    #[test]
    fn large_populations_tile_regions_with_unique_ids() {
        let schools = generate(SyntheticConfig {
            schools: 6000,
            seed: 1,
            ..Default::default()
        });
        let mut ids: Vec<_> = schools.iter().map(|s| s.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6000);
        assert!(schools.iter().any(|s| s.consortium == "GwE (region 4)"));
    }

    const RULES: EvidenceRules = EvidenceRules {
        as_of: jiff::civil::date(2026, 11, 29),
        max_age_years: 4,
        green_share: EvidenceRules::DEFAULT_GREEN_SHARE,
    };

    #[test]
    fn missing_focus_is_filled_by_seed_and_id_and_records_are_kept() {
        let mut schools = generate(SyntheticConfig {
            schools: 200,
            ..SyntheticConfig::default()
        });
        let recorded = schools[0].clone();
        for school in &mut schools[1..] {
            school.strengths = FocusSet::EMPTY;
            school.needs = FocusSet::EMPTY;
        }
        let mut filled = schools.clone();
        fill_missing_focus(&mut filled, 7, &RULES);
        assert_eq!(filled[0], recorded, "a recorded focus is kept");
        assert!(
            filled[1..]
                .iter()
                .all(|s| !s.strengths.is_empty() || !s.needs.is_empty())
        );
        // Reds get needs: 3–4 each.
        assert!(
            filled
                .iter()
                .filter(|s| s.stage == Some(Stage::Red))
                .all(|s| s.needs.len() >= 3)
        );
        let mut reversed = schools.clone();
        reversed.reverse();
        fill_missing_focus(&mut reversed, 7, &RULES);
        reversed.reverse();
        assert_eq!(reversed, filled, "the order does not matter");
        let mut other = schools;
        fill_missing_focus(&mut other, 8, &RULES);
        assert_ne!(other, filled, "another seed, other areas");
    }

    #[test]
    fn report_cards_replace_stages_some_missing_some_stale() {
        let mut schools = generate(SyntheticConfig::default());
        let stages: Vec<Option<Stage>> = schools.iter().map(|s| s.stage).collect();
        add_report_cards(&mut schools, 1, ReportCardMix::REALISTIC);
        assert!(schools.iter().all(|s| s.stage.is_none()));
        let mut again = generate(SyntheticConfig::default());
        add_report_cards(&mut again, 1, ReportCardMix::REALISTIC);
        assert_eq!(again, schools, "the same seed, the same evidence");
        let with = schools.iter().filter(|s| !s.evaluations.is_empty()).count();
        let share = with as f64 / schools.len() as f64;
        assert!((0.8..0.9).contains(&share), "{share}");
        let mut current = 0;
        let mut same_stage = 0;
        for (school, stage) in schools.iter().zip(&stages) {
            assert!(school.validate().is_empty(), "{:?}", school.validate());
            let evidence = derive_evidence(
                &school.evaluations,
                None,
                FocusSet::EMPTY,
                FocusSet::EMPTY,
                &RULES,
            );
            if let Some(derived) = evidence.stage.value() {
                current += 1;
                same_stage += usize::from(Some(derived) == *stage);
            }
        }
        let current_share = current as f64 / schools.len() as f64;
        assert!((0.55..0.75).contains(&current_share), "{current_share}");
        // Graded around the stage, never across it: each derives the stage
        // it had.
        assert_eq!(same_stage, current);
    }
}
