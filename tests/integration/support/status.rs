//! Assertions on gRPC statuses.

use tonic::Code;
use tonic_types::StatusExt;

/// Asserts a status has `code` and a message containing `fragment`.
#[track_caller]
pub fn assert_status(status: &tonic::Status, code: Code, fragment: &str) {
    assert_eq!(status.code(), code, "expected {code:?}, got {status:?}");
    assert!(
        status.message().contains(fragment),
        "{:?} does not contain {fragment:?}",
        status.message()
    );
}

/// Asserts a status has `code` and names `field` in its message and in its
/// BadRequest details.
#[track_caller]
pub fn assert_invalid_field(status: &tonic::Status, field: &str) {
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "expected INVALID_ARGUMENT for {field}, got {status:?}"
    );
    assert!(
        status.message().contains(&format!("{field}: ")),
        "message {:?} does not name {field}",
        status.message()
    );
    let details = status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries BadRequest details");
    assert!(
        details.field_violations.iter().any(|v| v.field == field),
        "BadRequest {details:?} does not name {field}"
    );
}
