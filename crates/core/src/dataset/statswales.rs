//! Free school meals by school from StatsWales: the table "Pupils in
//! maintained schools eligible for free school meals by school" (and its
//! "aged 5-15" variant), downloaded as CSV in the long format — one value a
//! row, read by header name:
//!
//! | column | holds |
//! |---|---|
//! | `Data values` | the figure: `18.9`, `1,204`, `[c]` (suppressed), `87,095 [t]` (a total) |
//! | `Data description` | `Percentage of pupils` or `Number of pupils` |
//! | `School` | `6692006 - Y TYMBL`: the school number, then its name |
//! | `Category` | `Eligible for free school meals`, `… or transitionally protected`, `All pupils` |
//!
//! A school's figure is its percentage eligible for free school meals (not
//! transitionally protected); where the table gives only numbers, eligible
//! over all pupils. A suppressed value (`[c]`) makes the figure unknown.
//! Other columns (a year, notes) are ignored, as are rows of other
//! categories.

use std::collections::BTreeMap;
use std::path::Path;

use crate::domain::SchoolId;

use super::csv_import::{Row, Rows, read_file};
use super::{CsvImportError, StoredChange, StoredImport, StoredRow};

/// The columns read, all required in the header.
pub const STATSWALES_COLUMNS: [&str; 4] = ["Data values", "Data description", "School", "Category"];

/// Reads a StatsWales file.
pub fn read_statswales_fsm_path(path: impl AsRef<Path>) -> Result<StoredImport, CsvImportError> {
    let bytes = read_file(path.as_ref())?;
    read_statswales_fsm(&bytes)
}

/// What the rows say of one school so far.
#[derive(Default)]
struct Seen {
    percent: Option<(Option<f64>, u64)>,
    eligible: Option<Option<f64>>,
    all: Option<Option<f64>>,
    line: u64,
}

/// Reads a StatsWales file's bytes (UTF-8, with or without a byte-order
/// mark): one % eligible for free school meals per school (`None` where
/// suppressed), in school-number order.
pub fn read_statswales_fsm(bytes: &[u8]) -> Result<StoredImport, CsvImportError> {
    let (text, _, _) = encoding_rs::UTF_8.decode(bytes);
    let (mut rows, header) = Rows::open(&text)?;
    let find = |name: &str| {
        header
            .iter()
            .position(|column| column.trim().eq_ignore_ascii_case(name))
            .ok_or(CsvImportError::MissingColumn(
                STATSWALES_COLUMNS
                    .iter()
                    .find(|column| **column == name)
                    .copied()
                    .unwrap_or("column"),
            ))
    };
    let [value_at, description_at, school_at, category_at] = [
        find("Data values")?,
        find("Data description")?,
        find("School")?,
        find("Category")?,
    ];
    let mut import = StoredImport::default();
    let reject = |import: &mut StoredImport, line: u64, field: &str, message: String| {
        let message = if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        import.rejections.reject(line, field, message);
    };
    let mut schools: BTreeMap<SchoolId, Seen> = BTreeMap::new();
    while let Some(next) = rows.next_row()? {
        let (line, record) = match next {
            Row::Read { line, record } => (line, record),
            Row::Unreadable { line, message } => {
                reject(&mut import, line, "", message);
                continue;
            }
        };
        let get = |at: usize| record.get(at).unwrap_or("").trim();
        let category = get(category_at);
        let measure = match category {
            "Eligible for free school meals" => Measure::Eligible,
            "All pupils" => Measure::All,
            _ => continue,
        };
        let percentage = match get(description_at) {
            "Percentage of pupils" => true,
            "Number of pupils" => false,
            _ => continue,
        };
        if get(value_at).contains("[t]") {
            // A total over schools (an authority, Wales), not a school.
            continue;
        }
        let school_text = get(school_at);
        let Some(Ok(school)) = school_text
            .split_once(" - ")
            .map(|(number, _)| SchoolId::parse(number.trim()))
        else {
            reject(
                &mut import,
                line,
                "School",
                format!("expected \"NUMBER - NAME\", got {school_text:?}"),
            );
            continue;
        };
        let value = match read_value(get(value_at)) {
            Ok(value) => value,
            Err(message) => {
                reject(&mut import, line, "Data values", message);
                continue;
            }
        };
        if percentage && value.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
            reject(
                &mut import,
                line,
                "Data values",
                format!("a percentage must be 0–100, got {}", get(value_at)),
            );
            continue;
        }
        let seen = schools.entry(school).or_default();
        seen.line = seen.line.max(line);
        match (measure, percentage) {
            (Measure::Eligible, true) => seen.percent = Some((value, line)),
            (Measure::Eligible, false) => seen.eligible = Some(value),
            (Measure::All, false) => seen.all = Some(value),
            (Measure::All, true) => {}
        }
    }
    import.rows = rows.read();
    if import.rows == 0 {
        return Err(CsvImportError::NoRows);
    }
    for (school, seen) in schools {
        let (fsm_percent, line) = match (seen.percent, seen.eligible, seen.all) {
            (Some((percent, line)), _, _) => (percent, line),
            (None, Some(eligible), Some(all)) => (
                eligible
                    .zip(all)
                    .filter(|(_, all)| *all > 0.0)
                    .map(|(eligible, all)| (100.0 * eligible / all).min(100.0)),
                seen.line,
            ),
            // Only all pupils, or only the eligible number: no figure.
            _ => continue,
        };
        import.changes.push(StoredRow {
            school,
            change: StoredChange::FsmPercent(fsm_percent),
            line,
        });
    }
    Ok(import)
}

#[derive(Clone, Copy)]
enum Measure {
    Eligible,
    All,
}

/// A StatsWales value: a number (thousands separated by commas, maybe with
/// a shorthand such as `[t]` after it), or `[c]` (confidential: unknown),
/// `[x]`, `[z]` or `..` (not available: unknown).
fn read_value(text: &str) -> Result<Option<f64>, String> {
    let number = text.split(" [").next().unwrap_or("").trim();
    if matches!(number, "[c]" | "[x]" | "[z]" | "[low]" | ".." | "") {
        return Ok(None);
    }
    number
        .replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite() && *value >= 0.0)
        .map(Some)
        .ok_or_else(|| format!("expected a number or [c], got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\u{feff}Data values,Data description,School,Category,Notes\n\
        18.9,Percentage of pupils,6692006 - Y TYMBL,Eligible for free school meals,\n\
        29.5,Percentage of pupils,6692006 - Y TYMBL,Eligible for free school meals or transitionally protected,\n\
        [c],Percentage of pupils,6692014 - PENIEL,Eligible for free school meals,\n\
        31,Number of pupils,6713309 - St Joseph's Catholic Primary School (Neath),Eligible for free school meals,\n\
        \"1,240\",Number of pupils,6713309 - St Joseph's Catholic Primary School (Neath),All pupils,\n\
        \"87,095 [t]\",Number of pupils,Wales,Eligible for free school meals,\n\
        12.0,Percentage of pupils,Y TYMBL,Eligible for free school meals,\n\
        lots,Percentage of pupils,6742127 - Hafod Primary School,Eligible for free school meals,\n\
        140,Percentage of pupils,6742130 - MAES-Y-COED PRIMARY SCHOOL,Eligible for free school meals,\n";

    #[test]
    fn the_long_format_gives_each_school_its_percentage_eligible() {
        let import = read_statswales_fsm(FILE.as_bytes()).expect("readable");
        assert_eq!(import.rows, 9);
        let figures: Vec<(&str, Option<f64>)> = import
            .changes
            .iter()
            .map(|row| match row.change {
                StoredChange::FsmPercent(percent) => (row.school.as_str(), percent),
                StoredChange::Evaluations(_) => panic!("{row:?} is not a figure"),
            })
            .collect();
        assert_eq!(
            figures,
            [
                ("6692006", Some(18.9)),
                ("6692014", None),
                ("6713309", Some(2.5)),
            ],
            "the means-tested share, not with transitional protection; suppressed is unknown; numbers give eligible over all"
        );
        let rejected: Vec<(u64, &str)> = import
            .rejections
            .listed
            .iter()
            .map(|r| (r.position, r.field.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [(8, "School"), (9, "Data values"), (10, "Data values")],
            "{:?}",
            import.rejections.listed
        );
        assert!(
            import.rejections.listed[0].message.contains("\"Y TYMBL\""),
            "{}",
            import.rejections.listed[0].message
        );
    }

    #[test]
    fn a_file_without_the_long_format_columns_is_refused_by_name() {
        let error = read_statswales_fsm(b"School,FSM\n6692006,18.9\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: the header has no Data values column (required)"
        );
    }
}
