//! The `schools` table: one row per school, closed sets by name.

use rusqlite::{Row, Transaction, params};

use super::ReadError;

use std::collections::HashMap;

use crate::domain::{
    Affiliation, AffiliationKind, Affiliations, ContextMeasures, Evaluation, EvaluationArea,
    EvaluationFramework, FocusArea, FocusSet, GeoPoint, Judgement, LanguageMedium, Phase, School,
    SchoolId, Stage,
};

const COLUMNS: &str = "id, name, phase, stage, language_medium, latitude, longitude, \
     local_authority, consortium, pupils, fsm_percent, deprivation_percent, aln_percent, \
     eal_percent, family_id, strengths, needs, capacity, religious_character, open, \
     trust_code, trust_name, federation_code, federation_name, diocese_code, diocese_name";

pub(super) fn upsert(transaction: &Transaction<'_>, schools: &[&School]) -> rusqlite::Result<()> {
    let mut statement = transaction.prepare_cached(&super::upsert_sql("schools", COLUMNS))?;
    for school in schools {
        let body = |kind: AffiliationKind| school.affiliations.get(kind);
        let code = |kind| body(kind).map(|b| b.code.as_str());
        let name = |kind| body(kind).map(|b| b.name.as_str());
        use AffiliationKind::{Diocese, Federation, Trust};
        statement.execute(params![
            school.id.as_str(),
            school.name,
            school.phase.name(),
            school.stage.map(Stage::name),
            school.language_medium.map(LanguageMedium::name),
            school.location.latitude,
            school.location.longitude,
            school.local_authority,
            school.consortium,
            school.pupils,
            school.context.fsm_percent,
            school.context.deprivation_percent,
            school.context.aln_percent,
            school.context.eal_percent,
            school.family_id,
            focus_to_text(school.strengths),
            focus_to_text(school.needs),
            school.capacity,
            school.religious_character,
            school.open,
            code(Trust),
            name(Trust),
            code(Federation),
            name(Federation),
            code(Diocese),
            name(Diocese),
        ])?;
        write_evaluations(transaction, school)?;
    }
    Ok(())
}

/// Replaces the school's evaluations with its current ones.
fn write_evaluations(transaction: &Transaction<'_>, school: &School) -> rusqlite::Result<()> {
    transaction
        .prepare_cached("DELETE FROM evaluations WHERE school_id = ?1")?
        .execute([school.id.as_str()])?;
    let mut insert = transaction.prepare_cached(
        "INSERT INTO evaluations (school_id, position, framework, area, judgement, date, source) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (position, evaluation) in school.evaluations.iter().enumerate() {
        insert.execute(params![
            school.id.as_str(),
            position as i64,
            evaluation.framework.name(),
            evaluation.area.name(),
            evaluation.judgement.name(),
            evaluation.date.to_string(),
            evaluation.source,
        ])?;
    }
    Ok(())
}

pub(super) fn delete(transaction: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    transaction.execute("DELETE FROM evaluations WHERE school_id = ?1", [id])?;
    transaction.execute("DELETE FROM schools WHERE id = ?1", [id])?;
    Ok(())
}

/// Every school, in id order, each checked as the API would check it.
pub(super) fn read_all(connection: &rusqlite::Connection) -> Result<Vec<School>, ReadError> {
    let mut statement =
        connection.prepare(&format!("SELECT {COLUMNS} FROM schools ORDER BY id"))?;
    let mut rows = statement.query([])?;
    let mut evaluations = read_evaluations(connection)?;
    let mut schools = Vec::new();
    while let Some(row) = rows.next()? {
        let mut school = school_from_row(row)?;
        school.evaluations = evaluations.remove(school.id.as_str()).unwrap_or_default();
        ReadError::check("school", school.id.as_str(), school.validate())?;
        schools.push(school);
    }
    Ok(schools)
}

/// Every school's evaluations, in their order, by school id.
fn read_evaluations(
    connection: &rusqlite::Connection,
) -> Result<HashMap<String, Vec<Evaluation>>, ReadError> {
    let mut statement = connection.prepare(
        "SELECT school_id, framework, area, judgement, date, source FROM evaluations \
         ORDER BY school_id, position",
    )?;
    let mut rows = statement.query([])?;
    let mut evaluations: HashMap<String, Vec<Evaluation>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let school: String = row.get("school_id")?;
        let text = |column: &str| -> Result<String, ReadError> { Ok(row.get(column)?) };
        let invalid = |column: &str, value: &str| {
            ReadError::Invalid(format!(
                "evaluation of school {school:?}: {column} {value:?} is not valid"
            ))
        };
        let (framework, area, judgement, date) = (
            text("framework")?,
            text("area")?,
            text("judgement")?,
            text("date")?,
        );
        let evaluation = Evaluation {
            framework: EvaluationFramework::parse(&framework)
                .ok_or_else(|| invalid("framework", &framework))?,
            area: EvaluationArea::parse(&area).ok_or_else(|| invalid("area", &area))?,
            judgement: Judgement::parse(&judgement)
                .ok_or_else(|| invalid("judgement", &judgement))?,
            date: date.parse().map_err(|_| invalid("date", &date))?,
            source: row.get("source")?,
        };
        evaluations.entry(school).or_default().push(evaluation);
    }
    Ok(evaluations)
}

fn school_from_row(row: &Row<'_>) -> Result<School, ReadError> {
    let id: String = row.get("id")?;
    let invalid = |column: &str, value: &str| {
        ReadError::Invalid(format!("school {id:?}: {column} {value:?} is not valid"))
    };
    let school_id = SchoolId::parse(&id)
        .map_err(|problem| ReadError::Invalid(format!("school id {id:?} {problem}")))?;
    let phase: String = row.get("phase")?;
    let phase = Phase::parse(&phase).ok_or_else(|| invalid("phase", &phase))?;
    let stage = match row.get::<_, Option<String>>("stage")? {
        None => None,
        Some(text) => Some(Stage::parse(&text).ok_or_else(|| invalid("stage", &text))?),
    };
    let language_medium = match row.get::<_, Option<String>>("language_medium")? {
        None => None,
        Some(text) => {
            Some(LanguageMedium::parse(&text).ok_or_else(|| invalid("language_medium", &text))?)
        }
    };
    let focus = |column: &str| -> Result<FocusSet, ReadError> {
        let text: String = row.get(column)?;
        focus_from_text(&text).ok_or_else(|| invalid(column, &text))
    };
    Ok(School {
        name: row.get("name")?,
        phase,
        stage,
        language_medium,
        location: GeoPoint::new(row.get("latitude")?, row.get("longitude")?),
        local_authority: row.get("local_authority")?,
        consortium: row.get("consortium")?,
        pupils: row.get("pupils")?,
        context: ContextMeasures {
            fsm_percent: row.get("fsm_percent")?,
            deprivation_percent: row.get("deprivation_percent")?,
            aln_percent: row.get("aln_percent")?,
            eal_percent: row.get("eal_percent")?,
        },
        family_id: row.get("family_id")?,
        strengths: focus("strengths")?,
        needs: focus("needs")?,
        capacity: row.get("capacity")?,
        religious_character: row.get("religious_character")?,
        open: row.get("open")?,
        evaluations: Vec::new(),
        affiliations: affiliations_from_row(row)?,
        id: school_id,
    })
}

fn affiliations_from_row(row: &Row<'_>) -> rusqlite::Result<Affiliations> {
    let mut affiliations = Affiliations::default();
    for kind in AffiliationKind::ALL {
        let code: Option<String> = row.get(format!("{kind}_code").as_str())?;
        let name: Option<String> = row.get(format!("{kind}_name").as_str())?;
        *affiliations.get_mut(kind) =
            code.map(|code| Affiliation::new(code, name.unwrap_or_default()));
    }
    Ok(affiliations)
}

/// `literacy,numeracy`; empty for none.
pub(super) fn focus_to_text(set: FocusSet) -> String {
    set.iter()
        .map(FocusArea::name)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn focus_from_text(text: &str) -> Option<FocusSet> {
    text.split(',')
        .filter(|key| !key.is_empty())
        .map(FocusArea::parse)
        .collect()
}
