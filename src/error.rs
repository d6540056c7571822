//! The one place engine errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Violations;
use crate::engine::Error;

/// INVALID_ARGUMENT naming each violated field.
pub(crate) fn invalid(violations: Violations) -> Status {
    status_from_error(Error::Invalid(violations))
}

/// Engine results as the services answer them: `engine_call().or_status()?`
/// (the orphan rule keeps a `From<engine::Error> for Status` out of this
/// crate, as neither type is ours).
pub(crate) trait OrStatus<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> OrStatus<T> for Result<T, Error> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(status_from_error)
    }
}

/// Maps each error variant to its code. Invalid arguments carry a
/// `google.rpc.BadRequest` detail with one violation per field, and the
/// message lists them too, for clients that only read the message.
pub fn status_from_error(error: Error) -> Status {
    match error {
        Error::Invalid(violations) => {
            let message = format!("invalid argument: {violations}");
            let details: Vec<FieldViolation> = violations
                .into_iter()
                .map(|v| FieldViolation::new(v.field, v.description))
                .collect();
            Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request(details),
            )
        }
        error @ Error::NotFound { .. } => Status::not_found(error.to_string()),
        Error::AlreadyExists(message) => Status::already_exists(message),
        Error::Aborted(message) => Status::aborted(message),
        Error::FailedPrecondition(message) => Status::failed_precondition(message),
        Error::ResourceExhausted(message) => Status::resource_exhausted(message),
        // Nothing was changed and the cause is the database (unreachable,
        // restarting, full): a retry, here or on another replica, is safe.
        error @ Error::Storage(_) => {
            let message = error.to_string();
            tracing::error!(%message, "storage error");
            Status::unavailable(message)
        }
        Error::Internal(message) => {
            tracing::error!(%message, "internal error");
            Status::internal(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Violations;

    #[test]
    fn invalid_argument_lists_every_field_in_message_and_details() {
        let mut violations = Violations::new();
        violations.push("school.latitude", "must be between -90 and 90, got 91");
        violations.push("school.name", "is required");
        let status = status_from_error(Error::Invalid(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid argument: school.latitude: must be between -90 and 90, got 91; school.name: is required"
        );
        let bad_request = status.get_details_bad_request().expect("details");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["school.latitude", "school.name"]);
    }

    #[test]
    fn other_variants_map_to_their_codes() {
        assert_eq!(
            status_from_error(Error::school_not_found("x")).code(),
            Code::NotFound
        );
        assert_eq!(
            status_from_error(Error::school_not_found("x")).message(),
            "school \"x\" not found"
        );
        assert_eq!(
            status_from_error(Error::FailedPrecondition("closed".into())).code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            status_from_error(Error::ResourceExhausted("big".into())).code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            status_from_error(Error::Internal("bug".into())).code(),
            Code::Internal
        );
    }
}
