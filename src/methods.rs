//! Every method the server answers, by full path, with who may call it and
//! the shape of its request. The layers in front of the services read this
//! table and nothing else: a path that is not in it is refused before any
//! service sees it, so a new RPC is closed until someone gives it a role
//! here (a test walks the served descriptor sets to keep the two in step).

use super::auth::Role;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token: health and reflection, so operators and
    /// grpcurl can always see the server.
    Open,
    /// Tokens of this role or a higher one.
    Role(Role),
}

/// How a method's request arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One request message: it is read in full before the call is admitted.
    Unary,
    /// A stream of request messages (ImportSchools, reflection).
    Streaming,
}

/// Decodes one request message to check it, saying what is wrong if it
/// does not decode: for the services whose codec is not ours (health,
/// reflection), so malformed bytes are INVALID_ARGUMENT there too.
pub type MessageCheck = fn(&[u8]) -> Result<(), String>;

/// One served method.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// `/package.Service/Method`.
    pub path: &'static str,
    pub access: Access,
    pub shape: Shape,
    /// Checks each request message before the service decodes it; `None`
    /// where the service's own codec reports bad bytes as
    /// INVALID_ARGUMENT (ours).
    pub check: Option<MessageCheck>,
    /// Whether it changes the registry (else it only reads it).
    pub writes: bool,
    /// Whether its answer is a stream that lasts as long as the client
    /// keeps it (health Watch, reflection): bounded in number and lifetime
    /// rather than by an admission slot.
    pub open_ended: bool,
}

impl Method {
    /// Whether a full admission slot is needed (health and reflection are
    /// never shed, so operators can see an overloaded server).
    pub fn is_open(&self) -> bool {
        self.access == Access::Open
    }
}

const fn method(path: &'static str, access: Access, shape: Shape) -> Method {
    Method {
        path,
        access,
        shape,
        check: None,
        writes: false,
        open_ended: false,
    }
}

/// A method that changes the registry.
const fn write(path: &'static str, access: Access, shape: Shape) -> Method {
    Method {
        writes: true,
        ..method(path, access, shape)
    }
}

/// A method of a service whose codec is not ours: its messages are decoded
/// once beforehand to check them.
const fn checked(path: &'static str, shape: Shape, check: MessageCheck) -> Method {
    Method {
        path,
        access: Open,
        shape,
        check: Some(check),
        writes: false,
        open_ended: false,
    }
}

/// A [`checked`] method whose answer is an open-ended stream.
const fn open_ended(path: &'static str, shape: Shape, check: MessageCheck) -> Method {
    Method {
        open_ended: true,
        ..checked(path, shape, check)
    }
}

/// A [`MessageCheck`] that decodes the bytes as `M`.
fn decodes_as<M: prost::Message + Default>(bytes: &[u8]) -> Result<(), String> {
    M::decode(bytes).map(drop).map_err(|error| {
        let full = std::any::type_name::<M>();
        let name = full.rsplit("::").next().unwrap_or(full);
        format!("malformed {name} message: {error}")
    })
}

use Access::{Open, Role as Needs};
use Shape::{Streaming, Unary};

const READER: Access = Needs(Role::Reader);
const WRITER: Access = Needs(Role::Writer);
const ADMIN: Access = Needs(Role::Admin);

/// The table. Reads need a reader token; writes a writer token; deleting
/// schools and consortium-wide brokerage an admin token.
pub const METHODS: &[Method] = &[
    method("/partnermatch.v1.PartnerMatcher/Match", READER, Unary),
    method("/partnermatch.v1.PartnerMatcher/FormGroups", READER, Unary),
    method("/partnermatch.v1.PartnerMatcher/Broker", ADMIN, Unary),
    method("/partnermatch.v1.SchoolRegistry/GetSchool", READER, Unary),
    method("/partnermatch.v1.SchoolRegistry/ListSchools", READER, Unary),
    method(
        "/partnermatch.v1.SchoolRegistry/ComputeFamilies",
        READER,
        Unary,
    ),
    write(
        "/partnermatch.v1.SchoolRegistry/UpsertSchool",
        WRITER,
        Unary,
    ),
    write(
        "/partnermatch.v1.SchoolRegistry/ImportSchools",
        WRITER,
        Streaming,
    ),
    write("/partnermatch.v1.SchoolRegistry/DeleteSchool", ADMIN, Unary),
    method(
        "/partnermatch.v1.PartnershipRegistry/GetPartnership",
        READER,
        Unary,
    ),
    method(
        "/partnermatch.v1.PartnershipRegistry/ListPartnerships",
        READER,
        Unary,
    ),
    write(
        "/partnermatch.v1.PartnershipRegistry/ProposePartnership",
        WRITER,
        Unary,
    ),
    write(
        "/partnermatch.v1.PartnershipRegistry/UpdatePartnership",
        WRITER,
        Unary,
    ),
    checked(
        "/grpc.health.v1.Health/Check",
        Unary,
        decodes_as::<tonic_health::pb::HealthCheckRequest>,
    ),
    open_ended(
        "/grpc.health.v1.Health/Watch",
        Unary,
        decodes_as::<tonic_health::pb::HealthCheckRequest>,
    ),
    open_ended(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Streaming,
        decodes_as::<tonic_reflection::pb::v1::ServerReflectionRequest>,
    ),
    open_ended(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Streaming,
        decodes_as::<tonic_reflection::pb::v1alpha::ServerReflectionRequest>,
    ),
];

/// The method at `path`, if the server has one there.
pub fn lookup(path: &str) -> Option<&'static Method> {
    METHODS.iter().find(|method| method.path == path)
}

/// The role a method needs: `Some(None)` for open methods, `None` for a
/// path the server does not serve (which is refused).
pub fn required_role(path: &str) -> Option<Option<Role>> {
    lookup(path).map(|method| match method.access {
        Open => None,
        Needs(role) => Some(role),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_listed_once_and_unknown_paths_have_no_role() {
        for (i, method) in METHODS.iter().enumerate() {
            assert!(
                METHODS[..i].iter().all(|other| other.path != method.path),
                "{} listed twice",
                method.path
            );
        }
        assert_eq!(
            required_role("/partnermatch.v1.PartnerMatcher/Match"),
            Some(Some(Role::Reader))
        );
        assert_eq!(required_role("/grpc.health.v1.Health/Check"), Some(None));
        assert_eq!(required_role("/partnermatch.v1.PartnerMatcher/Nope"), None);
        assert_eq!(required_role("/grpc.health.v1.Health/Nope"), None);
        assert_eq!(required_role("Match"), None);
        assert_eq!(required_role(""), None);
    }
}
