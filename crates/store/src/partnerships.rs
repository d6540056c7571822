//! The `partnerships` and `partnership_members` tables.

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Row, Transaction, params};

use crate::domain::{
    ImpactRating, Member, MemberRole, Partnership, PartnershipId, PartnershipKind,
    PartnershipStatus, Plan, SchoolId,
};

use super::ReadError;
use super::schools::{focus_from_text, focus_to_text};

const COLUMNS: &str = "id, kind, status, focus, identified_need, strategic_objectives, provision, \
     action_plan, success_criteria, review_date, impact_rating, impact_notes, version, \
     created_at, updated_at, started_at, finished_at";

/// Writes a partnership; its members only when it is new (they never
/// change).
pub(super) fn put(
    transaction: &Transaction<'_>,
    partnership: &Partnership,
) -> rusqlite::Result<()> {
    let mut statement = transaction.prepare_cached(&super::upsert_sql("partnerships", COLUMNS))?;
    let plan = &partnership.plan;
    let time = |time: Timestamp| time.to_string();
    statement.execute(params![
        partnership.id.as_str(),
        partnership.kind.name(),
        partnership.status.name(),
        focus_to_text(partnership.focus),
        plan.identified_need,
        plan.strategic_objectives,
        plan.provision,
        plan.action_plan,
        plan.success_criteria,
        plan.review_date.map(|date| date.to_string()),
        partnership.impact_rating.map(ImpactRating::name),
        partnership.impact_notes,
        partnership.version,
        time(partnership.created_at),
        time(partnership.updated_at),
        partnership.started_at.map(time),
        partnership.finished_at.map(time),
    ])?;
    let mut members = transaction.prepare_cached(
        "INSERT OR IGNORE INTO partnership_members (partnership_id, position, school_id, role) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (position, member) in partnership.members.iter().enumerate() {
        members.execute(params![
            partnership.id.as_str(),
            position,
            member.school_id.as_str(),
            member.role.name(),
        ])?;
    }
    Ok(())
}

/// Every partnership in id order with its members in their order.
pub(super) fn read_all(connection: &rusqlite::Connection) -> Result<Vec<Partnership>, ReadError> {
    let mut members_of = read_members(connection)?;
    let mut statement =
        connection.prepare(&format!("SELECT {COLUMNS} FROM partnerships ORDER BY id"))?;
    let mut rows = statement.query([])?;
    let mut partnerships = Vec::new();
    while let Some(row) = rows.next()? {
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
    }
    Ok(partnerships)
}

fn read_members(
    connection: &rusqlite::Connection,
) -> Result<std::collections::HashMap<String, Vec<Member>>, ReadError> {
    let mut statement = connection.prepare(
        "SELECT partnership_id, school_id, role FROM partnership_members \
         ORDER BY partnership_id, position",
    )?;
    let mut rows = statement.query([])?;
    let mut members: std::collections::HashMap<String, Vec<Member>> = Default::default();
    while let Some(row) = rows.next()? {
        let partnership: String = row.get(0)?;
        let school: String = row.get(1)?;
        let role: String = row.get(2)?;
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
    }
    Ok(members)
}

fn partnership_from_row(row: &Row<'_>) -> Result<Partnership, ReadError> {
    let id: String = row.get("id")?;
    let invalid = |column: &str, value: &str| {
        ReadError::Invalid(format!(
            "partnership {id:?}: {column} {value:?} is not valid"
        ))
    };
    let text = |column: &str| -> Result<String, ReadError> { Ok(row.get(column)?) };
    let parsed = |column: &str| -> Result<Option<String>, ReadError> { Ok(row.get(column)?) };
    let time = |column: &str| -> Result<Option<Timestamp>, ReadError> {
        parsed(column)?
            .map(|value| value.parse().map_err(|_| invalid(column, &value)))
            .transpose()
    };
    let required_time = |column: &str| -> Result<Timestamp, ReadError> {
        time(column)?.ok_or_else(|| invalid(column, ""))
    };
    let kind = text("kind")?;
    let status = text("status")?;
    let focus = text("focus")?;
    let version: i64 = row.get("version")?;
    Ok(Partnership {
        id: PartnershipId::parse(&id).map_err(|_| invalid("id", &id))?,
        kind: PartnershipKind::parse(&kind).ok_or_else(|| invalid("kind", &kind))?,
        status: PartnershipStatus::parse(&status).ok_or_else(|| invalid("status", &status))?,
        members: Vec::new(),
        focus: focus_from_text(&focus).ok_or_else(|| invalid("focus", &focus))?,
        plan: Plan {
            identified_need: text("identified_need")?,
            strategic_objectives: text("strategic_objectives")?,
            provision: text("provision")?,
            action_plan: text("action_plan")?,
            success_criteria: text("success_criteria")?,
            review_date: parsed("review_date")?
                .map(|value| {
                    value
                        .parse::<Date>()
                        .map_err(|_| invalid("review_date", &value))
                })
                .transpose()?,
        },
        impact_rating: parsed("impact_rating")?
            .map(|value| {
                ImpactRating::parse(&value).ok_or_else(|| invalid("impact_rating", &value))
            })
            .transpose()?,
        impact_notes: text("impact_notes")?,
        version: u64::try_from(version).map_err(|_| invalid("version", &version.to_string()))?,
        created_at: required_time("created_at")?,
        updated_at: required_time("updated_at")?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
    })
}
