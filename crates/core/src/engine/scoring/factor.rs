//! The nine factors of the score and a table keyed by them: weights, the
//! weights normalised for a request, the components of a pair — never a
//! position in an array.

use std::ops::{Index, IndexMut};

crate::closed_set! {
    /// The scoring components, in the order they are reported. A factor's
    /// name is its field in requests and reports.
    pub enum Factor {
        Stage = "stage",
        Proximity = "proximity",
        Context = "context",
        Focus = "focus",
        Phase = "phase",
        Language = "language",
        Size = "size",
        Load = "load",
        TrackRecord = "track_record",
    }
}

impl Factor {
    pub const COUNT: usize = Factor::ALL.len();
}

/// One value per factor, read and written by factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerFactor<T>([T; Factor::COUNT]);

impl<T> PerFactor<T> {
    /// The table with `value(factor)` for each factor.
    pub fn from_fn(mut value: impl FnMut(Factor) -> T) -> PerFactor<T> {
        PerFactor(std::array::from_fn(|i| value(Factor::ALL[i])))
    }

    /// Each factor with its value, in [`Factor::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Factor, &T)> {
        Factor::ALL.into_iter().zip(self.0.iter())
    }

    /// The values, in [`Factor::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

impl<T> Index<Factor> for PerFactor<T> {
    type Output = T;

    fn index(&self, factor: Factor) -> &T {
        // The declaration order is `Factor::ALL`'s (checked below).
        &self.0[factor as usize]
    }
}

impl<T> IndexMut<Factor> for PerFactor<T> {
    fn index_mut(&mut self, factor: Factor) -> &mut T {
        &mut self.0[factor as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_index_their_own_place() {
        for (i, factor) in Factor::ALL.into_iter().enumerate() {
            assert_eq!(factor as usize, i, "{}", factor.name());
        }
        let mut table = PerFactor::from_fn(Factor::name);
        assert_eq!(table[Factor::TrackRecord], "track_record");
        table[Factor::Load] = "busy";
        let names: Vec<_> = table.iter().map(|(factor, name)| (factor, *name)).collect();
        assert_eq!(names[7], (Factor::Load, "busy"));
    }
}
