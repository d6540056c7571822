//! The `partnerships` and `partnership_members` tables.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::{
    ImpactRating, Member, MemberRole, Partnership, PartnershipId, PartnershipKind,
    PartnershipStatus, Plan, SchoolId,
};
use crate::schools::{Which, focus_from_text, focus_to_text};
use crate::sql::{ReadError, Row, RowExt, Sql, SqlError, Value, upsert_sql};

const COLUMNS: &str = "id, kind, status, focus, identified_need, strategic_objectives, provision, \
     action_plan, success_criteria, review_date, impact_rating, impact_notes, version, \
     created_at, updated_at, started_at, finished_at";

/// Writes a partnership; its members only when it is new (they never
/// change).
pub(crate) fn put(sql: &mut dyn Sql, partnership: &Partnership) -> Result<(), SqlError> {
    let plan = &partnership.plan;
    let time = |time: Timestamp| time.to_string();
    let version = i64::try_from(partnership.version)
        .map_err(|_| SqlError(format!("version {} is too large", partnership.version)))?;
    sql.execute(
        &upsert_sql("partnerships", COLUMNS),
        &[
            partnership.id.as_str().into(),
            partnership.kind.name().into(),
            partnership.status.name().into(),
            focus_to_text(partnership.focus).into(),
            plan.identified_need.as_str().into(),
            plan.strategic_objectives.as_str().into(),
            plan.provision.as_str().into(),
            plan.action_plan.as_str().into(),
            plan.success_criteria.as_str().into(),
            plan.review_date.map(|date| date.to_string()).into(),
            partnership.impact_rating.map(ImpactRating::name).into(),
            partnership.impact_notes.as_str().into(),
            version.into(),
            time(partnership.created_at).into(),
            time(partnership.updated_at).into(),
            partnership.started_at.map(time).into(),
            partnership.finished_at.map(time).into(),
        ],
    )?;
    for (position, member) in partnership.members.iter().enumerate() {
        sql.execute(
            "INSERT INTO partnership_members (partnership_id, position, school_id, role) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                partnership.id.as_str().into(),
                Value::Integer(position as i64),
                member.school_id.as_str().into(),
                member.role.name().into(),
            ],
        )?;
    }
    Ok(())
}

/// Every partnership in id order with its members in their order.
pub(crate) fn read_all(sql: &mut dyn Sql) -> Result<Vec<Partnership>, ReadError> {
    read_where(sql, &Which::All)
}

/// The partnerships `which` selects, in id order, each checked.
pub(crate) fn read_where(
    sql: &mut dyn Sql,
    which: &Which<'_>,
) -> Result<Vec<Partnership>, ReadError> {
    let (filter, values) = which.filter("id");
    let mut members_of = read_members(sql, which)?;
    let mut partnerships = Vec::new();
    sql.query(
        &format!("SELECT {COLUMNS} FROM partnerships {filter} ORDER BY id"),
        &values,
        &mut |row| {
            let mut partnership = partnership_from_row(row)?;
            partnership.members = members_of
                .remove(partnership.id.as_str())
                .unwrap_or_default();
            ReadError::check(
                "partnership",
                partnership.id.as_str(),
                crate::domain::validate_members(partnership.kind, &partnership.members),
            )?;
            partnerships.push(partnership);
            Ok(())
        },
    )?;
    Ok(partnerships)
}

fn read_members(
    sql: &mut dyn Sql,
    which: &Which<'_>,
) -> Result<HashMap<String, Vec<Member>>, ReadError> {
    let (filter, values) = which.filter("partnership_id");
    let mut members: HashMap<String, Vec<Member>> = HashMap::new();
    sql.query(
        &format!(
            "SELECT partnership_id, school_id, role FROM partnership_members \
             {filter} ORDER BY partnership_id, position"
        ),
        &values,
        &mut |row| {
            let partnership = row.required_text("partnership_id")?;
            let school = row.required_text("school_id")?;
            let role = row.required_text("role")?;
            let invalid = |what: &str, value: &str| {
                ReadError::Invalid(format!(
                    "partnership {partnership:?}: member {what} {value:?} is not valid"
                ))
            };
            let member = Member {
                school_id: SchoolId::parse(&school).map_err(|_| invalid("school id", &school))?,
                role: MemberRole::parse(&role).ok_or_else(|| invalid("role", &role))?,
            };
            members.entry(partnership).or_default().push(member);
            Ok(())
        },
    )?;
    Ok(members)
}

fn partnership_from_row(row: &dyn Row) -> Result<Partnership, ReadError> {
    let id = row.required_text("id")?;
    let invalid = |column: &str, value: &str| {
        ReadError::Invalid(format!(
            "partnership {id:?}: {column} {value:?} is not valid"
        ))
    };
    let time = |column: &str| -> Result<Option<Timestamp>, ReadError> {
        row.text(column)?
            .map(|value| value.parse().map_err(|_| invalid(column, &value)))
            .transpose()
    };
    let required_time = |column: &str| -> Result<Timestamp, ReadError> {
        time(column)?.ok_or_else(|| invalid(column, ""))
    };
    let kind = row.required_text("kind")?;
    let status = row.required_text("status")?;
    let focus = row.required_text("focus")?;
    let version: u64 = row
        .integer_as("version")?
        .ok_or_else(|| invalid("version", ""))?;
    Ok(Partnership {
        id: PartnershipId::parse(&id).map_err(|_| invalid("id", &id))?,
        kind: PartnershipKind::parse(&kind).ok_or_else(|| invalid("kind", &kind))?,
        status: PartnershipStatus::parse(&status).ok_or_else(|| invalid("status", &status))?,
        members: Vec::new(),
        focus: focus_from_text(&focus).ok_or_else(|| invalid("focus", &focus))?,
        plan: Plan {
            identified_need: row.required_text("identified_need")?,
            strategic_objectives: row.required_text("strategic_objectives")?,
            provision: row.required_text("provision")?,
            action_plan: row.required_text("action_plan")?,
            success_criteria: row.required_text("success_criteria")?,
            review_date: row
                .text("review_date")?
                .map(|value| {
                    value
                        .parse::<Date>()
                        .map_err(|_| invalid("review_date", &value))
                })
                .transpose()?,
        },
        impact_rating: row
            .text("impact_rating")?
            .map(|value| {
                ImpactRating::parse(&value).ok_or_else(|| invalid("impact_rating", &value))
            })
            .transpose()?,
        impact_notes: row.required_text("impact_notes")?,
        version,
        created_at: required_time("created_at")?,
        updated_at: required_time("updated_at")?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
    })
}
