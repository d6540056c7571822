//! Reading schools from CSV, in the format of
//! `data/wales/schools.csv` plus optional extra columns.
//!
//! Columns are found by header name (case-insensitive, any order); unknown
//! columns such as `postcode` are ignored. Required: `school_number` (or
//! `id`), `name`, `phase`, `latitude`, `longitude`. Optional:
//! `local_authority`, `consortium`, `language_medium`, `religious_character`,
//! `pupils`, `fsm_percent`, `deprivation_percent`, `aln_percent`,
//! `eal_percent`, `stage` (a given stage), `strengths`, `needs` (focus-area
//! names separated by `;`), `capacity`, `family_id`, `open`, and the
//! bodies the school belongs to: `trust_code`, `trust_name`,
//! `federation_code`, `federation_name`, `diocese_code`, `diocese_name`
//! (a name needs its code).
//!
//! Evidence (docs/domain.md, "Evidence"):
//! - `support_category_2019` (green … red) becomes a `wales_category`
//!   evaluation of the school overall dated [`CATEGORY_2019_DATE`] — not a
//!   given stage, so it is stale under the default evidence age;
//! - `evaluation_framework`, `evaluation_date` (YYYY-MM-DD, from 1990 to the
//!   day after the evidence date: the importer refuses later ones) and optional
//!   `evaluation_source` describe one inspection, and each column named
//!   after an evaluation area (`leadership_and_governance`,
//!   `attendance_and_behaviour`, `safeguarding`, `overall`, …) holds that
//!   area's judgement word (`strong standard`, `good`, `met`, …).
//!
//! A bad row is never silently dropped: it is reported with its line number,
//! the column and the reason, and the other rows still load — by the same
//! [`ImportBatch`] rules as an ImportSchools stream.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::import::{ImportBatch, MAX_RECORDS, RecordUnit};
use crate::domain::{
    Affiliation, AffiliationKind, Affiliations, ContextMeasures, Evaluation, EvaluationArea,
    EvaluationFramework, FocusArea, FocusSet, GeoPoint, Judgement, LanguageMedium, Phase, School,
    SchoolId, Stage, UnknownName, Violations, limits, quoted,
};

/// A problem with the file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CsvImportError {
    #[error("cannot read {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("line 1: the header has no {0} column (required)")]
    MissingColumn(&'static str),
    /// A column named by the user (or a default they can rename).
    #[error("line 1: the header has no {0:?} column (required)")]
    MissingNamedColumn(String),
    #[error("the file is empty: it needs a header line, then one row per school")]
    Empty,
    #[error(
        "line 1: the header has a {name} column twice (columns {first} and {second}); which one holds the data?"
    )]
    DuplicateColumn {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("the file has a header (line 1) but no rows of schools")]
    NoRows,
    #[error(
        "the file has more than {0} rows of schools, the most one import takes; split it into several files"
    )]
    TooManyRows(u64),
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
}

/// A whole file's bytes, or why it cannot be read.
pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, CsvImportError> {
    std::fs::read(path).map_err(|source| CsvImportError::Open {
        path: path.display().to_string(),
        source,
    })
}

/// Where each line of a file starts, to name the line of a record from its
/// byte offset: the csv crate's own line numbers are wrong in files that
/// end lines with CRLF (as Windows and the Department for Education write
/// them).
pub(super) struct LineIndex<'a> {
    bytes: &'a [u8],
    starts: Vec<u64>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, byte)| **byte == b'\n')
                    .map(|(at, _)| at as u64 + 1),
            )
            .collect();
        LineIndex { bytes, starts }
    }

    /// The 1-based line of the record at `byte`. (A record's position may
    /// fall on the line end before it.)
    pub(super) fn line_at(&self, byte: u64) -> u64 {
        let first = self
            .bytes
            .get(byte as usize..)
            .and_then(|rest| rest.iter().position(|b| *b != b'\r' && *b != b'\n'))
            .map_or(byte, |skip| byte + skip as u64);
        self.starts.partition_point(|&start| start <= first) as u64
    }

    /// The line of a csv position.
    pub(super) fn line_of(&self, position: Option<&csv::Position>) -> u64 {
        position.map_or(0, |p| self.line_at(p.byte()))
    }
}

/// The rows of a decoded file after its header, one at a time, each with
/// its line: counted, at most [`MAX_RECORDS`], and a row the csv reader
/// cannot read given as its line and why.
pub(super) struct Rows<'a> {
    reader: csv::Reader<&'a [u8]>,
    lines: LineIndex<'a>,
    record: csv::StringRecord,
    /// Rows read so far (unreadable ones aside).
    read: u64,
}

/// One row of [`Rows`].
pub(super) enum Row<'r> {
    Read {
        line: u64,
        record: &'r csv::StringRecord,
    },
    Unreadable {
        line: u64,
        message: String,
    },
}

impl<'a> Rows<'a> {
    /// The rows of `text`, and its header (refused when empty).
    pub(super) fn open(text: &'a str) -> Result<(Rows<'a>, csv::StringRecord), CsvImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader.headers()?.clone();
        if header.is_empty() {
            return Err(CsvImportError::Empty);
        }
        let rows = Rows {
            reader,
            lines: LineIndex::new(text.as_bytes()),
            record: csv::StringRecord::new(),
            read: 0,
        };
        Ok((rows, header))
    }

    /// The next row, `None` at the end; more than [`MAX_RECORDS`] rows
    /// refuse the file.
    pub(super) fn next_row(&mut self) -> Result<Option<Row<'_>>, CsvImportError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                self.read += 1;
                if self.read > MAX_RECORDS {
                    return Err(CsvImportError::TooManyRows(MAX_RECORDS));
                }
                Ok(Some(Row::Read {
                    line: self.lines.line_of(self.record.position()),
                    record: &self.record,
                }))
            }
            Err(error) => Ok(Some(Row::Unreadable {
                line: self.lines.line_of(error.position()),
                message: format!("unreadable row: {error}"),
            })),
        }
    }

    /// Rows read so far, unreadable ones aside.
    pub(super) fn read(&self) -> u64 {
        self.read
    }
}

/// Reads a CSV file of schools.
pub fn read_csv_path(path: impl AsRef<Path>) -> Result<ImportBatch, CsvImportError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| CsvImportError::Open {
        path: path.display().to_string(),
        source,
    })?;
    read_csv(std::io::BufReader::new(file))
}

/// The date given to the 2019 Welsh categories (the file gives the year
/// only; the categories were published at the start of 2019).
pub const CATEGORY_2019_DATE: jiff::civil::Date = jiff::civil::date(2019, 1, 31);

/// Column positions, looked up once from the header.
struct Columns {
    by_name: HashMap<String, usize>,
    id: (usize, &'static str),
    /// Columns holding a judgement of an evaluation area.
    areas: Vec<(usize, EvaluationArea)>,
}

impl Columns {
    fn new(header: &csv::StringRecord) -> Result<Columns, CsvImportError> {
        if header.iter().all(|name| name.trim().is_empty()) {
            return Err(CsvImportError::Empty);
        }
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if let Some(first) = by_name.insert(name.clone(), i) {
                return Err(CsvImportError::DuplicateColumn {
                    name,
                    first: first + 1,
                    second: i + 1,
                });
            }
        }
        let first_of = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|name| by_name.get(*name).map(|i| (*i, *name)))
        };
        let id = first_of(&["school_number", "id"])
            .ok_or(CsvImportError::MissingColumn("school_number"))?;
        for required in ["name", "phase", "latitude", "longitude"] {
            if !by_name.contains_key(required) {
                return Err(CsvImportError::MissingColumn(required));
            }
        }
        let mut areas: Vec<(usize, EvaluationArea)> = EvaluationArea::ALL
            .into_iter()
            .filter_map(|area| by_name.get(area.name()).map(|i| (*i, area)))
            .collect();
        areas.sort();
        Ok(Columns { by_name, id, areas })
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        self.by_name
            .get(name)
            .and_then(|i| record.get(*i))
            .map(str::trim)
            .unwrap_or("")
    }
}

/// Reads CSV text of schools: at most [`MAX_RECORDS`] rows.
pub fn read_csv(mut reader: impl Read) -> Result<ImportBatch, CsvImportError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|error| CsvImportError::Csv(error.into()))?;
    read_csv_capped(&bytes, MAX_RECORDS)
}

fn read_csv_capped(bytes: &[u8], max_rows: u64) -> Result<ImportBatch, CsvImportError> {
    let lines = LineIndex::new(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::None)
        .from_reader(bytes);
    let header = reader.headers()?.clone();
    let columns = Columns::new(&header)?;
    let mut import = ImportBatch::new(RecordUnit::Line);
    let mut record = csv::StringRecord::new();
    loop {
        if import.records() >= max_rows && reader.read_record(&mut record)? {
            return Err(CsvImportError::TooManyRows(max_rows));
        }
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                // Bad UTF-8 or quoting: report the row, keep reading.
                let line = lines.line_of(error.position());
                import.offer_unreadable(line, format!("unreadable row: {error}"));
                continue;
            }
        }
        let line = lines.line_of(record.position());
        if record.len() != header.len() {
            // A quoted field that runs over line ends, in a file whose
            // fields never hold line breaks, is a quote left open: say so,
            // where it starts, rather than only miscount the fields.
            let ends = lines.line_at(reader.position().byte());
            let message = if record.iter().any(|field| field.contains('\n')) {
                format!(
                    "a quoted field on this line is not closed: it runs on to line {ends}, taking in the rows between (an unterminated quote?)"
                )
            } else {
                format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    record.len()
                )
            };
            import.offer_unreadable(line, message);
            continue;
        }
        let raw_id = record.get(columns.id.0).unwrap_or("");
        import.offer(line, raw_id, columns.id.1, parse_row(&columns, &record));
    }
    if import.records() == 0 {
        return Err(CsvImportError::NoRows);
    }
    Ok(import)
}

fn parse_row(columns: &Columns, record: &csv::StringRecord) -> Result<School, Violations> {
    let mut v = Violations::new();
    let get = |name: &str| columns.get(record, name);
    let (id_index, id_column) = columns.id;
    let id = SchoolId::parse(record.get(id_index).unwrap_or("").trim())
        .map_err(|problem| v.push(id_column, problem))
        .ok();

    let phase = required_named::<Phase>(&mut v, "phase", get("phase"), "is required");

    let latitude_text = get("latitude");
    let longitude_text = get("longitude");
    if latitude_text.is_empty() || longitude_text.is_empty() {
        v.push(
            if latitude_text.is_empty() {
                "latitude"
            } else {
                "longitude"
            },
            "no coordinates: a school cannot be matched without a location, so the row is skipped",
        );
    }
    let latitude = parse_number(&mut v, "latitude", latitude_text);
    let longitude = parse_number(&mut v, "longitude", longitude_text);

    let stage = named::<Stage>(&mut v, "stage", get("stage"));
    let evaluations = parse_evaluations(&mut v, columns, record);
    let language_medium =
        named::<LanguageMedium>(&mut v, "language_medium", get("language_medium"));
    let pupils = parse_count(&mut v, "pupils", get("pupils"), limits::PUPILS_MAX);
    let capacity = parse_count(&mut v, "capacity", get("capacity"), limits::CAPACITY_MAX);
    let context = ContextMeasures {
        fsm_percent: parse_number(&mut v, "fsm_percent", get("fsm_percent")),
        deprivation_percent: parse_number(
            &mut v,
            "deprivation_percent",
            get("deprivation_percent"),
        ),
        aln_percent: parse_number(&mut v, "aln_percent", get("aln_percent")),
        eal_percent: parse_number(&mut v, "eal_percent", get("eal_percent")),
    };
    let strengths = parse_focus(&mut v, "strengths", get("strengths"));
    let needs = parse_focus(&mut v, "needs", get("needs"));
    let open = match get("open").to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" | "open" => true,
        "false" | "no" | "0" | "closed" => false,
        other => {
            v.push("open", format!("expected true or false, got {other:?}"));
            true
        }
    };
    let family = get("family_id");
    let affiliations = parse_affiliations(&mut v, |kind, part| {
        columns.get(record, &format!("{kind}_{part}"))
    });

    let (Some(id), Some(phase), Some(latitude), Some(longitude)) = (id, phase, latitude, longitude)
    else {
        return Err(v);
    };
    let school = School {
        id,
        name: get("name").to_owned(),
        phase,
        stage,
        language_medium,
        location: GeoPoint::new(latitude, longitude),
        local_authority: get("local_authority").to_owned(),
        consortium: get("consortium").to_owned(),
        pupils,
        context,
        family_id: (!family.is_empty()).then(|| family.to_owned()),
        strengths,
        needs,
        capacity,
        religious_character: get("religious_character").to_owned(),
        open,
        evaluations,
        affiliations,
    };
    v.extend(school.validate());
    v.into_result(school)
}

/// The row's trust, federation and diocese from their `_code` and `_name`
/// columns (`get(kind, "code")`): none where the code is empty.
fn parse_affiliations<'r>(
    v: &mut Violations,
    get: impl Fn(AffiliationKind, &str) -> &'r str,
) -> Affiliations {
    let mut affiliations = Affiliations::default();
    for kind in AffiliationKind::ALL {
        let (code, name) = (get(kind, "code"), get(kind, "name"));
        if code.is_empty() {
            if !name.is_empty() {
                v.push(
                    format!("{kind}_code"),
                    format!("is required when {kind}_name is given"),
                );
            }
            continue;
        }
        *affiliations.get_mut(kind) = Some(Affiliation::new(code, name));
    }
    affiliations
}

/// The row's evaluations: its 2019 category, then one per area column with
/// a judgement, all of the inspection the evaluation columns describe.
fn parse_evaluations(
    v: &mut Violations,
    columns: &Columns,
    record: &csv::StringRecord,
) -> Vec<Evaluation> {
    let get = |name: &str| columns.get(record, name);
    let mut evaluations = Vec::new();
    if let Some(judgement) =
        named::<Judgement>(v, "support_category_2019", get("support_category_2019"))
    {
        evaluations.push(Evaluation {
            framework: EvaluationFramework::WalesCategory,
            area: EvaluationArea::Overall,
            judgement,
            date: CATEGORY_2019_DATE,
            source: "Welsh Government national school categorisation, 2019".into(),
        });
    }
    let judged: Vec<(EvaluationArea, &str, &str)> = columns
        .areas
        .iter()
        .filter_map(|&(index, area)| {
            let text = record.get(index).unwrap_or("").trim();
            (!text.is_empty()).then_some((area, area.name(), text))
        })
        .collect();
    if judged.is_empty() {
        return evaluations;
    }
    let framework = required_named::<EvaluationFramework>(
        v,
        "evaluation_framework",
        get("evaluation_framework"),
        "is required when an area column holds a judgement",
    );
    let date = v.check_date_within(
        "evaluation_date",
        get("evaluation_date"),
        crate::domain::evidence_limits::DATES,
    );
    for (area, column, text) in judged {
        if let (Some(framework), Some(date), Some(judgement)) =
            (framework, date, named::<Judgement>(v, column, text))
        {
            evaluations.push(Evaluation {
                framework,
                area,
                judgement,
                date,
                source: get("evaluation_source").to_owned(),
            });
        }
    }
    evaluations
}

/// A value of a closed set, by name; an empty cell is `None`.
fn named<T: std::str::FromStr<Err = UnknownName>>(
    v: &mut Violations,
    column: &str,
    text: &str,
) -> Option<T> {
    if text.is_empty() {
        return None;
    }
    text.parse::<T>()
        .map_err(|unknown| v.push(column, unknown.to_string()))
        .ok()
}

/// [`named`], where an empty cell is reported as `missing`.
fn required_named<T: std::str::FromStr<Err = UnknownName>>(
    v: &mut Violations,
    column: &str,
    text: &str,
    missing: &str,
) -> Option<T> {
    if text.is_empty() {
        v.push(column, missing);
    }
    named(v, column, text)
}

/// An empty cell is `None`; anything else must be a number.
pub(super) fn parse_number(v: &mut Violations, column: &str, text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    match text.parse::<f64>() {
        Ok(value) => Some(value),
        Err(_) => {
            v.push(column, format!("expected a number, got {}", quoted(text)));
            None
        }
    }
}

/// An empty cell is `None`; anything else must be a whole number from 0
/// to `max`, reported as written when it is not.
pub(super) fn parse_count(v: &mut Violations, column: &str, text: &str, max: u32) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    match text.parse::<u32>() {
        Ok(count) if count <= max => Some(count),
        _ => {
            v.push(
                column,
                format!(
                    "must be a whole number from 0 to {max}, got {}",
                    quoted(text)
                ),
            );
            None
        }
    }
}

fn parse_focus(v: &mut Violations, column: &str, text: &str) -> FocusSet {
    let mut set = FocusSet::EMPTY;
    for part in text
        .split([';', '|'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match part.parse::<FocusArea>() {
            Ok(area) => set.insert(area),
            Err(unknown) => v.push(column, unknown.to_string()),
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "school_number,name,local_authority,consortium,phase,language_medium,religious_character,postcode,latitude,longitude,pupils,fsm_percent,support_category_2019";

    #[test]
    fn reads_the_welsh_format_and_reports_bad_rows_by_line() {
        let text = format!(
            "{HEADER}\n\
             6602130,Ysgol Gynradd Amlwch,Isle of Anglesey,GwE,primary,welsh,none,LL68 9DU,53.412411,-4.346583,279,,amber\n\
             6602131,No Coordinates,Isle of Anglesey,GwE,primary,welsh,none,LL58 8HL,,,48,,yellow\n\
             6602132,Bad Phase,Isle of Anglesey,GwE,college,welsh,none,LL65 3TZ,53.29,-4.49,95,,yellow\n\
             6602133,Bad Latitude,Isle of Anglesey,GwE,primary,klingon,none,LL77 7LZ,95,-4.36,80,,purple\n\
             6602130,Duplicate,Isle of Anglesey,GwE,primary,welsh,none,LL68 9DU,53.41,-4.34,279,,amber\n\
             6602134,Nursery,Isle of Anglesey,GwE,nursery,,,LL77 7LZ,53.26,-4.36,,,\n"
        );
        let import = read_csv(text.as_bytes()).unwrap();
        assert_eq!(import.records(), 6);
        let ids: Vec<_> = import.schools().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["6602130", "6602134"]);
        let amlwch = &import.schools()[0];
        // The 2019 category is evidence, not a given stage.
        assert_eq!(amlwch.stage, None);
        assert_eq!(
            amlwch.evaluations,
            [Evaluation {
                framework: EvaluationFramework::WalesCategory,
                area: EvaluationArea::Overall,
                judgement: Judgement::Amber,
                date: CATEGORY_2019_DATE,
                source: "Welsh Government national school categorisation, 2019".into(),
            }]
        );
        assert_eq!(amlwch.language_medium, Some(LanguageMedium::Welsh));
        assert_eq!(amlwch.pupils, Some(279));
        assert_eq!(amlwch.context.fsm_percent, None);
        let nursery = &import.schools()[1];
        assert_eq!(
            (nursery.stage, nursery.language_medium, nursery.pupils),
            (None, None, None)
        );

        let lines: Vec<_> = import
            .rejections()
            .iter()
            .map(|r| (r.position, r.field.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, "latitude"),
                (4, "phase"),
                (5, "support_category_2019"),
                (6, "school_number")
            ]
        );
        assert!(import.rejections()[0].message.contains("no coordinates"));
        let bad = &import.rejections()[2].message;
        assert!(
            bad.contains("latitude: must be between -90 and 90, got 95"),
            "{bad}"
        );
        assert!(
            bad.contains("support_category_2019: unknown judgement \"purple\""),
            "{bad}"
        );
        assert!(
            bad.contains("language_medium: unknown language medium \"klingon\""),
            "{bad}"
        );
        assert!(import.rejections()[3].message.contains("first on line 2"));
    }

    #[test]
    fn optional_columns_and_missing_required_ones() {
        let text = "id,name,phase,latitude,longitude,strengths,needs,capacity,open,fsm_percent,family_id,trust_code,trust_name,diocese_code,diocese_name\n\
                    a1,Alpha,secondary,51.5,-3.2,literacy;numeracy,attendance,2,false,31.5,fam-x,15432,Severn Academies Trust,,\n\
                    a2,Beta,secondary,51.5,-3.2,astrology,,1.5,maybe,101,,,,,Diocese of Worcester\n";
        let import = read_csv(text.as_bytes()).unwrap();
        assert_eq!(import.schools().len(), 1);
        let alpha = &import.schools()[0];
        assert_eq!(alpha.strengths.len(), 2);
        assert!(alpha.needs.contains(FocusArea::Attendance));
        assert_eq!((alpha.capacity, alpha.open), (Some(2), false));
        assert_eq!(alpha.family_id.as_deref(), Some("fam-x"));
        assert_eq!(
            alpha.affiliations,
            Affiliations {
                trust: Some(Affiliation::new("15432", "Severn Academies Trust")),
                ..Affiliations::default()
            }
        );
        let message = &import.rejections()[0].message;
        for expected in [
            "diocese_code: is required when diocese_name is given",
            "strengths: unknown focus area",
            "capacity: must be a whole number",
            "open: expected true or false",
            "fsm_percent: must be between 0 and 100",
        ] {
            assert!(message.contains(expected), "{expected} in {message}");
        }

        let missing = read_csv("school_number,name,latitude,longitude\n".as_bytes()).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "line 1: the header has no phase column (required)"
        );
    }

    #[test]
    fn short_rows_are_reported() {
        let text = "id,name,phase,latitude,longitude\nx,Short,primary\n";
        let import = read_csv(text.as_bytes()).unwrap();
        assert_eq!(import.rejections()[0].position, 2);
        assert!(import.rejections()[0].message.contains("expected 5 fields"));
    }

    #[test]
    fn file_level_problems_are_named() {
        let error = |text: &str| read_csv(text.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            error("id,name,phase,latitude,longitude\n"),
            "the file has a header (line 1) but no rows of schools"
        );
        assert!(error("").contains("the file is empty"));
        assert_eq!(
            error("id,name,phase,Name,latitude,longitude\nx,a,primary,b,51,-3\n"),
            "line 1: the header has a name column twice (columns 2 and 4); which one holds the data?"
        );
    }

    #[test]
    fn counts_out_of_range_are_reported_as_written() {
        let text = "id,name,phase,latitude,longitude,pupils,capacity\n\
                    a1,Alpha,primary,51.5,-3.2,99999999999999999999,-1\n";
        let import = read_csv(text.as_bytes()).unwrap();
        let message = &import.rejections()[0].message;
        assert!(
            message.contains(
                "pupils: must be a whole number from 0 to 20000, got \"99999999999999999999\""
            ),
            "{message}"
        );
        assert!(message.contains("capacity: must be a whole number from 0 to 50, got \"-1\""));
        assert!(!message.contains("4294967295"), "{message}");
    }

    #[test]
    fn lines_are_named_rightly_in_files_that_end_lines_with_crlf() {
        let text = "id,name,phase,latitude,longitude\r\n\
                    a1,Alpha,primary,51.5,-3.2\r\n\
                    a2,\"Beta\",primary,,-3.2\r\n\
                    a3,Gamma,primary,51.5,-3.2\r\n\
                    a4,Delta,nowhere,51.5,-3.2\r\n";
        let import = read_csv(text.as_bytes()).unwrap();
        let lines: Vec<u64> = import.rejections().iter().map(|r| r.position).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn an_unterminated_quote_is_reported_where_it_starts() {
        let text = "id,name,phase,latitude,longitude\n\
                    a1,Alpha,primary,51.5,-3.2\n\
                    a2,\"Beta,primary,51.5,-3.2\n\
                    a3,Gamma,primary,51.5,-3.2\n\
                    a4,Delta,primary,51.5,-3.2\n";
        let import = read_csv(text.as_bytes()).unwrap();
        assert_eq!(import.schools().len(), 1);
        let rejected = &import.rejections()[0];
        assert_eq!(rejected.position, 3);
        assert!(rejected.message.contains("not closed"), "{rejected}");
        assert!(rejected.message.contains("line 6"), "{rejected}");
    }

    #[test]
    fn control_characters_in_names_are_refused() {
        let text = "id,name,phase,latitude,longitude\n\
                    a1,\"Ysgol \u{1b}[31mCoch\",primary,51.5,-3.2\n\
                    a2,Ysgol y Ddôl,primary,51.5,-3.2\n";
        let import = read_csv(text.as_bytes()).unwrap();
        assert_eq!(import.schools().len(), 1);
        assert_eq!(import.schools()[0].name, "Ysgol y Ddôl");
        assert!(
            import.rejections()[0]
                .message
                .contains("name: must not contain a control character")
        );
    }

    #[test]
    fn the_row_cap_holds() {
        let text = "id,name,phase,latitude,longitude\n\
                    a1,A,primary,51.5,-3.2\n\
                    a2,B,primary,51.5,-3.2\n";
        assert_eq!(
            read_csv_capped(text.as_bytes(), 2).unwrap().schools().len(),
            2
        );
        assert_eq!(
            read_csv_capped(text.as_bytes(), 1).unwrap_err().to_string(),
            "the file has more than 1 rows of schools, the most one import takes; split it into several files"
        );
    }

    #[test]
    fn evaluation_columns_give_one_inspection_per_row() {
        let text = "id,name,phase,latitude,longitude,evaluation_framework,evaluation_date,evaluation_source,leadership_and_governance,Attendance_And_Behaviour,safeguarding\n\
                    e1,Card,primary,51.5,-3.2,report card,2026-01-20,ofsted.gov.uk/1,strong standard,needs attention,met\n\
                    e2,Nothing,primary,51.5,-3.2,,,,,,\n\
                    e3,No Framework,primary,51.5,-3.2,,2026-01-20,,expected,,\n\
                    e4,Wrong Word,primary,51.5,-3.2,ofsted_legacy,2026-01-20,,,good,\n\
                    e5,Bad Date,primary,51.5,-3.2,local,20/01/2026,,expected,,\n\
                    e6,Typing Slip,primary,51.5,-3.2,local,1026-01-20,,expected,,\n";
        let import = read_csv(text.as_bytes()).unwrap();
        let ids: Vec<_> = import.schools().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"]);
        let card = &import.schools()[0].evaluations;
        assert_eq!(card.len(), 3);
        assert!(
            card.iter()
                .all(|e| e.framework == EvaluationFramework::OfstedReportCard
                    && e.date == jiff::civil::date(2026, 1, 20)
                    && e.source == "ofsted.gov.uk/1")
        );
        assert_eq!(
            card.iter()
                .map(|e| (e.area, e.judgement))
                .collect::<Vec<_>>(),
            [
                (
                    EvaluationArea::LeadershipAndGovernance,
                    Judgement::StrongStandard
                ),
                (
                    EvaluationArea::AttendanceAndBehaviour,
                    Judgement::NeedsAttention
                ),
                (EvaluationArea::Safeguarding, Judgement::Met),
            ],
            "in column order"
        );
        assert!(import.schools()[1].evaluations.is_empty());
        let fields: Vec<_> = import
            .rejections()
            .iter()
            .map(|r| (r.position, r.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (4, "evaluation_framework"),
                (5, "evaluations[0].area"),
                (6, "evaluation_date"),
                (7, "evaluation_date"),
            ]
        );
        let slip = &import.rejections()[3];
        assert!(
            slip.message.contains("between 1990-01-01 and 2199-12-31"),
            "{}",
            slip.message
        );
    }
}
