//! England's register of schools: the establishment file of Get Information
//! About Schools (GIAS, "edubasealldata…csv"), as the Department for
//! Education publishes it — Windows-1252 (a UTF-8 file with a byte-order
//! mark is read as UTF-8), about 140 columns, read by header name. One row
//! per establishment, open or closed, schools or not.
//!
//! What each column becomes (README "Bringing in real data"):
//! - `URN` → id; `EstablishmentName` → name;
//! - `EstablishmentStatus (name)` → open ("Open", "Open, but proposed to
//!   close"); closed and proposed schools are imported closed, or skipped
//!   with [`GiasOptions::open_only`];
//! - `TypeOfEstablishment (name)` and `PhaseOfEducation (name)` → phase:
//!   special schools by type, pupil referral units and alternative
//!   provision as PRU, then the phase (middle deemed primary → primary,
//!   middle deemed secondary and 16 plus → secondary, all-through → middle),
//!   and where the phase is "Not applicable" the statutory ages; colleges,
//!   universities, children's centres, online providers, schools abroad
//!   and Welsh establishments, and anything with neither phase nor ages,
//!   are skipped as not schools the engine matches;
//! - `Easting`, `Northing` (British National Grid) → latitude and longitude
//!   (WGS84, through OSTN15);
//! - `LA (name)` → local authority; `GOR (name)` → consortium (England's
//!   region stands where Wales has its regional consortia);
//! - `NumberOfPupils` → pupils; `PercentageFSM` → % free school meals;
//!   `SENStat` + `SENNoStat` over `NumberOfPupils` → % with special needs;
//! - `ReligiousCharacter (name)` → religious character ("None" and "Does
//!   not apply" are none);
//! - `Trusts (code)`/`(name)`, `Federations (code)`/`(name)` and
//!   `Diocese (code)`/`(name)` → the school's trust, federation and diocese
//!   (an empty code, `0000` or "Not applicable" is none);
//! - language medium: English.
//!
//! Nothing else is read: stage, strengths, needs, capacity, families and
//! evaluations are not in the register, and an import keeps what the
//! database holds for them ([`merge_register`]).

use std::collections::HashMap;
use std::path::Path;

use crate::domain::{
    Affiliation, AffiliationKind, Affiliations, ContextMeasures, GeoPoint, LanguageMedium, Phase,
    School, SchoolId, Violations, limits,
};

use super::csv_import::{Row, Rows, parse_count, parse_number, read_file};
use super::{CsvImportError, ImportBatch, RecordUnit};

/// The register's header row as published (140 columns), for fixtures and
/// [`register_sample`].
pub const GIAS_HEADER: &str = include_str!("gias_header.csv");

/// The columns the register import reads, all required in the header.
pub const GIAS_COLUMNS: [&str; 23] = [
    "URN",
    "EstablishmentName",
    "EstablishmentStatus (name)",
    "TypeOfEstablishment (name)",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "LA (name)",
    "GOR (name)",
    "NumberOfPupils",
    "PercentageFSM",
    "SENStat",
    "SENNoStat",
    "ReligiousCharacter (name)",
    "Trusts (code)",
    "Trusts (name)",
    "Federations (code)",
    "Federations (name)",
    "Diocese (code)",
    "Diocese (name)",
    "Easting",
    "Northing",
    "Postcode",
];

/// The register's columns for each kind of body a school belongs to.
fn affiliation_columns(kind: AffiliationKind) -> (&'static str, &'static str) {
    match kind {
        AffiliationKind::Trust => ("Trusts (code)", "Trusts (name)"),
        AffiliationKind::Federation => ("Federations (code)", "Federations (name)"),
        AffiliationKind::Diocese => ("Diocese (code)", "Diocese (name)"),
    }
}

/// How a register file is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GiasOptions {
    /// Skip establishments that are not open, rather than import them
    /// closed.
    pub open_only: bool,
}

/// A register file, read: the schools to import, with the rows left out
/// and why.
#[derive(Debug)]
pub struct GiasImport {
    /// Rows in the file, skipped ones included.
    pub rows: u64,
    pub batch: ImportBatch,
    /// Rows of establishments that are not open, skipped by
    /// [`GiasOptions::open_only`].
    pub skipped_not_open: u64,
    /// Rows of establishments that are not schools the engine matches
    /// (no phase of education and no statutory ages: colleges, children's
    /// centres, offices, …).
    pub skipped_not_schools: u64,
}

/// Reads a register file.
pub fn read_gias_path(
    path: impl AsRef<Path>,
    options: GiasOptions,
) -> Result<GiasImport, CsvImportError> {
    let bytes = read_file(path.as_ref())?;
    read_gias(&bytes, options)
}

/// Reads a register file's bytes: Windows-1252, or UTF-8 after a
/// byte-order mark.
pub fn read_gias(bytes: &[u8], options: GiasOptions) -> Result<GiasImport, CsvImportError> {
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    let (mut rows, header) = Rows::open(&text)?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (position, name) in header.iter().enumerate() {
        if let Some(first) = index.insert(name.trim(), position) {
            return Err(CsvImportError::DuplicateColumn {
                name: name.to_owned(),
                first: first + 1,
                second: position + 1,
            });
        }
    }
    let columns: Vec<usize> = GIAS_COLUMNS
        .iter()
        .map(|name| {
            index
                .get(name)
                .copied()
                .ok_or(CsvImportError::MissingColumn(name))
        })
        .collect::<Result<_, _>>()?;
    let mut import = GiasImport {
        rows: 0,
        batch: ImportBatch::new(RecordUnit::Line),
        skipped_not_open: 0,
        skipped_not_schools: 0,
    };
    while let Some(next) = rows.next_row()? {
        let (line, record) = match next {
            Row::Read { line, record } => (line, record),
            Row::Unreadable { line, message } => {
                import.batch.offer_unreadable(line, message);
                continue;
            }
        };
        if record.len() != header.len() {
            import.batch.offer_unreadable(
                line,
                format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    record.len()
                ),
            );
            continue;
        }
        let row = Register {
            record,
            columns: &columns,
        };
        match row.read(options) {
            Ok(school) => import.batch.offer(line, row.get("URN"), "URN", school),
            Err(Skip::NotOpen) => import.skipped_not_open += 1,
            Err(Skip::NotASchool) => import.skipped_not_schools += 1,
        }
    }
    if rows.read() == 0 {
        return Err(CsvImportError::NoRows);
    }
    import.rows = rows.read();
    Ok(import)
}

/// Words of the types of establishment that are not schools the engine
/// matches: colleges, universities, children's centres, online providers,
/// schools abroad, Welsh establishments (Wales has its own data), and the
/// register's miscellaneous entries.
const NOT_SCHOOLS: [&str; 9] = [
    "college",
    "further education",
    "higher education",
    "children's centre",
    "online provider",
    "overseas",
    "offshore",
    "welsh establishment",
    "miscellaneous",
];

/// Why a row is left out without being rejected.
enum Skip {
    NotOpen,
    NotASchool,
}

/// One row of the register.
struct Register<'a> {
    record: &'a csv::StringRecord,
    /// Positions of [`GIAS_COLUMNS`] in the record.
    columns: &'a [usize],
}

impl Register<'_> {
    fn get(&self, name: &str) -> &str {
        GIAS_COLUMNS
            .iter()
            .position(|column| *column == name)
            .and_then(|at| self.record.get(self.columns[at]))
            .unwrap_or("")
            .trim()
    }

    /// The row's school, or its violations; or why it is skipped.
    fn read(&self, options: GiasOptions) -> Result<Result<School, Violations>, Skip> {
        let open = matches!(
            self.get("EstablishmentStatus (name)"),
            "Open" | "Open, but proposed to close"
        );
        if options.open_only && !open {
            return Err(Skip::NotOpen);
        }
        let mut v = Violations::new();
        let Some(phase) = self.phase(&mut v) else {
            return if v.is_empty() {
                Err(Skip::NotASchool)
            } else {
                Ok(Err(v))
            };
        };
        Ok(self.school(v, phase, open))
    }

    /// The phase, from the type of establishment and the phase of
    /// education, else the statutory ages; `None` without either (a
    /// violation only if an age is unreadable).
    fn phase(&self, v: &mut Violations) -> Option<Phase> {
        let kind = self.get("TypeOfEstablishment (name)").to_lowercase();
        if NOT_SCHOOLS.iter().any(|word| kind.contains(word)) {
            return None;
        }
        if kind.contains("special") {
            return Some(Phase::Special);
        }
        if kind.contains("pupil referral") || kind.contains("alternative provision") {
            return Some(Phase::Pru);
        }
        match self.get("PhaseOfEducation (name)") {
            "Nursery" => return Some(Phase::Nursery),
            "Primary" | "Middle deemed primary" => return Some(Phase::Primary),
            "Secondary" | "Middle deemed secondary" | "16 plus" => return Some(Phase::Secondary),
            "All-through" => return Some(Phase::Middle),
            _ => {}
        }
        let low = parse_count(v, "StatutoryLowAge", self.get("StatutoryLowAge"), 25);
        let high = parse_count(v, "StatutoryHighAge", self.get("StatutoryHighAge"), 25);
        match (low?, high?) {
            (_, high) if high <= 5 => Some(Phase::Nursery),
            (_, high) if high <= 11 => Some(Phase::Primary),
            (low, _) if low >= 11 => Some(Phase::Secondary),
            _ => Some(Phase::Middle),
        }
    }

    fn school(&self, mut v: Violations, phase: Phase, open: bool) -> Result<School, Violations> {
        let id = SchoolId::parse(self.get("URN"))
            .map_err(|problem| v.push("URN", problem))
            .ok();
        let location = self.location(&mut v);
        let pupils = parse_count(
            &mut v,
            "NumberOfPupils",
            self.get("NumberOfPupils"),
            limits::PUPILS_MAX,
        );
        let fsm_percent = parse_number(&mut v, "PercentageFSM", self.get("PercentageFSM"));
        let with_plan = parse_count(&mut v, "SENStat", self.get("SENStat"), limits::PUPILS_MAX);
        let support = parse_count(
            &mut v,
            "SENNoStat",
            self.get("SENNoStat"),
            limits::PUPILS_MAX,
        );
        let aln_percent = match (with_plan, support, pupils) {
            (Some(plan), Some(support), Some(pupils)) if pupils > 0 => {
                Some((100.0 * f64::from(plan + support) / f64::from(pupils)).min(100.0))
            }
            _ => None,
        };
        let religious_character = match self.get("ReligiousCharacter (name)") {
            "None" | "Does not apply" => "",
            other => other,
        };
        let (Some(id), Some(location)) = (id, location) else {
            return Err(v);
        };
        let school = School {
            affiliations: self.affiliations(),
            id,
            name: self.get("EstablishmentName").to_owned(),
            phase,
            stage: None,
            language_medium: Some(LanguageMedium::English),
            location,
            local_authority: self.get("LA (name)").to_owned(),
            consortium: self.get("GOR (name)").to_owned(),
            pupils,
            context: ContextMeasures {
                fsm_percent,
                deprivation_percent: None,
                aln_percent,
                eal_percent: None,
            },
            family_id: None,
            strengths: Default::default(),
            needs: Default::default(),
            capacity: None,
            religious_character: religious_character.to_owned(),
            open,
            evaluations: Vec::new(),
        };
        // Whatever the register holds, the school must be valid as the API
        // would take it (names, ranges).
        v.extend(school.validate());
        if v.is_empty() { Ok(school) } else { Err(v) }
    }

    /// The trust, federation and diocese: none where the register says
    /// "Not applicable" (diocese code `0000`) or leaves the code empty.
    fn affiliations(&self) -> Affiliations {
        let mut affiliations = Affiliations::default();
        for kind in AffiliationKind::ALL {
            let (code_column, name_column) = affiliation_columns(kind);
            let code = self.get(code_column);
            let name = self.get(name_column);
            let none = |text: &str| text.is_empty() || text.eq_ignore_ascii_case("not applicable");
            if none(code) || code.bytes().all(|b| b == b'0') {
                continue;
            }
            let name = if none(name) { "" } else { name };
            *affiliations.get_mut(kind) = Some(Affiliation::new(code, name));
        }
        affiliations
    }

    /// WGS84 from the British National Grid easting and northing.
    fn location(&self, v: &mut Violations) -> Option<GeoPoint> {
        let (easting, northing) = (self.get("Easting"), self.get("Northing"));
        if easting.is_empty() || northing.is_empty() {
            v.push(
                if easting.is_empty() {
                    "Easting"
                } else {
                    "Northing"
                },
                format!(
                    "no grid reference (postcode {:?}): a school cannot be matched without a location, so the row is skipped",
                    self.get("Postcode")
                ),
            );
            return None;
        }
        let easting = parse_number(v, "Easting", easting)?;
        let northing = parse_number(v, "Northing", northing)?;
        match british_grid_to_wgs84(easting, northing) {
            Some(point) => Some(point),
            None => {
                v.push(
                    "Easting",
                    format!(
                        "easting {easting} and northing {northing} are outside the British National Grid's transformation (OSTN15)"
                    ),
                );
                None
            }
        }
    }
}

/// WGS84 latitude and longitude of a British National Grid (OSGB36)
/// easting and northing, through the OSTN15 transformation; `None`
/// outside its coverage.
pub fn british_grid_to_wgs84(easting: f64, northing: f64) -> Option<GeoPoint> {
    let (longitude, latitude) = lonlat_bng::convert_osgb36_to_ll(easting, northing).ok()?;
    (latitude.is_finite() && longitude.is_finite()).then(|| GeoPoint::new(latitude, longitude))
}

/// A register-sized file for benchmarks and tests: `rows` establishments
/// with the real header, in Windows-1252 with CRLF line ends, about half of
/// them open schools, the rest closed schools and establishments that are
/// not schools (children's centres, colleges), spread over England's grid.
/// The same seed gives the same file.
pub fn register_sample(rows: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let columns: Vec<&str> = GIAS_HEADER.trim_end().split(',').collect();
    let at = |name: &str| {
        columns
            .iter()
            .position(|column| *column == name)
            .expect("a column of the header")
    };
    let mut text = GIAS_HEADER.trim_end().to_owned();
    text.push_str("\r\n");
    let mut fields = vec![String::new(); columns.len()];
    for row in 0..rows {
        fields.iter_mut().for_each(String::clear);
        let (kind, phase) = match rng.random_range(0..20) {
            0..=9 => ("Community school", "Primary"),
            10 | 11 => ("Academy converter", "Secondary"),
            12 => ("Community special school", "Not applicable"),
            13 => ("Pupil referral unit", "Not applicable"),
            14 => ("Voluntary aided school", "Primary"),
            15 => ("Other independent school", "Not applicable"),
            16 => ("Children's centre", "Not applicable"),
            17 => ("Further education", "16 plus"),
            _ => ("Academy sponsor led", "All-through"),
        };
        let status = if rng.random_bool(0.52) {
            "Open"
        } else {
            "Closed"
        };
        let pupils: u32 = rng.random_range(40..1600);
        let set = |fields: &mut Vec<String>, name: &str, value: String| fields[at(name)] = value;
        set(&mut fields, "URN", (100_000 + row).to_string());
        set(
            &mut fields,
            "EstablishmentName",
            format!("Ysgol Sainte-Thérèse {row}"),
        );
        set(&mut fields, "EstablishmentStatus (name)", status.to_owned());
        set(&mut fields, "TypeOfEstablishment (name)", kind.to_owned());
        set(&mut fields, "PhaseOfEducation (name)", phase.to_owned());
        if phase == "Not applicable" && kind != "Children's centre" {
            set(&mut fields, "StatutoryLowAge", "3".to_owned());
            set(&mut fields, "StatutoryHighAge", "18".to_owned());
        }
        set(&mut fields, "LA (name)", format!("Authority {}", row % 150));
        set(&mut fields, "GOR (name)", format!("Region {}", row % 9));
        set(&mut fields, "NumberOfPupils", pupils.to_string());
        set(
            &mut fields,
            "PercentageFSM",
            format!("{:.1}", rng.random_range(2.0..60.0)),
        );
        set(&mut fields, "SENStat", (pupils / 40).to_string());
        set(&mut fields, "SENNoStat", (pupils / 8).to_string());
        set(
            &mut fields,
            "ReligiousCharacter (name)",
            if kind == "Voluntary aided school" {
                "Church of England"
            } else {
                "Does not apply"
            }
            .to_owned(),
        );
        // About 600 trusts of academies, 40 dioceses of church schools,
        // and small primaries federated in pairs.
        if kind.starts_with("Academy") {
            let trust = rng.random_range(0..600);
            set(&mut fields, "Trusts (code)", (10_000 + trust).to_string());
            set(&mut fields, "Trusts (name)", format!("Trust {trust}"));
        }
        if kind == "Voluntary aided school" {
            let diocese = row % 40;
            set(&mut fields, "Diocese (code)", format!("CE{diocese:02}"));
            set(
                &mut fields,
                "Diocese (name)",
                format!("Diocese of Place {diocese}"),
            );
        } else {
            set(&mut fields, "Diocese (code)", "0000".to_owned());
            set(&mut fields, "Diocese (name)", "Not applicable".to_owned());
        }
        if phase == "Primary" && pupils < 120 {
            set(
                &mut fields,
                "Federations (code)",
                format!("F{:05}", row / 2),
            );
            set(
                &mut fields,
                "Federations (name)",
                format!("Federation {}", row / 2),
            );
        }
        set(
            &mut fields,
            "Easting",
            rng.random_range(340_000..650_000).to_string(),
        );
        set(
            &mut fields,
            "Northing",
            rng.random_range(90_000..560_000).to_string(),
        );
        set(&mut fields, "Postcode", format!("ZZ{} 1AA", row % 99));
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            text.push_str(field);
            text.push('"');
        }
        text.push_str("\r\n");
    }
    encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
}

/// A register record merged into the stored school of the same id: the
/// register's fields from `incoming`, and from `stored` what the register
/// does not hold — stage, strengths, needs, capacity, family, evaluations,
/// deprivation and EAL figures, and a language medium already recorded.
pub fn merge_register(stored: &School, incoming: School) -> School {
    School {
        stage: stored.stage,
        language_medium: stored.language_medium.or(incoming.language_medium),
        context: ContextMeasures {
            deprivation_percent: stored.context.deprivation_percent,
            eal_percent: stored.context.eal_percent,
            ..incoming.context
        },
        family_id: stored.family_id.clone(),
        strengths: stored.strengths,
        needs: stored.needs,
        capacity: stored.capacity,
        evaluations: stored.evaluations.clone(),
        ..incoming
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Stage;

    const HEADER: &str = GIAS_HEADER;

    /// A register file in Windows-1252: the header, then one row per list
    /// of (column, value), other columns empty.
    fn register(rows: &[&[(&str, &str)]]) -> Vec<u8> {
        let columns: Vec<&str> = HEADER.trim_end().split(',').collect();
        let mut text = HEADER.to_owned();
        for row in rows {
            let fields: Vec<String> = columns
                .iter()
                .map(|column| {
                    let value = row
                        .iter()
                        .find(|(name, _)| name == column)
                        .map_or("", |(_, value)| *value);
                    format!("\"{value}\"")
                })
                .collect();
            text.push_str(&fields.join(","));
            text.push_str("\r\n");
        }
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
        assert!(!unmappable, "fixture text fits Windows-1252");
        bytes.into_owned()
    }

    fn row<'a>(
        urn: &'a str,
        name: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut fields = vec![
            ("URN", urn),
            ("EstablishmentName", name),
            ("EstablishmentStatus (name)", "Open"),
            ("TypeOfEstablishment (name)", "Community school"),
            ("PhaseOfEducation (name)", "Primary"),
            ("LA (name)", "Worcestershire"),
            ("GOR (name)", "West Midlands"),
            ("Easting", "385000"),
            ("Northing", "255000"),
            ("Postcode", "WR1 1AA"),
        ];
        for (column, value) in extra {
            fields.retain(|(name, _)| name != column);
            fields.push((column, value));
        }
        fields
    }

    #[test]
    fn grid_references_convert_to_wgs84_through_ostn15() {
        // Ordnance Survey's test point at Caister Water Tower, within 1e-6
        // degrees (a few centimetres).
        let caister = british_grid_to_wgs84(651_409.792, 313_177.448).expect("in Great Britain");
        assert!(
            (caister.latitude - 52.658_007_833).abs() < 1e-6,
            "{caister:?}"
        );
        assert!(
            (caister.longitude - 1.716_073_973).abs() < 1e-6,
            "{caister:?}"
        );
        // The Royal Observatory, Greenwich, on the prime meridian.
        let greenwich = british_grid_to_wgs84(538_874.0, 177_344.0).expect("in Great Britain");
        assert!((greenwich.latitude - 51.4779).abs() < 2e-4, "{greenwich:?}");
        assert!(greenwich.longitude.abs() < 3e-3, "{greenwich:?}");
        assert_eq!(british_grid_to_wgs84(-5_000_000.0, 9_000_000.0), None);
    }

    #[test]
    fn a_register_file_becomes_schools_by_header_name() {
        let bytes = register(&[
            &row(
                "100001",
                "St Thomas à Becket Primary — Brontë Federation",
                &[
                    ("NumberOfPupils", "200"),
                    ("PercentageFSM", "23.5"),
                    ("SENStat", "6"),
                    ("SENNoStat", "24"),
                    ("ReligiousCharacter (name)", "Roman Catholic"),
                    ("Diocese (code)", "RC03"),
                    ("Diocese (name)", "Archdiocese of Birmingham"),
                    ("Trusts (code)", "15432"),
                    ("Trusts (name)", "St Teilo's Catholic Academy Trust"),
                    ("Federations (code)", "F123"),
                    ("Federations (name)", "Not applicable"),
                ],
            ),
            &row(
                "100002",
                "Old Secondary",
                &[
                    ("EstablishmentStatus (name)", "Closed"),
                    ("PhaseOfEducation (name)", "Secondary"),
                    ("ReligiousCharacter (name)", "Does not apply"),
                    ("Diocese (code)", "0000"),
                    ("Diocese (name)", "Not applicable"),
                    ("Federations (code)", "Not applicable"),
                ],
            ),
            &row(
                "100003",
                "Hill Special",
                &[
                    ("TypeOfEstablishment (name)", "Community special school"),
                    ("PhaseOfEducation (name)", "Not applicable"),
                ],
            ),
            &row(
                "100004",
                "Town Pupil Referral Unit",
                &[("TypeOfEstablishment (name)", "Pupil referral unit")],
            ),
            &row(
                "100005",
                "Independent All-Age",
                &[
                    ("TypeOfEstablishment (name)", "Other independent school"),
                    ("PhaseOfEducation (name)", "Not applicable"),
                    ("StatutoryLowAge", "3"),
                    ("StatutoryHighAge", "18"),
                ],
            ),
            &row(
                "100006",
                "Children's Centre",
                &[
                    ("TypeOfEstablishment (name)", "Children's centre"),
                    ("PhaseOfEducation (name)", "Not applicable"),
                ],
            ),
            &row("100007", "No Grid Reference", &[("Easting", "")]),
            &row("100008", "Bad Pupils", &[("NumberOfPupils", "many")]),
        ]);
        let import = read_gias(&bytes, GiasOptions::default()).expect("readable");
        let schools = import.batch.schools();
        let ids: Vec<&str> = schools.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["100001", "100002", "100003", "100004", "100005"]);
        let first = &schools[0];
        assert_eq!(first.name, "St Thomas à Becket Primary — Brontë Federation");
        assert_eq!(first.phase, Phase::Primary);
        assert!(first.open);
        assert_eq!(first.pupils, Some(200));
        assert_eq!(first.context.fsm_percent, Some(23.5));
        assert_eq!(first.context.aln_percent, Some(15.0), "(6 + 24) / 200");
        assert_eq!(first.religious_character, "Roman Catholic");
        fn body(school: &School, kind: AffiliationKind) -> Option<(&str, &str)> {
            school
                .affiliations
                .get(kind)
                .map(|b| (b.code.as_str(), b.name.as_str()))
        }
        assert_eq!(
            body(first, AffiliationKind::Trust),
            Some(("15432", "St Teilo's Catholic Academy Trust"))
        );
        assert_eq!(
            body(first, AffiliationKind::Diocese),
            Some(("RC03", "Archdiocese of Birmingham"))
        );
        assert_eq!(body(first, AffiliationKind::Federation), Some(("F123", "")));
        assert_eq!(schools[1].affiliations, Affiliations::default());
        assert_eq!(first.local_authority, "Worcestershire");
        assert_eq!(first.consortium, "West Midlands");
        assert_eq!(first.language_medium, Some(LanguageMedium::English));
        // Near Worcester.
        assert!(
            (first.location.latitude - 52.19).abs() < 0.05,
            "{:?}",
            first.location
        );
        assert!(
            (first.location.longitude + 2.22).abs() < 0.05,
            "{:?}",
            first.location
        );
        assert!(!schools[1].open, "closed schools are imported closed");
        assert_eq!(schools[1].phase, Phase::Secondary);
        assert_eq!(schools[1].religious_character, "");
        assert_eq!(schools[2].phase, Phase::Special);
        assert_eq!(schools[3].phase, Phase::Pru);
        assert_eq!(schools[4].phase, Phase::Middle, "ages 3–18");
        assert_eq!(import.skipped_not_schools, 1);
        assert_eq!(import.skipped_not_open, 0);
        let rejections: Vec<(u64, &str)> = import
            .batch
            .rejections()
            .iter()
            .map(|r| (r.position, r.field.as_str()))
            .collect();
        assert_eq!(rejections, [(8, "Easting"), (9, "NumberOfPupils")]);
        assert!(
            import.batch.rejections()[0].message.contains("WR1 1AA"),
            "{}",
            import.batch.rejections()[0].message
        );

        let open_only = read_gias(&bytes, GiasOptions { open_only: true }).expect("readable");
        assert_eq!(open_only.skipped_not_open, 1);
        assert!(open_only.batch.schools().iter().all(|s| s.open));
    }

    #[test]
    fn a_header_without_a_needed_column_is_refused_by_name() {
        let text = "URN,EstablishmentName\n100001,A School\n";
        let error = read_gias(text.as_bytes(), GiasOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: the header has no EstablishmentStatus (name) column (required)"
        );
    }

    #[test]
    fn merging_keeps_what_the_register_does_not_hold() {
        let bytes = register(&[&row(
            "100001",
            "Renamed Primary",
            &[("PercentageFSM", "30")],
        )]);
        let incoming = read_gias(&bytes, GiasOptions::default())
            .expect("readable")
            .batch
            .into_schools()
            .remove(0);
        let mut stored = School::plain("100001");
        stored.stage = Some(Stage::Amber);
        stored.capacity = Some(2);
        stored.context.eal_percent = Some(12.0);
        stored.context.fsm_percent = Some(10.0);
        stored.evaluations = vec![crate::domain::Evaluation {
            framework: crate::domain::EvaluationFramework::Local,
            area: crate::domain::EvaluationArea::Overall,
            judgement: crate::domain::Judgement::NeedsAttention,
            date: jiff::civil::date(2026, 3, 1),
            source: String::new(),
        }];
        let merged = merge_register(&stored, incoming);
        assert_eq!(merged.name, "Renamed Primary");
        assert_eq!(merged.context.fsm_percent, Some(30.0), "the register's");
        assert_eq!(merged.context.eal_percent, Some(12.0), "kept");
        assert_eq!(merged.stage, Some(Stage::Amber));
        assert_eq!(merged.capacity, Some(2));
        assert_eq!(merged.evaluations, stored.evaluations);
    }

    #[test]
    fn the_register_sample_reads_back_whole() {
        let bytes = register_sample(2_000, 7);
        assert_eq!(
            bytes,
            register_sample(2_000, 7),
            "the same seed, the same file"
        );
        let import = read_gias(&bytes, GiasOptions::default()).expect("readable");
        assert_eq!(
            import.batch.rejected(),
            0,
            "{:?}",
            import.batch.rejections()
        );
        let schools = import.batch.schools();
        assert_eq!(
            schools.len() as u64 + import.skipped_not_schools,
            2_000,
            "every row a school or skipped as not one"
        );
        let open = schools.iter().filter(|s| s.open).count();
        assert!((800..1_100).contains(&open), "about half open: {open}");
        let open_only = read_gias(&bytes, GiasOptions { open_only: true }).expect("readable");
        assert_eq!(open_only.batch.schools().len(), open);
    }
}
