//! Any bytes as the wire form of the requests the API validates: each
//! decodes and converts, or is refused with named fields; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnermatch::{match_query_from_proto, pb, school_from_proto};
use partnermatch_core::engine::ScoringConfig;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(school) = pb::School::decode(data) {
        if let Err(violations) = school_from_proto(school) {
            assert!(!violations.is_empty());
        }
    }
    if let Ok(request) = pb::MatchRequest::decode(data) {
        if let Ok(query) = match_query_from_proto(request, &ScoringConfig::default()) {
            assert!(query.validate().is_empty());
        }
    }
});
