//! `partnermatch import`, as a user runs it: England's register (GIAS) in
//! its own encoding and header, merged into a database that already holds
//! evidence, then served.

use std::path::{Path, PathBuf};
use std::process::Output;

use partnermatch::pb;

use crate::support::process::{binary, start_on, stored_school, stored_school_as};

/// The register's real header row (140 columns).
fn register_header() -> Vec<String> {
    partnermatch_core::dataset::GIAS_HEADER
        .trim_end()
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Writes a register file in Windows-1252 with CRLF line ends, as the
/// Department for Education publishes it: one row per list of (column,
/// value), other columns empty.
fn write_register(path: &Path, rows: &[Vec<(&str, &str)>]) {
    let header = register_header();
    let mut bytes: Vec<u8> = Vec::new();
    let mut line = |fields: Vec<String>| {
        let text = fields.join(",") + "\r\n";
        // Every character here is in Latin-1, which Windows-1252 extends.
        bytes.extend(
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).expect("Latin-1")),
        );
    };
    line(header.clone());
    for row in rows {
        line(
            header
                .iter()
                .map(|column| {
                    let value = row
                        .iter()
                        .find(|(name, _)| name == column)
                        .map_or("", |(_, v)| *v);
                    format!("\"{value}\"")
                })
                .collect(),
        );
    }
    std::fs::write(path, bytes).expect("write the register");
}

fn establishment<'a>(
    urn: &'a str,
    name: &'a str,
    easting: &'a str,
    northing: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("URN", urn),
        ("EstablishmentName", name),
        ("EstablishmentStatus (name)", "Open"),
        ("TypeOfEstablishment (name)", "Voluntary aided school"),
        ("PhaseOfEducation (name)", "Primary"),
        ("LA (name)", "Worcestershire"),
        ("GOR (name)", "West Midlands"),
        ("NumberOfPupils", "210"),
        ("PercentageFSM", "18.1"),
        ("ReligiousCharacter (name)", "Church of England"),
        ("Easting", easting),
        ("Northing", northing),
        ("Postcode", "WR1 1AA"),
    ]
}

fn import(kind: &str, file: &Path, db: &Path) -> Output {
    let output = binary()
        .args(["import", kind])
        .arg(file)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

/// A database in `dir` into which the project's CSV `schools` was
/// imported (asserted to succeed), and what the import printed.
fn database_of(dir: &Path, schools: &str) -> (PathBuf, Output) {
    let (file, db) = (dir.join("own.csv"), dir.join("partnermatch.db"));
    std::fs::write(&file, schools).unwrap();
    let output = import("schools", &file, &db);
    assert!(output.status.success(), "{output:?}");
    (db, output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_register_import_merges_into_stored_evidence_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    // The database already holds one of the schools, with a local
    // judgement and a capacity the register knows nothing of.
    let (db, output) = database_of(
        dir.path(),
        "id,name,phase,latitude,longitude,capacity,evaluation_framework,evaluation_date,overall\n\
         116789,Old Name,primary,52.2,-2.2,2,local,2026-03-01,needs attention\n",
    );
    assert!(stdout(&output).contains("created 1"), "{}", stdout(&output));

    let register = dir.path().join("edubasealldata20261129.csv");
    let mut closed = establishment("100002", "Brontë Closed School", "385500", "255500");
    closed.retain(|(column, _)| *column != "EstablishmentStatus (name)");
    closed.push(("EstablishmentStatus (name)", "Closed"));
    write_register(
        &register,
        &[
            establishment(
                "116789",
                "St Thomas à Becket CE Primary",
                "385000",
                "255000",
            ),
            closed,
            establishment("100003", "Nowhere School", "", ""),
        ],
    );
    let output = import("gias", &register, &db);
    assert!(output.status.success(), "{output:?}");
    let out = stdout(&output);
    assert!(
        out.contains("3 rows; created 1, updated 1, unchanged 0, rejected 1"),
        "{out}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 4 (school 100003): Easting: no grid reference"),
        "{stderr}"
    );

    // The same file again changes nothing.
    let again = stdout(&import("gias", &register, &db));
    assert!(
        again.contains("created 0, updated 0, unchanged 2, rejected 1"),
        "{again}"
    );

    let server = start_on(&db, &[]);
    let school = stored_school(&server.address, "116789").await;
    assert_eq!(
        school.name, "St Thomas à Becket CE Primary",
        "decoded from Windows-1252"
    );
    assert_eq!(school.religious_character, "Church of England");
    assert_eq!(school.fsm_percent, Some(18.1));
    assert_eq!(
        school.evaluations.len(),
        1,
        "the register keeps the stored evaluations"
    );
    assert_eq!(school.capacity, Some(2), "and the stored capacity");
    let (latitude, longitude) = (school.latitude.unwrap(), school.longitude.unwrap());
    // Easting 385000, northing 255000: just west of Worcester.
    assert!((latitude - 52.196).abs() < 0.01, "{latitude}");
    assert!((longitude + 2.219).abs() < 0.01, "{longitude}");
    let closed = stored_school(&server.address, "100002").await;
    assert_eq!(closed.name, "Brontë Closed School");
    assert_eq!(
        closed.open,
        Some(false),
        "closed establishments are imported closed"
    );
}

#[test]
fn an_import_into_memory_or_of_a_headerless_register_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("register.csv");
    std::fs::write(&file, "URN,EstablishmentName\r\n100001,A School\r\n").unwrap();
    let output = import("gias", &file, Path::new(":memory:"));
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--db :memory: would keep nothing"),
        "{output:?}"
    );
    let db = dir.path().join("partnermatch.db");
    let output = import("gias", &file, &db);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the header has no EstablishmentStatus (name) column"),
        "{stderr}"
    );
    assert!(!db.exists(), "a bad file touches no database");
}

#[tokio::test]
async fn free_school_meals_from_statswales_go_to_the_schools_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = database_of(
        dir.path(),
        "id,name,phase,latitude,longitude,fsm_percent\n\
         6692006,Y Tymbl,primary,51.78,-4.11,\n\
         6692014,Peniel,primary,51.89,-4.26,12.5\n",
    );
    let fsm = dir.path().join("fsm.csv");
    std::fs::write(
        &fsm,
        "\u{feff}Data values,Data description,School,Category\n\
         18.9,Percentage of pupils,6692006 - Y TYMBL,Eligible for free school meals\n\
         29.5,Percentage of pupils,6692006 - Y TYMBL,Eligible for free school meals or transitionally protected\n\
         [c],Percentage of pupils,6692014 - PENIEL,Eligible for free school meals\n\
         11.3,Percentage of pupils,6692007 - GORSLAS,Eligible for free school meals\n",
    )
    .unwrap();
    let output = import("statswales-fsm", &fsm, &db);
    assert!(output.status.success(), "{output:?}");
    let out = stdout(&output);
    assert!(
        out.contains(
            "4 rows, 3 schools; updated 2, unchanged 0, not in the database 1, rejected 0"
        ),
        "{out}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 5 (school 6692007): not in the database"),
        "{stderr}"
    );

    let server = start_on(&db, &[]);
    let fsm_of = async |id: &str| stored_school(&server.address, id).await.fsm_percent;
    assert_eq!(fsm_of("6692006").await, Some(18.9));
    assert_eq!(fsm_of("6692014").await, None, "suppressed: unknown");
    let school = stored_school(&server.address, "6692006").await;
    assert!(
        school.challenge_index.is_some(),
        "the figure feeds the challenge index"
    );
}

#[tokio::test]
async fn ofsted_outcomes_become_evidence_of_the_schools_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = database_of(
        dir.path(),
        "id,name,phase,latitude,longitude\n\
         100001,Report Card Primary,primary,52.2,-2.2\n\
         100002,Legacy Primary,primary,52.3,-2.3\n",
    );
    let outcomes = dir.path().join("outcomes.csv");
    std::fs::write(
        &outcomes,
        "URN,Grade date,Overall effectiveness,Safeguarding is effective?,Achievement,Attendance and behaviour,Leadership and governance\n\
         100001,2026-01-20,,Yes,Needs attention,Strong standard,Expected standard\n\
         100002,14/05/2023,2,Yes,,,\n\
         100009,14/05/2023,2,Yes,,,\n\
         100001,14/05/2023,2,Yes,,,\n",
    )
    .unwrap();
    let columns = dir.path().join("columns.toml");
    std::fs::write(&columns, "date = \"Grade date\"\n").unwrap();
    let run = || {
        binary()
            .args(["import", "ofsted"])
            .arg(&outcomes)
            .arg("--db")
            .arg(&db)
            .arg("--columns")
            .arg(&columns)
            .output()
            .expect("run the binary")
    };
    let output = run();
    assert!(output.status.success(), "{output:?}");
    let out = stdout(&output);
    assert!(
        out.contains(
            "4 rows, 3 schools; updated 2, unchanged 0, not in the database 1, rejected 0"
        ),
        "{out}"
    );
    let again = stdout(&run());
    assert!(again.contains("updated 0, unchanged 2"), "{again}");

    let server = start_on(&db, &[]);
    let school = stored_school(&server.address, "100001").await;
    assert_eq!(
        school.evaluations.len(),
        6,
        "both inspections of one school in one file are kept: {:?}",
        school.evaluations
    );
    let evidence = school.evidence.expect("derived evidence");
    assert_eq!(
        evidence.stage,
        pb::Stage::Amber as i32,
        "achievement needs attention: {}",
        evidence.stage_reason
    );
}

/// `import KIND FILE --target ADDR` with the running process as it would be
/// into its database: the register merged (evaluations kept), outcomes and
/// free school meals into stored schools (one not stored, reported by
/// line), the same files again unchanged, and a reader's token refused
/// with nothing applied.
#[tokio::test]
async fn imports_reach_a_running_server_through_import_schools() {
    use partnermatch::Role;
    let dir = tempfile::tempdir().unwrap();
    let (writer, writer_line) = partnermatch::new_token(Role::Writer);
    let (reader, reader_line) = partnermatch::new_token(Role::Reader);
    let server = start_on(
        &dir.path().join("served.db"),
        &["--token", &writer_line, "--token", &reader_line],
    );
    let unused = dir.path().join("unused.db");
    let send = |kind: &str, file: &Path, token: &str| {
        let output = binary()
            .args(["import", kind])
            .arg(file)
            .args(["--target", &server.address, "--token", token])
            // Set for other commands; --target leaves it alone.
            .env("PARTNERMATCH_DB", &unused)
            .output()
            .expect("run the binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        output
    };

    let own = dir.path().join("own.csv");
    std::fs::write(
        &own,
        "id,name,phase,latitude,longitude,capacity,trust_code,trust_name,evaluation_framework,evaluation_date,overall\n\
         116789,Old Name,primary,52.2,-2.2,2,999,Old Trust,local,2026-03-01,needs attention\n",
    )
    .unwrap();
    let output = send("schools", &own, &writer);
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("PARTNERMATCH_DB) is not used with --target"),
        "{output:?}"
    );
    assert!(stdout(&output).contains("1 rows; created 1"), "{output:?}");

    let register = dir.path().join("edubasealldata.csv");
    let mut row = establishment(
        "116789",
        "St Thomas à Becket CE Primary",
        "385000",
        "255000",
    );
    row.extend([
        ("Trusts (code)", "15432"),
        ("Trusts (name)", "Severn Academies Trust"),
        ("Diocese (code)", "CE28"),
        ("Diocese (name)", "Diocese of Worcester"),
    ]);
    write_register(
        &register,
        &[
            row,
            establishment("100002", "Brontë Primary", "385500", "255500"),
        ],
    );
    let output = send("gias", &register, &reader);
    assert!(!output.status.success(), "a reader may not import");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused the import (PermissionDenied)"),
        "{stderr}"
    );
    assert_eq!(
        stored_school_as(&server.address, "116789", Some(&reader))
            .await
            .name,
        "Old Name"
    );

    let output = send("gias", &register, &writer);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("2 rows; created 1, updated 1, unchanged 0, rejected 0"),
        "{}",
        stdout(&output)
    );
    let again = stdout(&send("gias", &register, &writer));
    assert!(again.contains("updated 0, unchanged 2"), "{again}");
    let school = stored_school_as(&server.address, "116789", Some(&reader)).await;
    assert_eq!(school.name, "St Thomas à Becket CE Primary");
    assert_eq!(
        school.trust.unwrap().name,
        "Severn Academies Trust",
        "the register's trust"
    );
    assert_eq!(school.diocese.unwrap().code, "CE28");
    assert_eq!(school.capacity, Some(2), "the stored capacity is kept");
    assert_eq!(school.evaluations.len(), 1, "and the stored evaluation");

    let outcomes = dir.path().join("outcomes.csv");
    std::fs::write(
        &outcomes,
        "URN,Inspection start date,Overall effectiveness,Safeguarding is effective?,Achievement\n\
         116789,2026-01-20,,Yes,Needs attention\n\
         100009,14/05/2023,2,Yes,\n",
    )
    .unwrap();
    let output = send("ofsted", &outcomes, &writer);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output)
            .contains("2 rows, 2 schools; updated 1, unchanged 0, not in the server 1, rejected 0"),
        "{}",
        stdout(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3 (school 100009): not in the server"),
        "{stderr}"
    );
    let school = stored_school_as(&server.address, "116789", Some(&reader)).await;
    assert_eq!(school.evaluations.len(), 3, "{:?}", school.evaluations);
    assert_eq!(
        school.name, "St Thomas à Becket CE Primary",
        "the rest is kept"
    );

    let fsm = dir.path().join("fsm.csv");
    std::fs::write(
        &fsm,
        "Data values,Data description,School,Category\n\
         31.5,Percentage of pupils,100002 - BRONTE PRIMARY,Eligible for free school meals\n",
    )
    .unwrap();
    let output = send("statswales-fsm", &fsm, &writer);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stored_school_as(&server.address, "100002", Some(&reader))
            .await
            .fsm_percent,
        Some(31.5)
    );

    assert!(!unused.exists(), "--target opens no database");

    // The files again: nothing changes. (The register again would set
    // 100002's free school meals back to its own figure: each file is the
    // authority for what it holds.)
    for (kind, file) in [("ofsted", &outcomes), ("statswales-fsm", &fsm)] {
        let again = stdout(&send(kind, file, &writer));
        assert!(again.contains("updated 0, unchanged"), "{kind}: {again}");
    }
}
