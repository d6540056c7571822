//! Proto ↔ domain conversion, one module per message family, by one
//! convention:
//! - inbound, `<thing>_from_proto(message) -> Result<T, Violations>`: the
//!   message is destructured without `..` (a new proto field does not
//!   compile until someone decides what it means), every violation is
//!   gathered rather than the first, field paths are relative to the
//!   message and callers prefix them (`school.latitude`);
//! - outbound, `<thing>_to_proto(&T) -> pb::Thing`;
//! - enums through [`enums::ProtoEnum`], declared once for every proto enum.
//!
//! Handlers convert, call the engine and convert back; they build no
//! messages themselves.

mod enums;
mod evidence;
mod matching;
mod pages;
mod partnerships;
mod schools;

pub use evidence::evaluations_record_to_proto;
pub(crate) use matching::{
    broker_query_from_proto, broker_response_to_proto, group_query_from_proto, groups_to_proto,
};
pub use matching::{match_query_from_proto, match_response_to_proto};
pub use pages::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
pub(crate) use partnerships::{
    list_partnerships_from_proto, list_partnerships_to_proto, partnership_id, partnership_to_proto,
    partnership_with_impact_to_proto, proposal_from_proto, proposed_to_proto, update_from_proto,
};
pub(crate) use schools::{
    families_to_proto, family_sizes_from_proto, import_change_from_proto, import_merge_from_proto,
    import_message_from_proto, list_schools_from_proto, list_schools_to_proto, rejection_to_proto,
    required_school, school_id,
};
pub use schools::{school_from_proto, school_record_to_proto, school_to_proto};
