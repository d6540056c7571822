//! Closed sets of named values (phases, stages, partnership kinds, roles, …)
//! declared by one macro, so every set has the same name and parse rules.
//!
//! A value's name is its stable lower-case spelling (CSV files, the
//! database, reasons, family ids). Parsing is forgiving in one way for every
//! set: surrounding space is ignored, letters match in any case, and a space
//! or hyphen matches an underscore (`Requires improvement` reads as
//! `requires_improvement`). A value may list aliases after its name.

use std::fmt;

/// Declares a closed set: the enum, `ALL` in declaration order, `name()`,
/// `parse()` (by [`same_name`]), `Display` (the name), `FromStr` and
/// [`ClosedSet`] (for code generic over sets, such as the command line's
/// value parser).
///
/// ```
/// partnermatch_core::closed_set! {
///     /// Traffic lights.
///     pub enum Light {
///         Red = "red" | "stop",
///         Green = "green",
///     }
/// }
/// assert_eq!(Light::parse(" STOP "), Some(Light::Red));
/// assert_eq!(Light::Green.to_string(), "green");
/// assert_eq!(Light::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $text:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The stable lower-case name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value with this name or alias, by the one rule of
            /// `closed_set`: trimmed, any case, space or hyphen for `_`.
            pub fn parse(text: &str) -> ::std::option::Option<$name> {
                $(
                    if $crate::domain::same_name($text, text)
                        $(|| $crate::domain::same_name($alias, text))*
                    {
                        return ::std::option::Option::Some($name::$variant);
                    }
                )+
                ::std::option::Option::None
            }
        }

        impl $crate::domain::ClosedSet for $name {
            const VALUES: &'static [$name] = &$name::ALL;

            fn name(self) -> &'static str {
                $name::name(self)
            }

            fn aliases(self) -> &'static [&'static str] {
                match self {
                    $($name::$variant => &[$($alias),*]),+
                }
            }

            fn parse(text: &str) -> ::std::option::Option<$name> {
                $name::parse(text)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::UnknownName;

            fn from_str(text: &str) -> ::std::result::Result<$name, Self::Err> {
                $name::parse(text).ok_or_else(|| $crate::domain::UnknownName {
                    set: stringify!($name),
                    text: text.to_owned(),
                    names: &[$($text),+],
                })
            }
        }
    };
}

/// What every closed set offers, for code generic over sets.
pub trait ClosedSet: Copy + Send + Sync + 'static {
    /// Every value, in declaration order.
    const VALUES: &'static [Self];
    /// The stable lower-case name.
    fn name(self) -> &'static str;
    /// Other names this value is parsed from.
    fn aliases(self) -> &'static [&'static str];
    /// The value with this name or alias.
    fn parse(text: &str) -> Option<Self>;
}

/// Whether `text` spells `name` (a lower-case name with underscores): surrounding
/// space ignored, any case, and a space or hyphen in place of an underscore.
pub fn same_name(name: &str, text: &str) -> bool {
    let text = text.trim();
    name.len() == text.len()
        && name.bytes().zip(text.bytes()).all(|(expected, given)| {
            let given = match given {
                b' ' | b'-' => b'_',
                other => other.to_ascii_lowercase(),
            };
            expected == given
        })
}

/// A name outside a closed set: "unknown language medium "klingon"
/// (expected one of: english, welsh, …)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The set's type name (`LanguageMedium`), written in words.
    pub set: &'static str,
    pub text: String,
    pub names: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown ")?;
        for (i, c) in self.set.char_indices() {
            if c.is_ascii_uppercase() && i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}", c.to_ascii_lowercase())?;
        }
        write!(
            f,
            " {:?} (expected one of: {})",
            self.text,
            self.names.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

#[cfg(test)]
mod tests {
    use super::same_name;
    use crate::domain::LanguageMedium;

    #[test]
    fn one_rule_for_every_name() {
        assert!(same_name("requires_improvement", " Requires improvement "));
        assert!(same_name("requires_improvement", "REQUIRES-IMPROVEMENT"));
        assert!(same_name("red", "Red"));
        assert!(!same_name("red", "redd"));
        assert!(!same_name("red", ""));
        assert!(!same_name("dual_stream", "dualstream"));
    }

    #[test]
    fn unknown_names_list_the_set() {
        let error = "klingon".parse::<LanguageMedium>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown language medium \"klingon\" (expected one of: english, welsh, \
             bilingual, dual, transitional)"
        );
    }
}
