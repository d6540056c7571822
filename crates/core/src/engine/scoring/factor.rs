//! The nine factors of the score and a table keyed by them.

/// The scoring components, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    Stage,
    Proximity,
    Context,
    Focus,
    Phase,
    Language,
    Size,
    Load,
    TrackRecord,
}

impl Factor {
    pub const ALL: [Factor; 9] = [
        Factor::Stage,
        Factor::Proximity,
        Factor::Context,
        Factor::Focus,
        Factor::Phase,
        Factor::Language,
        Factor::Size,
        Factor::Load,
        Factor::TrackRecord,
    ];
    pub const COUNT: usize = Factor::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Factor::Stage => "stage",
            Factor::Proximity => "proximity",
            Factor::Context => "context",
            Factor::Focus => "focus",
            Factor::Phase => "phase",
            Factor::Language => "language",
            Factor::Size => "size",
            Factor::Load => "load",
            Factor::TrackRecord => "track_record",
        }
    }
}

/// Position of proximity in [`Factor::ALL`].
pub(super) const PROXIMITY: usize = 1;
