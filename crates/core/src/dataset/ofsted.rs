//! Ofsted's inspection outcomes by URN — its monthly management
//! information on state-funded schools' latest inspections — as
//! evaluations: report-card grades by area, the judgements before report
//! cards, safeguarding and categories of concern, each dated by the
//! inspection. Columns are read by header name through [`OfstedColumns`]:
//! the default names below, or others given by the user (a renamed column
//! needs no release).
//!
//! A row's report-card columns make `ofsted_report_card` evaluations and its
//! older judgement columns `ofsted_legacy` ones; safeguarding and a
//! category of concern go with the report card when the row has one.
//! Legacy grades may be numbers (1 outstanding … 4 inadequate; 9 and empty
//! are not judged) or words; safeguarding `Yes`/`No` or `Met`/`Not met`;
//! categories of concern `SM`/`SWK` or words.

use std::collections::HashMap;
use std::path::Path;

use crate::domain::{
    Evaluation, EvaluationArea, EvaluationFramework, Judgement, SchoolId, Violations,
    evidence_limits,
};

use super::csv_import::{Row, Rows, read_file};
use super::{CsvImportError, StoredChange, StoredImport, StoredRow};

/// Where each field is in an outcomes file, by header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfstedColumns {
    pub urn: String,
    /// The inspection's first day: `YYYY-MM-DD` or `DD/MM/YYYY`.
    pub date: String,
    /// Per framework and area, the column holding its grade.
    pub areas: Vec<(EvaluationFramework, EvaluationArea, String)>,
}

impl Default for OfstedColumns {
    fn default() -> OfstedColumns {
        use EvaluationArea as A;
        use EvaluationFramework::{OfstedLegacy as L, OfstedReportCard as R};
        let areas = [
            (R, A::Inclusion, "Inclusion"),
            (R, A::CurriculumAndTeaching, "Curriculum and teaching"),
            (R, A::Achievement, "Achievement"),
            (R, A::AttendanceAndBehaviour, "Attendance and behaviour"),
            (
                R,
                A::PersonalDevelopmentAndWellbeing,
                "Personal development and well-being",
            ),
            (R, A::LeadershipAndGovernance, "Leadership and governance"),
            (R, A::EarlyYears, "Early years"),
            (R, A::SixthForm, "Sixth form"),
            (L, A::Overall, "Overall effectiveness"),
            (L, A::QualityOfEducation, "Quality of education"),
            (L, A::BehaviourAndAttitudes, "Behaviour and attitudes"),
            (L, A::PersonalDevelopment, "Personal development"),
            (
                L,
                A::LeadershipAndManagement,
                "Effectiveness of leadership and management",
            ),
            (L, A::EarlyYears, "Early years provision (where applicable)"),
            (L, A::SixthForm, "Sixth form provision (where applicable)"),
            (L, A::Safeguarding, "Safeguarding is effective?"),
            (L, A::CategoryOfConcern, "Category of concern"),
        ];
        OfstedColumns {
            urn: "URN".to_owned(),
            date: "Inspection start date".to_owned(),
            areas: areas
                .into_iter()
                .map(|(framework, area, column)| (framework, area, column.to_owned()))
                .collect(),
        }
    }
}

impl OfstedColumns {
    /// The defaults with some columns renamed: keys `urn`, `date`, and
    /// `FRAMEWORK.AREA` (`ofsted_report_card.achievement`,
    /// `ofsted_legacy.overall`, …). An unknown key is refused by name.
    pub fn with_renames<'a>(
        renames: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<OfstedColumns, String> {
        let mut columns = OfstedColumns::default();
        for (key, column) in renames {
            match key {
                "urn" => columns.urn = column.to_owned(),
                "date" => columns.date = column.to_owned(),
                _ => {
                    let slot = key.split_once('.').and_then(|(framework, area)| {
                        let framework = framework.parse::<EvaluationFramework>().ok()?;
                        let area = area.parse::<EvaluationArea>().ok()?;
                        columns
                            .areas
                            .iter_mut()
                            .find(|(f, a, _)| *f == framework && *a == area)
                    });
                    match slot {
                        Some((_, _, name)) => *name = column.to_owned(),
                        None => {
                            let known: Vec<String> = OfstedColumns::default()
                                .areas
                                .iter()
                                .map(|(f, a, _)| format!("{f}.{a}"))
                                .collect();
                            return Err(format!(
                                "unknown column key {key:?}; the keys are urn, date, {}",
                                known.join(", ")
                            ));
                        }
                    }
                }
            }
        }
        Ok(columns)
    }
}

/// Reads an outcomes file (UTF-8, or Windows-1252 when it is not UTF-8).
pub fn read_ofsted_path(
    path: impl AsRef<Path>,
    columns: &OfstedColumns,
) -> Result<StoredImport, CsvImportError> {
    let bytes = read_file(path.as_ref())?;
    read_ofsted(&bytes, columns)
}

/// Reads an outcomes file's bytes: the evaluations of each inspection row.
pub fn read_ofsted(bytes: &[u8], columns: &OfstedColumns) -> Result<StoredImport, CsvImportError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text.trim_start_matches('\u{feff}')),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0,
    };
    let (mut rows, header) = Rows::open(&text)?;
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(at, name)| (name.trim(), at))
        .collect();
    let required = |name: &str| {
        index
            .get(name)
            .copied()
            .ok_or_else(|| CsvImportError::MissingNamedColumn(name.to_owned()))
    };
    let (urn_at, date_at) = (required(&columns.urn)?, required(&columns.date)?);
    // Area columns are each optional: a file of one framework lacks the
    // other's.
    let areas: Vec<(EvaluationFramework, EvaluationArea, &str, usize)> = columns
        .areas
        .iter()
        .filter_map(|(framework, area, name)| {
            index
                .get(name.as_str())
                .map(|at| (*framework, *area, name.as_str(), *at))
        })
        .collect();
    let mut import = StoredImport::default();
    // The line each judgement was first given on, so a repeat is refused
    // rather than replacing it silently.
    let mut judged_on: HashMap<super::import::JudgingKey, u64> = HashMap::new();
    while let Some(next) = rows.next_row()? {
        let (line, record) = match next {
            Row::Read { line, record } => (line, record),
            Row::Unreadable { line, message } => {
                import.rejections.reject(line, "", message);
                continue;
            }
        };
        let get = |at: usize| record.get(at).unwrap_or("").trim();
        let mut v = Violations::new();
        let school = SchoolId::parse(get(urn_at))
            .map_err(|problem| v.push(&columns.urn, problem))
            .ok();
        let date = read_date(&mut v, &columns.date, get(date_at));
        let mut judged: Vec<(EvaluationFramework, EvaluationArea, Judgement)> = Vec::new();
        for &(framework, area, name, at) in &areas {
            match read_judgement(area, get(at)) {
                Ok(Some(judgement)) => judged.push((framework, area, judgement)),
                Ok(None) => {}
                Err(message) => v.push(name, message),
            }
        }
        // Safeguarding and concern go with the report card when there is one.
        let report_card = judged.iter().any(|(framework, area, _)| {
            *framework == EvaluationFramework::OfstedReportCard
                && !matches!(
                    area,
                    EvaluationArea::Safeguarding | EvaluationArea::CategoryOfConcern
                )
        });
        let (Some(school), Some(date)) = (school, date) else {
            import.rejections.reject_all(line, &v);
            continue;
        };
        let evaluations: Vec<Evaluation> = judged
            .into_iter()
            .map(|(framework, area, judgement)| Evaluation {
                framework: if report_card
                    && matches!(
                        area,
                        EvaluationArea::Safeguarding | EvaluationArea::CategoryOfConcern
                    ) {
                    EvaluationFramework::OfstedReportCard
                } else {
                    framework
                },
                area,
                judgement,
                date,
                source: String::new(),
            })
            .collect();
        v.extend(crate::domain::validate_evaluations(&evaluations));
        for evaluation in &evaluations {
            if let Some(first) = judged_on.get(&super::import::judging_key(&school, evaluation)) {
                v.push(
                    &columns.date,
                    format!(
                        "repeats line {first}: {} judges {} of school {school} once on {}",
                        evaluation.framework, evaluation.area, evaluation.date
                    ),
                );
                break;
            }
        }
        if !v.is_empty() {
            import.rejections.reject_all(line, &v);
            continue;
        }
        for evaluation in &evaluations {
            judged_on.insert(super::import::judging_key(&school, evaluation), line);
        }
        if !evaluations.is_empty() {
            import.changes.push(StoredRow {
                school,
                change: StoredChange::Evaluations(evaluations),
                line,
            });
        }
    }
    import.rows = rows.read();
    if import.rows == 0 {
        return Err(CsvImportError::NoRows);
    }
    Ok(import)
}

/// `YYYY-MM-DD` or `DD/MM/YYYY`, within the evaluation date range.
fn read_date(v: &mut Violations, column: &str, text: &str) -> Option<jiff::civil::Date> {
    let iso = match text.split('/').collect::<Vec<_>>().as_slice() {
        [day, month, year] if year.len() == 4 && day.len() <= 2 && month.len() <= 2 => {
            format!("{year}-{month:0>2}-{day:0>2}")
        }
        _ => text.to_owned(),
    };
    v.check_date_within(column, &iso, evidence_limits::DATES)
}

/// A grade cell: a word of the framework, a legacy number (1–4), a
/// safeguarding `Yes`/`No`, a concern `SM`/`SWK`; empty, `9`, `NULL` and
/// "not applicable" are not judged.
fn read_judgement(area: EvaluationArea, text: &str) -> Result<Option<Judgement>, String> {
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "" | "9" | "null" | "n/a" | "na" | "not applicable" | "none"
    ) {
        return Ok(None);
    }
    let judgement = match (area, lower.as_str()) {
        (EvaluationArea::Safeguarding, "yes") => Some(Judgement::Met),
        (EvaluationArea::Safeguarding, "no") => Some(Judgement::NotMet),
        (EvaluationArea::CategoryOfConcern, "sm") => Some(Judgement::SpecialMeasures),
        (EvaluationArea::CategoryOfConcern, "swk" | "sw") => Some(Judgement::SeriousWeaknesses),
        (_, "1") => Some(Judgement::Outstanding),
        (_, "2") => Some(Judgement::Good),
        (_, "3") => Some(Judgement::RequiresImprovement),
        (_, "4") => Some(Judgement::Inadequate),
        _ => text.parse::<Judgement>().ok(),
    };
    judgement
        .map(Some)
        .ok_or_else(|| format!("not a judgement: {text:?}"))
}

/// The stored school's evaluations with an outcome's: those of the same
/// framework, area and date replaced, so importing a file twice changes
/// nothing.
pub fn merge_evaluations(stored: &[Evaluation], incoming: &[Evaluation]) -> Vec<Evaluation> {
    let mut merged: Vec<Evaluation> = stored
        .iter()
        .filter(|old| !incoming.iter().any(|new| new.same_judging(old)))
        .cloned()
        .collect();
    merged.extend(incoming.iter().cloned());
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "URN,School name,Inspection start date,Overall effectiveness,Quality of education,Behaviour and attitudes,Personal development,Effectiveness of leadership and management,Early years provision (where applicable),Sixth form provision (where applicable),Safeguarding is effective?,Category of concern,Inclusion,Curriculum and teaching,Achievement,Attendance and behaviour,Personal development and well-being,Leadership and governance,Early years,Sixth form\n\
        100001,Legacy Primary,14/05/2023,2,2,1,2,2,9,NULL,Yes,,,,,,,,,\n\
        100002,Report Card Primary,2026-01-20,,,,,,,,Yes,,Expected standard,Strong standard,Needs attention,Exceptional,Expected standard,Strong standard,,\n\
        100003,Special Measures,03/03/2024,4,4,4,3,4,,,No,SM,,,,,,,,\n\
        100004,Bad Grade,2025-02-02,7,,,,,,,,,,,,,,,,\n\
        100005,Bad Date,31/02/2025,2,,,,,,,,,,,,,,,,\n";

    /// The evaluations of the `n`th row taken.
    fn evaluations(import: &StoredImport, n: usize) -> &[Evaluation] {
        match &import.changes[n].change {
            StoredChange::Evaluations(evaluations) => evaluations,
            other => panic!("row {n} is not evaluations: {other:?}"),
        }
    }

    #[test]
    fn outcomes_become_dated_evaluations_of_their_framework() {
        let import = read_ofsted(FILE.as_bytes(), &OfstedColumns::default()).expect("readable");
        assert_eq!(import.rows, 5);
        let by_school: Vec<(&str, usize)> = import
            .changes
            .iter()
            .enumerate()
            .map(|(n, row)| (row.school.as_str(), evaluations(&import, n).len()))
            .collect();
        assert_eq!(by_school, [("100001", 6), ("100002", 7), ("100003", 7)]);
        let legacy = evaluations(&import, 0);
        assert!(
            legacy
                .iter()
                .all(|e| e.framework == EvaluationFramework::OfstedLegacy
                    && e.date == jiff::civil::date(2023, 5, 14))
        );
        assert!(
            legacy
                .iter()
                .any(|e| e.area == EvaluationArea::BehaviourAndAttitudes
                    && e.judgement == Judgement::Outstanding)
        );
        let card = evaluations(&import, 1);
        assert!(
            card.iter()
                .all(|e| e.framework == EvaluationFramework::OfstedReportCard),
            "safeguarding goes with the report card: {card:?}"
        );
        assert!(
            card.iter()
                .any(|e| e.area == EvaluationArea::AttendanceAndBehaviour
                    && e.judgement == Judgement::Exceptional)
        );
        let concern = evaluations(&import, 2);
        assert!(
            concern
                .iter()
                .any(|e| e.judgement == Judgement::SpecialMeasures)
        );
        assert!(concern.iter().any(|e| e.judgement == Judgement::NotMet));
        let rejected: Vec<(u64, &str)> = import
            .rejections
            .listed
            .iter()
            .map(|r| (r.position, r.field.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [(5, "Overall effectiveness"), (6, "Inspection start date")]
        );
    }

    #[test]
    fn renamed_columns_are_read_and_unknown_keys_refused() {
        let text = "Unique reference,Date,Overall\n100001,2024-01-01,1\n";
        let columns = OfstedColumns::with_renames([
            ("urn", "Unique reference"),
            ("date", "Date"),
            ("ofsted_legacy.overall", "Overall"),
        ])
        .expect("known keys");
        let import = read_ofsted(text.as_bytes(), &columns).expect("readable");
        assert_eq!(evaluations(&import, 0)[0].judgement, Judgement::Outstanding);
        let error = OfstedColumns::with_renames([("ofsted_legacy.attendance", "X")]).unwrap_err();
        assert!(
            error.contains("unknown column key \"ofsted_legacy.attendance\""),
            "{error}"
        );
        let missing = read_ofsted(text.as_bytes(), &OfstedColumns::default()).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "line 1: the header has no \"URN\" column (required)"
        );
    }

    /// The same judgement twice in one file is refused on the second line,
    /// as through the API; one from the future is refused by line too.
    #[test]
    fn repeated_and_future_judgements_are_refused_by_line() {
        let text = "URN,Inspection start date,Overall effectiveness\n\
            100001,14/05/2023,2\n\
            100002,14/05/2023,3\n\
            100001,2023-05-14,1\n\
            100003,31/12/2199,1\n";
        let mut import = read_ofsted(text.as_bytes(), &OfstedColumns::default()).expect("readable");
        import.refuse_future_evaluations(crate::domain::latest_evaluation_date(jiff::civil::date(
            2026, 12, 6,
        )));
        let taken: Vec<&str> = import
            .changes
            .iter()
            .map(|row| row.school.as_str())
            .collect();
        assert_eq!(taken, ["100001", "100002"]);
        let rejected: Vec<(u64, String)> = import
            .rejections
            .listed
            .iter()
            .map(|r| (r.position, r.to_string()))
            .collect();
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        assert_eq!(rejected[0].0, 4);
        assert!(rejected[0].1.contains("repeats line 2"), "{rejected:?}");
        assert_eq!(rejected[1].0, 5);
        assert!(
            rejected[1].1.contains("2199-12-31 is in the future")
                && rejected[1].1.contains("2026-12-07"),
            "{rejected:?}"
        );
    }

    #[test]
    fn merging_replaces_the_same_inspection_and_keeps_the_rest() {
        let at = |area, judgement, day| Evaluation {
            framework: EvaluationFramework::OfstedLegacy,
            area,
            judgement,
            date: jiff::civil::date(2023, 5, day),
            source: String::new(),
        };
        let stored = vec![
            at(EvaluationArea::Overall, Judgement::Good, 14),
            at(EvaluationArea::Overall, Judgement::Inadequate, 1),
        ];
        let incoming = vec![at(EvaluationArea::Overall, Judgement::Outstanding, 14)];
        let merged = merge_evaluations(&stored, &incoming);
        assert_eq!(merged, [stored[1].clone(), incoming[0].clone()]);
        assert_eq!(merge_evaluations(&merged, &incoming), merged, "idempotent");
    }
}
