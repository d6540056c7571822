//! What the tables' code needs of a database, so that it is written once
//! for SQLite and PostgreSQL: statements with numbered parameters (`$1`…,
//! which both read), values of four kinds, and rows read column by name.
//! The SQL itself keeps to what both run alike (`INSERT … ON CONFLICT`).

/// A parameter's value. Integers are 64-bit and reals double precision in
/// both databases' columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Text(String),
    Real(f64),
    Integer(i64),
    Boolean(bool),
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl From<f64> for Value {
    fn from(real: f64) -> Value {
        Value::Real(real)
    }
}

impl From<i64> for Value {
    fn from(integer: i64) -> Value {
        Value::Integer(integer)
    }
}

impl From<u32> for Value {
    fn from(integer: u32) -> Value {
        Value::Integer(i64::from(integer))
    }
}

impl From<bool> for Value {
    fn from(boolean: bool) -> Value {
        Value::Boolean(boolean)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

/// Why a statement failed: the database's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError(pub String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why reading a table failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Sql(SqlError),
    /// A row whose values partnermatch would not have written.
    Invalid(String),
}

impl ReadError {
    /// An error if the domain's rules found something wrong with a row
    /// read back: `kind` and `id` name it ("school 6602130").
    pub(crate) fn check(
        kind: &str,
        id: &str,
        violations: crate::domain::Violations,
    ) -> Result<(), ReadError> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ReadError::Invalid(format!("{kind} {id}: {violations}")))
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Sql(error) => error.fmt(f),
            ReadError::Invalid(message) => f.write_str(message),
        }
    }
}

impl From<SqlError> for ReadError {
    fn from(error: SqlError) -> ReadError {
        ReadError::Sql(error)
    }
}

/// One row of a result, its columns read by name. `None` is SQL NULL.
pub(crate) trait Row {
    fn text(&self, column: &str) -> Result<Option<String>, SqlError>;
    fn real(&self, column: &str) -> Result<Option<f64>, SqlError>;
    fn integer(&self, column: &str) -> Result<Option<i64>, SqlError>;
    fn boolean(&self, column: &str) -> Result<Option<bool>, SqlError>;
}

/// Reading a column that may not be NULL, and integers of a narrower type.
pub(crate) trait RowExt: Row {
    fn required_text(&self, column: &str) -> Result<String, ReadError> {
        self.text(column)?
            .ok_or_else(|| ReadError::Invalid(format!("{column} is NULL")))
    }

    fn required_real(&self, column: &str) -> Result<f64, ReadError> {
        self.real(column)?
            .ok_or_else(|| ReadError::Invalid(format!("{column} is NULL")))
    }

    fn required_boolean(&self, column: &str) -> Result<bool, ReadError> {
        self.boolean(column)?
            .ok_or_else(|| ReadError::Invalid(format!("{column} is NULL")))
    }

    /// An integer that must fit `T` (a count, a version).
    fn integer_as<T: TryFrom<i64>>(&self, column: &str) -> Result<Option<T>, ReadError> {
        self.integer(column)?
            .map(|value| {
                T::try_from(value)
                    .map_err(|_| ReadError::Invalid(format!("{column} {value} is out of range")))
            })
            .transpose()
    }
}

impl<R: Row + ?Sized> RowExt for R {}

/// A transaction, or a connection outside one, that runs statements.
pub(crate) trait Sql {
    /// Runs a statement that returns no rows; returns how many it changed.
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, SqlError>;

    /// Runs a query, handing each row to `each` in order.
    fn query(
        &mut self,
        sql: &str,
        values: &[Value],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), ReadError>,
    ) -> Result<(), ReadError>;
}

/// `INSERT … ON CONFLICT (id) DO UPDATE` for `table` with `columns` (a
/// comma-separated list starting with `id`): an upsert that updates in
/// place (a delete and insert would break the rows referencing it).
/// Parameters `$1`… follow `columns`.
pub(crate) fn upsert_sql(table: &str, columns: &str) -> String {
    let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_every_column_but_the_id() {
        assert_eq!(
            upsert_sql("t", "id, a, b"),
            "INSERT INTO t (id, a, b) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
    }

    #[test]
    fn options_are_null_or_their_value() {
        assert_eq!(Value::from(None::<u32>), Value::Null);
        assert_eq!(Value::from(Some(7_u32)), Value::Integer(7));
        assert_eq!(Value::from(Some("a")), Value::Text("a".into()));
    }
}
