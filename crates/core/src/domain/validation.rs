//! Field-level validation results, gathered so a caller learns about every
//! invalid field at once — up to a cap, so a request with millions of bad
//! entries costs no more to answer than one with twenty.

use std::fmt;

/// Violations reported one by one; beyond this many a request's answer
/// only counts the rest ("…and 3,999,980 more"). Twenty keep a gRPC error
/// (message and details) within a few KB, well inside every client's
/// header limit (grpcio's default is 8 KB).
pub const MAX_REPORTED_VIOLATIONS: usize = 20;

/// Longest description kept; longer ones are cut with "…". Descriptions
/// may quote what the client sent, which can be megabytes.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// Characters of client text quoted in a description by [`quoted`].
const QUOTED_CHARS: usize = 40;

/// `text` in double quotes with escapes, cut to a few dozen characters:
/// how a description quotes client input (which may be huge, or hold
/// control characters that must not reach a terminal or a log verbatim).
pub fn quoted(text: &str) -> String {
    let mut shown: String = text.chars().take(QUOTED_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Whether a text may hold line breaks and tabs (the aide-memoire's
/// paragraphs) or is one line (names, areas, ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Line,
    Paragraphs,
}

/// What is wrong with `c` in a text of `kind`, if anything: control
/// characters (NUL, escape sequences that would drive a terminal, line
/// breaks in a one-line field), the bidirectional marks, embeddings,
/// overrides and isolates that make text display in another order than
/// it reads, the Unicode line and paragraph separators (line breaks no
/// line-based tool sees), tag characters and other invisible formatting
/// characters that carry text nobody sees. Every letter of every script
/// is fine, and so are the joiners some scripts need.
pub fn unsafe_char(c: char, kind: TextKind) -> Option<&'static str> {
    match c {
        '\n' | '\r' | '\t' if kind == TextKind::Paragraphs => None,
        '\n' | '\r' => Some("a line break"),
        c if c.is_control() => Some("a control character"),
        '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061c}'
        | '\u{200e}'
        | '\u{200f}' => Some("a bidirectional text control"),
        '\u{2028}' | '\u{2029}' => Some("a Unicode line or paragraph separator"),
        '\u{e0000}'..='\u{e007f}' => Some("a tag character"),
        '\u{2061}'..='\u{2064}' | '\u{206a}'..='\u{206f}' | '\u{fff9}'..='\u{fffb}' => {
            Some("an invisible formatting character")
        }
        _ => None,
    }
}

/// Characters that show nothing: whitespace, and the zero-width spaces,
/// joiners and marks a text may hold between letters. A text of nothing
/// else is blank.
fn shows_nothing(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{00ad}' | '\u{180e}'
        )
}

/// `text` with every character [`unsafe_char`] refuses written as an
/// escape (`\u{1b}`), for printing text that came from elsewhere to a
/// terminal or a file.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| unsafe_char(c, TextKind::Line).is_some())
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c, TextKind::Line).is_some() {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// One invalid field: its path in the request (`school.latitude`,
/// `strengths[2]`) and what was wrong, in plain English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        let mut description = description.into();
        if let Some((cut, _)) = description.char_indices().nth(MAX_DESCRIPTION_CHARS) {
            description.truncate(cut);
            description.push('…');
        }
        FieldViolation {
            field: field.into(),
            description,
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// A growing list of violations: the first [`MAX_REPORTED_VIOLATIONS`] in
/// full, then only a count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    reported: Vec<FieldViolation>,
    /// Violations found after the list was full.
    omitted: usize,
}

impl Violations {
    pub fn new() -> Violations {
        Violations::default()
    }

    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.reported.len() < MAX_REPORTED_VIOLATIONS {
            self.reported.push(FieldViolation::new(field, description));
        } else {
            self.omitted += 1;
        }
    }

    pub fn extend(&mut self, other: Violations) {
        for violation in other.reported {
            if self.reported.len() < MAX_REPORTED_VIOLATIONS {
                self.reported.push(violation);
            } else {
                self.omitted += 1;
            }
        }
        self.omitted += other.omitted;
    }

    /// Adds `prefix.` in front of every field path.
    pub fn prefixed(self, prefix: &str) -> Violations {
        Violations {
            reported: self
                .reported
                .into_iter()
                .map(|v| FieldViolation {
                    field: format!("{prefix}.{}", v.field),
                    description: v.description,
                })
                .collect(),
            omitted: self.omitted,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.reported.is_empty()
    }

    /// Every violation found, reported or only counted.
    pub fn total(&self) -> usize {
        self.reported.len() + self.omitted
    }

    /// Violations found beyond the reported ones.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// The reported violations (at most [`MAX_REPORTED_VIOLATIONS`]).
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.reported.iter()
    }

    /// `Ok(value)` when nothing was violated.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Checks a repeated field's length before its entries are read, so a
    /// list of millions costs one violation: `true` when it is within
    /// `max`.
    pub fn check_count(&mut self, field: &str, what: &str, count: usize, max: usize) -> bool {
        if count > max {
            self.push(
                field,
                format!("must have at most {max} {what}, got {count}"),
            );
            false
        } else {
            true
        }
    }

    /// Reads a date written exactly `YYYY-MM-DD`; anything else is a
    /// violation of `field`.
    pub fn check_date(&mut self, field: &str, text: &str) -> Option<jiff::civil::Date> {
        let date = parse_date(text);
        if date.is_none() {
            self.push(
                field,
                format!("must be a date YYYY-MM-DD, got {}", quoted(text)),
            );
        }
        date
    }

    /// Reads a date written exactly `YYYY-MM-DD` within `earliest..=latest`
    /// (outside is most likely a typing slip); anything else is a violation
    /// of `field`.
    pub fn check_date_within(
        &mut self,
        field: &str,
        text: &str,
        (earliest, latest): (jiff::civil::Date, jiff::civil::Date),
    ) -> Option<jiff::civil::Date> {
        let date = self.check_date(field, text)?;
        self.check_date_range(field, date, (earliest, latest))
            .then_some(date)
    }

    /// Whether `date` lies within `earliest..=latest`; if not, a violation
    /// of `field`.
    pub fn check_date_range(
        &mut self,
        field: &str,
        date: jiff::civil::Date,
        (earliest, latest): (jiff::civil::Date, jiff::civil::Date),
    ) -> bool {
        let within = (earliest..=latest).contains(&date);
        if !within {
            self.push(
                field,
                format!("must be between {earliest} and {latest}, got {date}"),
            );
        }
        within
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

impl Violations {
    /// Checks a free-text field: its length in characters, no character
    /// [`unsafe_char`] refuses, and, when it is required (`min` ≥ 1), not
    /// only spaces.
    pub fn check_text(&mut self, field: &str, text: &str, min: usize, max: usize, kind: TextKind) {
        self.check_length(field, text, min, max);
        if let Some((position, c, what)) = text
            .chars()
            .enumerate()
            .find_map(|(i, c)| unsafe_char(c, kind).map(|what| (i, c, what)))
        {
            self.push(
                field,
                format!(
                    "must not contain {what} (found U+{:04X} at character {})",
                    u32::from(c),
                    position + 1
                ),
            );
        } else if min >= 1 && !text.is_empty() && text.chars().all(shows_nothing) {
            self.push(
                field,
                "must not be blank (it holds only spaces or invisible characters)",
            );
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.reported.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        if self.omitted > 0 {
            write!(f, "; …and {} more", self.omitted)?;
        }
        Ok(())
    }
}

impl IntoIterator for Violations {
    type Item = FieldViolation;
    type IntoIter = std::vec::IntoIter<FieldViolation>;

    /// The reported violations; [`Violations::omitted`] counts the rest.
    fn into_iter(self) -> Self::IntoIter {
        self.reported.into_iter()
    }
}

/// A date written exactly `YYYY-MM-DD` (jiff alone also reads longer
/// forms, such as a date with a time).
pub fn parse_date(text: &str) -> Option<jiff::civil::Date> {
    text.parse()
        .ok()
        .filter(|_| text.len() == "YYYY-MM-DD".len())
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

    #[test]
    fn violations_beyond_the_cap_are_counted_not_kept() {
        let mut v = Violations::new();
        for i in 0..1_000_000 {
            v.push(
                format!("needs[{i}]"),
                "FOCUS_AREA_UNSPECIFIED is not a focus area",
            );
        }
        assert_eq!(v.iter().count(), MAX_REPORTED_VIOLATIONS);
        assert_eq!((v.total(), v.omitted()), (1_000_000, 999_980));
        let text = v.clone().prefixed("school").to_string();
        assert!(text.starts_with("school.needs[0]: FOCUS_AREA_UNSPECIFIED"));
        assert!(text.ends_with("; …and 999980 more"), "{text}");
        assert!(text.len() < 2_000, "{} bytes", text.len());

        let mut merged = Violations::new();
        merged.push("id", "is required");
        merged.extend(v);
        assert_eq!(merged.iter().count(), MAX_REPORTED_VIOLATIONS);
        assert_eq!(merged.total(), 1_000_001);
    }

    #[test]
    fn long_descriptions_and_quotes_are_cut() {
        let huge = "x".repeat(5_000_000);
        assert_eq!(quoted("2026-01-01"), "\"2026-01-01\"");
        let shown = quoted(&huge);
        assert!(
            shown.chars().count() < 50 && shown.ends_with("…\""),
            "{shown}"
        );
        assert_eq!(quoted("a\u{1b}[31m"), "\"a\\u{1b}[31m\"");
        let violation = FieldViolation::new("name", huge);
        assert_eq!(
            violation.description.chars().count(),
            MAX_DESCRIPTION_CHARS + 1
        );
        let mut v = Violations::new();
        assert!(v.check_count("focus", "areas", 21, 21));
        assert!(!v.check_count("focus", "areas", 4_000_000, 21));
        assert_eq!(
            v.to_string(),
            "focus: must have at most 21 areas, got 4000000"
        );
    }

    #[test]
    fn texts_refuse_controls_and_bidi_overrides_but_keep_every_letter() {
        let check = |text: &str, kind: TextKind| {
            let mut v = Violations::new();
            v.check_text("name", text, 1, 200, kind);
            v.to_string()
        };
        for fine in [
            "Ysgol Gymraeg Bro Ŵyr",
            "Ysgol y Ddôl",
            "École Saint-Éxupéry",
            "Szkoła Podstawowa nr 1 w Łodzi",
            "مدرسة النور",
            "学校",
            "St Mary's R.C. (VA) Primary",
        ] {
            assert_eq!(check(fine, TextKind::Line), "", "{fine}");
        }
        assert!(
            check("a\0b", TextKind::Line)
                .contains("control character (found U+0000 at character 2)")
        );
        assert!(check("\u{1b}[31mred", TextKind::Line).contains("U+001B at character 1"));
        assert!(check("evil\u{202e}gnp.exe", TextKind::Line).contains("bidirectional"));
        assert!(check("two\nlines", TextKind::Line).contains("line break"));
        assert_eq!(check("two\nlines\tand a tab", TextKind::Paragraphs), "");
        assert!(check("bell\u{7}", TextKind::Paragraphs).contains("control character"));
        for invisible in [
            "left\u{200e}to",
            "a\u{2028}b",
            "flag\u{e0041}",
            "x\u{2062}y",
        ] {
            assert!(
                !check(invisible, TextKind::Line).is_empty(),
                "{invisible:?} accepted"
            );
            assert!(
                !check(invisible, TextKind::Paragraphs).is_empty(),
                "{invisible:?} accepted in paragraphs"
            );
        }
        // Joiners that scripts need are letters' company, not a name.
        assert_eq!(check("می\u{200c}خواهم", TextKind::Line), "");
        for blank in ["   \u{a0}", "\u{200b}\u{200b}", "\u{feff} \u{2060}"] {
            assert_eq!(
                check(blank, TextKind::Line),
                "name: must not be blank (it holds only spaces or invisible characters)",
                "{blank:?}"
            );
        }
        assert_eq!(check("", TextKind::Line), "name: is required");
    }

    #[test]
    fn printable_escapes_what_texts_refuse() {
        assert_eq!(printable("Ysgol Ŵyr"), "Ysgol Ŵyr");
        assert_eq!(printable("a\u{1b}[2Jb\u{202e}"), "a\\u{1b}[2Jb\\u{202e}");
        assert_eq!(
            printable("AB\u{1b}]0;PWNED\u{7}"),
            "AB\\u{1b}]0;PWNED\\u{7}"
        );
        assert_eq!(printable("a\u{2028}b"), "a\\u{2028}b");
    }
}
