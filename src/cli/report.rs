//! How `partnermatch broker`, `families` and `evaluate` print their
//! results: an aligned table for people, CSV for spreadsheets, JSON for
//! programs.

use std::io::{self, Write};

use serde_json::json;

use partnermatch_core::domain::printable;
use partnermatch_core::engine::{AssignmentSummary, BrokerOutcome, FamiliesReport};
use partnermatch_core::evaluation::{Evaluation, Share};

/// Output formats of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Writes rows as columns padded to their widest cell. Cells are printed
/// with control characters and bidirectional controls escaped: names come
/// from the registry, and a database written by an older version (or by
/// hand) must not be able to drive the terminal.
fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(header)?;
    for row in rows {
        // Escaped as in tables: a CSV is often read in a terminal.
        writer.write_record(row.iter().map(|cell| printable(cell).into_owned()))?;
    }
    writer.flush()
}

fn summary_json(summary: &AssignmentSummary) -> serde_json::Value {
    json!({
        "total_score": summary.total_score,
        "pairs": summary.pairs,
        "max_supporter_load": summary.max_supporter_load,
    })
}

/// Prints a brokerage: one row per pair, then the seekers left unassigned
/// with their reason, then (table only) the optimal and greedy totals.
pub fn write_brokerage(
    out: &mut dyn Write,
    outcome: &BrokerOutcome<'_>,
    format: Format,
) -> io::Result<()> {
    const HEADER: [&str; 9] = [
        "seeker_id",
        "seeker_name",
        "partner_id",
        "partner_name",
        "rank",
        "distance_km",
        "score",
        "stage_gap",
        "unassigned_reason",
    ];
    let mut rows: Vec<Vec<String>> = outcome
        .pairings
        .iter()
        .map(|pairing| {
            let partner = &pairing.partner;
            vec![
                pairing.seeker.school.id.to_string(),
                pairing.seeker.school.name.clone(),
                partner.school.school.id.to_string(),
                partner.school.school.name.clone(),
                partner.rank.to_string(),
                format!("{:.1}", partner.distance_km),
                format!("{:.4}", partner.score),
                partner.stage_gap.map(|g| g.to_string()).unwrap_or_default(),
                String::new(),
            ]
        })
        .collect();
    rows.extend(outcome.unassigned.iter().map(|unassigned| {
        let mut row = vec![String::new(); HEADER.len()];
        row[0] = unassigned.seeker.school.id.to_string();
        row[1] = unassigned.seeker.school.name.clone();
        row[8] = unassigned.reason.clone();
        row
    }));
    match format {
        Format::Csv => write_csv(out, &HEADER, &rows),
        Format::Table => {
            write_table(out, &HEADER, &rows)?;
            let gain = if outcome.greedy.total_score > 0.0 {
                100.0 * (outcome.optimal.total_score / outcome.greedy.total_score - 1.0)
            } else {
                0.0
            };
            writeln!(
                out,
                "\n{} seekers: {} paired, {} unassigned",
                outcome.seekers,
                outcome.optimal.pairs,
                outcome.unassigned.len()
            )?;
            for (name, summary) in [("optimal", &outcome.optimal), ("greedy", &outcome.greedy)] {
                writeln!(
                    out,
                    "{name:<8} total score {:.3} over {} pairs, most pairs for one supporter {}",
                    summary.total_score, summary.pairs, summary.max_supporter_load
                )?;
            }
            writeln!(out, "gain over greedy {gain:+.2}%")
        }
        Format::Json => {
            let value = json!({
                "seekers": outcome.seekers,
                "pairs": outcome.pairings.iter().map(|pairing| json!({
                    "seeker_id": pairing.seeker.school.id.as_str(),
                    "seeker_name": pairing.seeker.school.name,
                    "partner_id": pairing.partner.school.school.id.as_str(),
                    "partner_name": pairing.partner.school.school.name,
                    "rank": pairing.partner.rank,
                    "distance_km": pairing.partner.distance_km,
                    "score": pairing.partner.score,
                    "stage_gap": pairing.partner.stage_gap,
                    "reasons": pairing.partner.components.map(|components| {
                        components
                            .iter()
                            .map(|(factor, c)| json!({
                                "factor": factor.name(),
                                "value": c.component.value,
                                "contribution": c.contribution,
                                "reason": c.component.reason_between(pairing.seeker, pairing.partner.school),
                            }))
                            .collect::<Vec<_>>()
                    }),
                })).collect::<Vec<_>>(),
                "unassigned": outcome.unassigned.iter().map(|u| json!({
                    "school_id": u.seeker.school.id.as_str(),
                    "name": u.seeker.school.name,
                    "reason": u.reason,
                })).collect::<Vec<_>>(),
                "optimal": summary_json(&outcome.optimal),
                "greedy": summary_json(&outcome.greedy),
                "candidate_pairs": outcome.candidate_pairs,
                "rounds": outcome.rounds,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)
        }
    }
}

/// Prints families: one row per family (members `;`-separated in CSV, the
/// count in the table).
pub fn write_families(
    out: &mut dyn Write,
    report: &FamiliesReport,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let value = json!({
                "target_size": report.sizes.target_size,
                "min_size": report.sizes.min_size,
                "in_use": report.in_use,
                "given_family_schools": report.given,
                "without_challenge_index": report.without_challenge,
                "families": report.families.iter().map(|f| json!({
                    "id": f.id,
                    "phase": f.phase.name(),
                    "language_group": f.language_group,
                    "size_band": f.size_band,
                    "member_ids": f.members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "challenge_min": f.challenge_min,
                    "challenge_max": f.challenge_max,
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)
        }
        Format::Csv | Format::Table => {
            let table = format == Format::Table;
            let header = [
                "family_id",
                "phase",
                "language_group",
                "size_band",
                if table { "members" } else { "member_ids" },
                "challenge_min",
                "challenge_max",
            ];
            let rows: Vec<Vec<String>> = report
                .families
                .iter()
                .map(|f| {
                    vec![
                        f.id.clone(),
                        f.phase.name().to_owned(),
                        f.language_group.to_owned(),
                        f.size_band.to_owned(),
                        if table {
                            f.members.len().to_string()
                        } else {
                            f.members
                                .iter()
                                .map(|m| m.as_str())
                                .collect::<Vec<_>>()
                                .join(";")
                        },
                        format!("{:.1}", f.challenge_min),
                        format!("{:.1}", f.challenge_max),
                    ]
                })
                .collect();
            if !table {
                return write_csv(out, &header, &rows);
            }
            write_table(out, &header, &rows)?;
            let members: usize = report.families.iter().map(|f| f.members.len()).sum();
            writeln!(
                out,
                "\n{} families of {} schools (target {}, at least {}){}; {} schools keep a given family, {} have no index of challenge",
                report.families.len(),
                members,
                report.sizes.target_size,
                report.sizes.min_size,
                if report.in_use { "" } else { " — a preview" },
                report.given,
                report.without_challenge
            )
        }
    }
}

/// Prints an evaluation: one row per system. Shares are percentages in
/// tables and fractions in CSV and JSON, with the counts they come from.
pub fn write_evaluation(
    out: &mut dyn Write,
    evaluation: &Evaluation,
    format: Format,
) -> io::Result<()> {
    let share_json =
        |share: Share| json!({ "ratio": share.ratio(), "hits": share.hits, "of": share.of });
    if format == Format::Json {
        let value = json!({
            "seekers": evaluation.seekers,
            "partners": evaluation.partners,
            "reach_km": evaluation.reach_km,
            "systems": evaluation.systems.iter().map(|m| json!({
                "system": m.system.name(),
                "asked": m.asked,
                "partners": m.partners,
                "similar_stage": share_json(m.similar_stage),
                "similar_in_areas": share_json(m.similar_in_areas),
                "language_fit": share_json(m.language_fit),
                "mean_km": m.mean_km,
                "travel_ratio": m.travel_ratio,
                "needs_covered": share_json(m.needs_covered),
                "first_covers_need": share_json(m.first_covers_need),
                "partners_needing_it": share_json(m.partners_needing_it),
                "safeguarding_not_met": m.safeguarding_not_met,
                "beyond_regular_visits": share_json(m.beyond_regular_visits),
                "busiest_supporter": m.busiest_supporter,
                "distinct_supporters": m.distinct_supporters,
                "short": m.short,
            })).collect::<Vec<_>>(),
        });
        return writeln!(out, "{}", serde_json::to_string_pretty(&value)?);
    }
    let table = format == Format::Table;
    let share = |share: Share| match (share.ratio(), table) {
        (None, _) => "n/a".to_owned(),
        (Some(ratio), true) => format!("{:.0}%", ratio * 100.0),
        (Some(ratio), false) => format!("{ratio:.4}"),
    };
    let number = |value: Option<f64>, places: usize| {
        value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.places$}"))
    };
    let header = [
        "system",
        "asked",
        "partners",
        "similar_stage",
        "similar_in_areas",
        "language_fit",
        "mean_km",
        "travel_ratio",
        "needs_covered",
        "first_covers_need",
        "partners_needing_it",
        "safeguarding_not_met",
        "beyond_regular_visits",
        "busiest_supporter",
        "distinct_supporters",
        "short",
    ];
    let rows: Vec<Vec<String>> = evaluation
        .systems
        .iter()
        .map(|m| {
            vec![
                m.system.name().to_owned(),
                m.asked.to_string(),
                m.partners.to_string(),
                share(m.similar_stage),
                share(m.similar_in_areas),
                share(m.language_fit),
                number(m.mean_km, if table { 1 } else { 3 }),
                number(m.travel_ratio, if table { 2 } else { 4 }),
                share(m.needs_covered),
                share(m.first_covers_need),
                share(m.partners_needing_it),
                m.safeguarding_not_met.to_string(),
                share(m.beyond_regular_visits),
                m.busiest_supporter.to_string(),
                m.distinct_supporters.to_string(),
                m.short.to_string(),
            ]
        })
        .collect();
    if !table {
        return write_csv(out, &header, &rows);
    }
    write_table(out, &header, &rows)?;
    let language = evaluation.systems.first().map_or(0, |m| m.language_fit.of);
    writeln!(
        out,
        "\n{} seekers, {} partners each asked (Broker: 1); language fit over Welsh-medium seekers with {} Welsh-medium feasible partners within {} km ({} of Match's partners)",
        evaluation.seekers, evaluation.partners, evaluation.partners, evaluation.reach_km, language
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_csv_escape_what_could_drive_a_terminal() {
        let rows = vec![vec![
            "6602018".to_owned(),
            "Ysgol \u{1b}[2J\u{1b}[31mRed\u{202e}".to_owned(),
        ]];
        for write in [write_table, write_csv] {
            let mut out = Vec::new();
            write(&mut out, &["id", "name"], &rows).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{202e}'),
                "{text}"
            );
            assert!(
                text.contains("Ysgol \\u{1b}[2J\\u{1b}[31mRed\\u{202e}"),
                "{text}"
            );
        }
    }
}
