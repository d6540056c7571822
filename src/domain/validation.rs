//! Field-level validation results, gathered so a caller learns about every
//! invalid field at once.

use std::fmt;

/// One invalid field: its path in the request (`school.latitude`,
/// `strengths[2]`) and what was wrong, in plain English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// A growing list of violations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Violations {
        Violations::default()
    }

    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// Adds `prefix.` in front of every field path.
    pub fn prefixed(self, prefix: &str) -> Violations {
        Violations(
            self.0
                .into_iter()
                .map(|v| FieldViolation::new(format!("{prefix}.{}", v.field), v.description))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was violated.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Checks that `value` is a finite number within `[min, max]`.
    pub fn check_range(&mut self, field: &str, value: f64, min: f64, max: f64) {
        if !value.is_finite() {
            self.push(field, format!("must be a finite number, got {value}"));
        } else if value < min || value > max {
            self.push(
                field,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    /// Checks a text's length in characters.
    pub fn check_length(&mut self, field: &str, text: &str, min: usize, max: usize) {
        let chars = text.chars().count();
        if chars < min {
            if min == 1 {
                self.push(field, "is required");
            } else {
                self.push(
                    field,
                    format!("must have at least {min} characters, got {chars}"),
                );
            }
        } else if chars > max {
            self.push(
                field,
                format!("must have at most {max} characters, got {chars}"),
            );
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

impl IntoIterator for Violations {
    type Item = FieldViolation;
    type IntoIter = std::vec::IntoIter<FieldViolation>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_length_messages_name_the_field() {
        let mut v = Violations::new();
        v.check_range("latitude", f64::NAN, -90.0, 90.0);
        v.check_range("longitude", 181.0, -180.0, 180.0);
        v.check_range("pupils", 10.0, 0.0, 100.0);
        v.check_length("id", "", 1, 64);
        v.check_length("name", &"x".repeat(201), 1, 200);
        assert_eq!(
            v.prefixed("school").to_string(),
            "school.latitude: must be a finite number, got NaN; \
             school.longitude: must be between -180 and 180, got 181; \
             school.id: is required; \
             school.name: must have at most 200 characters, got 201"
        );
    }
}
