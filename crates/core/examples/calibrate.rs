//! How the scoring defaults were chosen (docs/evaluation.md): the
//! defaults, the defaults before calibration, and the defaults with one
//! knob moved each way, evaluated on the real Welsh schools (with simulated
//! focus areas) and on the synthetic default; one CSV line per variant and
//! population with Match's and Broker's metrics.
//!
//!     cargo run --release -p partnermatch-core --example calibrate -- data/wales/schools.csv
//!
//! The Welsh 2019 categories are counted with ten years of evidence.

use partnermatch_core::dataset::{self, SyntheticConfig};
use partnermatch_core::domain::School;
use partnermatch_core::engine::{Engine, EngineConfig, EvidenceConfig, Factor, ScoringConfig};
use partnermatch_core::evaluation::{EvaluationQuery, Metrics, Share, System, evaluate};

/// The seed of the focus areas simulated on the Welsh schools.
const FOCUS_SEED: u64 = 2015;

/// The Welsh categories (2019) count: ten years of evidence.
fn evidence() -> EvidenceConfig {
    EvidenceConfig {
        max_age_years: 10,
        ..EvidenceConfig::default()
    }
}

type Knob = fn(&mut ScoringConfig);

/// Each variant: a name and what it changes from the defaults.
const VARIANTS: &[(&str, Knob)] = &[
    ("defaults", |_| {}),
    ("before calibration", |s| {
        s.weights[Factor::Stage] = 0.30;
        s.weights[Factor::Proximity] = 0.20;
        s.weights[Factor::Focus] = 0.20;
        s.weights[Factor::Context] = 0.10;
        s.weights[Factor::TrackRecord] = 0.10;
        for factor in [Factor::Phase, Factor::Language, Factor::Size, Factor::Load] {
            s.weights[factor] = 0.05;
        }
        s.directed_stage_curve[0] = 0.7;
        s.proximity_scale_km = 15.0;
        s.focus_any_credit = 0.0;
    }),
    ("language 0.05", |s| s.weights[Factor::Language] = 0.05),
    ("language 0.25", |s| s.weights[Factor::Language] = 0.25),
    ("proximity 0.15", |s| s.weights[Factor::Proximity] = 0.15),
    ("proximity 0.30", |s| s.weights[Factor::Proximity] = 0.30),
    ("proximity scale 15 km", |s| s.proximity_scale_km = 15.0),
    ("proximity scale 60 km", |s| s.proximity_scale_km = 60.0),
    ("focus 0.10", |s| s.weights[Factor::Focus] = 0.10),
    ("focus 0.20", |s| s.weights[Factor::Focus] = 0.20),
    ("no credit for any need", |s| s.focus_any_credit = 0.0),
    ("same stage 0.7", |s| s.directed_stage_curve[0] = 0.7),
    ("two ahead 0.5", |s| s.directed_stage_curve[2] = 0.5),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: calibrate <welsh schools csv>")?;
    let mut wales = dataset::read_csv_path(std::path::Path::new(&path))?.into_schools();
    dataset::fill_missing_focus(&mut wales, FOCUS_SEED, &evidence().rules());
    let populations = [
        ("wales", wales),
        ("synthetic", dataset::generate(SyntheticConfig::default())),
    ];
    println!(
        "variant,population,similar_stage,language_fit,mean_km,travel_ratio,needs_covered,first_covers_need,busiest_supporter,broker_similar_stage,broker_travel_ratio,broker_needs_covered"
    );
    let pct = |share: Share| share.ratio().map_or(f64::NAN, |ratio| ratio * 100.0);
    for (variant, knob) in VARIANTS {
        let mut scoring = ScoringConfig::default();
        knob(&mut scoring);
        for (population, schools) in &populations {
            let (matched, broker) = run(&scoring, schools)?;
            println!(
                "{variant},{population},{:.1},{:.1},{:.1},{:.2},{:.1},{:.1},{},{:.1},{:.2},{:.1}",
                pct(matched.similar_stage),
                pct(matched.language_fit),
                matched.mean_km.unwrap_or(f64::NAN),
                matched.travel_ratio.unwrap_or(f64::NAN),
                pct(matched.needs_covered),
                pct(matched.first_covers_need),
                matched.busiest_supporter,
                pct(broker.similar_stage),
                broker.travel_ratio.unwrap_or(f64::NAN),
                pct(broker.needs_covered),
            );
        }
    }
    Ok(())
}

fn run(
    scoring: &ScoringConfig,
    schools: &[School],
) -> Result<(Metrics, Metrics), Box<dyn std::error::Error>> {
    let config = EngineConfig {
        scoring: scoring.clone(),
        evidence: evidence(),
        ..EngineConfig::default()
    };
    let engine = Engine::with_schools(config, schools.to_vec())?;
    let evaluation = evaluate(&engine, &EvaluationQuery::new(&engine), &|_, _| {})?;
    let system = |wanted: System| {
        evaluation
            .systems
            .iter()
            .find(|metrics| metrics.system == wanted)
            .cloned()
            .ok_or("every system is measured")
    };
    Ok((system(System::Match)?, system(System::Broker)?))
}
