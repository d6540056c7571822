//! The `schools` table: one row per school, closed sets by name.

use std::collections::HashMap;

use crate::domain::{
    Affiliation, AffiliationKind, Affiliations, ContextMeasures, Evaluation, EvaluationArea,
    EvaluationFramework, FocusArea, FocusSet, GeoPoint, Judgement, LanguageMedium, Phase, School,
    SchoolId, Stage,
};
use crate::sql::{ReadError, Row, RowExt, Sql, SqlError, Value, upsert_sql};

const COLUMNS: &str = "id, name, phase, stage, language_medium, latitude, longitude, \
     local_authority, consortium, pupils, fsm_percent, deprivation_percent, aln_percent, \
     eal_percent, family_id, strengths, needs, capacity, religious_character, open, \
     trust_code, trust_name, federation_code, federation_name, diocese_code, diocese_name";

pub(crate) fn upsert(sql: &mut dyn Sql, schools: &[&School]) -> Result<(), SqlError> {
    let statement = upsert_sql("schools", COLUMNS);
    for school in schools {
        let body = |kind: AffiliationKind| school.affiliations.get(kind);
        let code = |kind| Value::from(body(kind).map(|b| b.code.as_str()));
        let name = |kind| Value::from(body(kind).map(|b| b.name.as_str()));
        use AffiliationKind::{Diocese, Federation, Trust};
        sql.execute(
            &statement,
            &[
                school.id.as_str().into(),
                school.name.as_str().into(),
                school.phase.name().into(),
                school.stage.map(Stage::name).into(),
                school.language_medium.map(LanguageMedium::name).into(),
                school.location.latitude.into(),
                school.location.longitude.into(),
                school.local_authority.as_str().into(),
                school.consortium.as_str().into(),
                school.pupils.into(),
                school.context.fsm_percent.into(),
                school.context.deprivation_percent.into(),
                school.context.aln_percent.into(),
                school.context.eal_percent.into(),
                school.family_id.as_deref().into(),
                focus_to_text(school.strengths).into(),
                focus_to_text(school.needs).into(),
                school.capacity.into(),
                school.religious_character.as_str().into(),
                school.open.into(),
                code(Trust),
                name(Trust),
                code(Federation),
                name(Federation),
                code(Diocese),
                name(Diocese),
            ],
        )?;
        write_evaluations(sql, school)?;
    }
    Ok(())
}

/// Replaces the school's evaluations with its current ones.
fn write_evaluations(sql: &mut dyn Sql, school: &School) -> Result<(), SqlError> {
    sql.execute(
        "DELETE FROM evaluations WHERE school_id = $1",
        &[school.id.as_str().into()],
    )?;
    for (position, evaluation) in school.evaluations.iter().enumerate() {
        sql.execute(
            "INSERT INTO evaluations (school_id, position, framework, area, judgement, date, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                school.id.as_str().into(),
                Value::Integer(position as i64),
                evaluation.framework.name().into(),
                evaluation.area.name().into(),
                evaluation.judgement.name().into(),
                evaluation.date.to_string().into(),
                evaluation.source.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn delete(sql: &mut dyn Sql, id: &str) -> Result<(), SqlError> {
    sql.execute("DELETE FROM evaluations WHERE school_id = $1", &[id.into()])?;
    sql.execute("DELETE FROM schools WHERE id = $1", &[id.into()])?;
    Ok(())
}

/// Every school, in id order, each checked as the API would check it.
pub(crate) fn read_all(sql: &mut dyn Sql) -> Result<Vec<School>, ReadError> {
    read_where(sql, &Which::All)
}

/// The schools `which` selects, in id order, each checked.
pub(crate) fn read_where(sql: &mut dyn Sql, which: &Which<'_>) -> Result<Vec<School>, ReadError> {
    let (filter, values) = which.filter("id");
    let mut evaluations = read_evaluations(sql, which)?;
    let mut schools = Vec::new();
    sql.query(
        &format!("SELECT {COLUMNS} FROM schools {filter} ORDER BY id"),
        &values,
        &mut |row| {
            let mut school = school_from_row(row)?;
            school.evaluations = evaluations.remove(school.id.as_str()).unwrap_or_default();
            ReadError::check("school", school.id.as_str(), school.validate())?;
            schools.push(school);
            Ok(())
        },
    )?;
    Ok(schools)
}

/// Which rows a read takes, by their id.
pub(crate) enum Which<'a> {
    All,
    /// Those whose ids a subquery selects, with its parameters.
    Selected(&'a str, &'a [Value]),
}

impl Which<'_> {
    /// The `WHERE` clause taking these rows by `column`, and its values.
    pub(crate) fn filter(&self, column: &str) -> (String, Vec<Value>) {
        match self {
            Which::All => (String::new(), Vec::new()),
            Which::Selected(ids, values) => (format!("WHERE {column} IN ({ids})"), values.to_vec()),
        }
    }
}

/// The evaluations of the schools `which` selects, in their order, by
/// school id.
fn read_evaluations(
    sql: &mut dyn Sql,
    which: &Which<'_>,
) -> Result<HashMap<String, Vec<Evaluation>>, ReadError> {
    let (filter, values) = which.filter("school_id");
    let mut evaluations: HashMap<String, Vec<Evaluation>> = HashMap::new();
    sql.query(
        &format!(
            "SELECT school_id, framework, area, judgement, date, source FROM evaluations \
             {filter} ORDER BY school_id, position"
        ),
        &values,
        &mut |row| {
            let school = row.required_text("school_id")?;
            let invalid = |column: &str, value: &str| {
                ReadError::Invalid(format!(
                    "evaluation of school {school:?}: {column} {value:?} is not valid"
                ))
            };
            let (framework, area, judgement, date) = (
                row.required_text("framework")?,
                row.required_text("area")?,
                row.required_text("judgement")?,
                row.required_text("date")?,
            );
            let evaluation = Evaluation {
                framework: EvaluationFramework::parse(&framework)
                    .ok_or_else(|| invalid("framework", &framework))?,
                area: EvaluationArea::parse(&area).ok_or_else(|| invalid("area", &area))?,
                judgement: Judgement::parse(&judgement)
                    .ok_or_else(|| invalid("judgement", &judgement))?,
                date: date.parse().map_err(|_| invalid("date", &date))?,
                source: row.required_text("source")?,
            };
            evaluations.entry(school).or_default().push(evaluation);
            Ok(())
        },
    )?;
    Ok(evaluations)
}

fn school_from_row(row: &dyn Row) -> Result<School, ReadError> {
    let id = row.required_text("id")?;
    let invalid = |column: &str, value: &str| {
        ReadError::Invalid(format!("school {id:?}: {column} {value:?} is not valid"))
    };
    let school_id = SchoolId::parse(&id)
        .map_err(|problem| ReadError::Invalid(format!("school id {id:?} {problem}")))?;
    let phase = row.required_text("phase")?;
    let phase = Phase::parse(&phase).ok_or_else(|| invalid("phase", &phase))?;
    let stage = match row.text("stage")? {
        None => None,
        Some(text) => Some(Stage::parse(&text).ok_or_else(|| invalid("stage", &text))?),
    };
    let language_medium = match row.text("language_medium")? {
        None => None,
        Some(text) => {
            Some(LanguageMedium::parse(&text).ok_or_else(|| invalid("language_medium", &text))?)
        }
    };
    let focus = |column: &str| -> Result<FocusSet, ReadError> {
        let text = row.required_text(column)?;
        focus_from_text(&text).ok_or_else(|| invalid(column, &text))
    };
    Ok(School {
        name: row.required_text("name")?,
        phase,
        stage,
        language_medium,
        location: GeoPoint::new(
            row.required_real("latitude")?,
            row.required_real("longitude")?,
        ),
        local_authority: row.required_text("local_authority")?,
        consortium: row.required_text("consortium")?,
        pupils: row.integer_as("pupils")?,
        context: ContextMeasures {
            fsm_percent: row.real("fsm_percent")?,
            deprivation_percent: row.real("deprivation_percent")?,
            aln_percent: row.real("aln_percent")?,
            eal_percent: row.real("eal_percent")?,
        },
        family_id: row.text("family_id")?,
        strengths: focus("strengths")?,
        needs: focus("needs")?,
        capacity: row.integer_as("capacity")?,
        religious_character: row.required_text("religious_character")?,
        open: row.required_boolean("open")?,
        evaluations: Vec::new(),
        affiliations: affiliations_from_row(row)?,
        id: school_id,
    })
}

fn affiliations_from_row(row: &dyn Row) -> Result<Affiliations, SqlError> {
    let mut affiliations = Affiliations::default();
    for kind in AffiliationKind::ALL {
        let code = row.text(&format!("{kind}_code"))?;
        let name = row.text(&format!("{kind}_name"))?;
        *affiliations.get_mut(kind) =
            code.map(|code| Affiliation::new(code, name.unwrap_or_default()));
    }
    Ok(affiliations)
}

/// `literacy,numeracy`; empty for none.
pub(crate) fn focus_to_text(set: FocusSet) -> String {
    set.iter()
        .map(FocusArea::name)
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn focus_from_text(text: &str) -> Option<FocusSet> {
    text.split(',')
        .filter(|key| !key.is_empty())
        .map(FocusArea::parse)
        .collect()
}
