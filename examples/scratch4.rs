use partnermatch::dataset::*;
use partnermatch::domain::*;
use partnermatch::engine::*;
fn main() {
    let schools = generate(SyntheticConfig {
        schools: 30000,
        seed: DEFAULT_SEED,
    });
    let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
    let snap = engine.snapshot();
    let config = engine.config().scoring.clone();
    let mut rows = vec![];
    for i in (0..snap.len()).step_by(snap.len() / 512) {
        let p = snap.profile(i as u32);
        let q = MatchQuery::new(
            snap.school(i as u32).school.id.to_string(),
            MatchMode::Support,
            &config,
        );
        let Ok(out) = engine.match_partners(&q) else {
            continue;
        };
        rows.push((
            out.stats.groups_bounded,
            out.stats.partial_scores,
            p.phase,
            p.stage,
            p.needs.len(),
            p.challenge.is_some(),
            out.candidates.last().map(|c| c.score).unwrap_or(0.0),
            out.candidates.len(),
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    for r in rows.iter().take(15) {
        println!("{r:?}")
    }
    println!("median {:?}", rows[rows.len() / 2]);
}
