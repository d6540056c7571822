//! Bearer-token authentication with three roles, as a layer in front of
//! every service. Tokens are configured by their SHA-256 (never in plain
//! text) and compared in constant time. Which role each method needs is
//! in [`super::methods::METHODS`]; health and reflection stay open.
//!
//! - reader: Match, FormGroups, GetSchool, ListSchools, ComputeFamilies,
//!   GetPartnership, ListPartnerships;
//! - writer: also UpsertSchool, ImportSchools, ProposePartnership,
//!   UpdatePartnership;
//! - admin: also DeleteSchool and Broker (consortium-wide runs).
//!
//! Missing or unknown token: UNAUTHENTICATED; a role below the call's:
//! PERMISSION_DENIED. Authorisation fails closed: a call without a method
//! from the table is refused here too, whatever the layers before did.
//!
//! Every admitted call is tagged with its [`Principal`] (the token, or the
//! client's address when authentication is off), so admission can keep
//! one client to its share of the server.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::body::Body;

use super::methods::Access;
use super::protocol::Call;
use super::step::{Answer, Next, Step, answer_now, hand_on};

partnermatch_core::closed_set! {
    /// What a token may do; each role can do everything the one before can.
    pub enum Role {
        Reader = "reader",
        Writer = "writer",
        Admin = "admin",
    }
}

/// SHA-256 of a token, as configured.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (256 bits) and its configuration line
/// `role:sha256hex`.
pub fn new_token(role: Role) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("pm_{}", URL_SAFE_NO_PAD.encode(bytes));
    let line = format!("{role}:{}", hex(&token_hash(&token)));
    (token, line)
}

/// The configured tokens: hashes and roles.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    entries: Vec<([u8; 32], Role)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes are not secrets, but there is no reason to print them.
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish()
    }
}

impl Tokens {
    /// Parses `role:sha256hex` lines.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        // Never echoes what it was given: a token pasted where its hash
        // belongs is a secret, and error messages end up in logs.
        for (n, line) in lines.into_iter().enumerate() {
            let n = n + 1;
            let token_instead = |what: &str| {
                if line.trim_start().starts_with("pm_") || what.trim_start().starts_with("pm_") {
                    " — it looks like a token itself: configure the role:sha256hex line `partnermatch token new` printed beside it, never the token"
                } else {
                    ""
                }
            };
            let Some((role, digest)) = line.split_once(':') else {
                return Err(format!(
                    "token entry {n} is not role:sha256hex ({} characters, no colon){}",
                    line.chars().count(),
                    token_instead(line)
                ));
            };
            let Some(role) = Role::parse(role.trim()) else {
                return Err(format!(
                    "token entry {n}: the role before the colon must be reader, writer or admin{}",
                    token_instead(role)
                ));
            };
            let digest = digest.trim();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "token entry {n}: the hash of {} {role} token must be 64 hex digits (SHA-256), got {} characters{}",
                    if role == Role::Admin { "an" } else { "a" },
                    digest.chars().count(),
                    token_instead(digest)
                ));
            }
            let mut hash = [0u8; 32];
            for (i, byte) in hash.iter_mut().enumerate() {
                *byte =
                    u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
            }
            entries.push((hash, role));
        }
        Ok(Tokens { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role of `token`, comparing its hash with every configured hash
    /// in constant time (and not stopping at a match).
    pub fn role_of(&self, token: &str) -> Option<Role> {
        self.identify(token).map(|(role, _)| role)
    }

    /// The role of `token` and the principal it stands for.
    fn identify(&self, token: &str) -> Option<(Role, Principal)> {
        let hash = token_hash(token);
        let mut found = None;
        for (candidate, role) in &self.entries {
            if bool::from(candidate.ct_eq(&hash)) {
                found = found.max(Some(*role));
            }
        }
        found.map(|role| (role, Principal::token(&hash)))
    }
}

/// Who makes a call, for fair shares of the server: a configured token
/// (by the first bytes of its hash), or with authentication off the
/// client's IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    Token([u8; 8]),
    Address(Option<std::net::IpAddr>),
}

impl Principal {
    fn token(hash: &[u8; 32]) -> Principal {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        Principal::Token(first)
    }

    /// The caller of a call that carries no token (authentication off).
    fn address(request: &http::Request<Body>) -> Principal {
        Principal::Address(super::connection::peer_ip(request))
    }
}

/// Checks the `authorization` metadata of every call; `None` lets all
/// calls through (auth turned off by an explicit flag).
#[derive(Debug, Clone)]
pub struct Auth {
    tokens: Option<Arc<Tokens>>,
}

impl Auth {
    pub fn new(tokens: Option<Arc<Tokens>>) -> Auth {
        Auth { tokens }
    }
}

/// The caller's principal, or why the call is refused.
fn authorise(tokens: &Tokens, request: &http::Request<Body>) -> Result<Option<Principal>, Status> {
    let path = request.uri().path();
    // Fails closed: only methods in the table have a role.
    let Some(call) = request.extensions().get::<Call>() else {
        return Err(Status::unimplemented("unknown method"));
    };
    let needed = match call.method.access {
        Access::Open => return Ok(None),
        Access::Role(role) => role,
    };
    let Some(header) = request.headers().get(http::header::AUTHORIZATION) else {
        return Err(Status::unauthenticated(
            "missing authorization metadata: send \"authorization: Bearer <token>\"",
        ));
    };
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some((role, principal)) = token.and_then(|token| tokens.identify(token)) else {
        return Err(Status::unauthenticated("invalid bearer token"));
    };
    if role < needed {
        let method = path.trim_start_matches("/partnermatch.v1.");
        return Err(Status::permission_denied(format!(
            "the {role} role cannot call {method}: it needs {needed}"
        )));
    }
    Ok(Some(principal))
}

impl Step for Auth {
    fn call<S: Next>(&self, mut request: http::Request<Body>, next: S) -> Answer {
        let principal = match &self.tokens {
            Some(tokens) => match authorise(tokens, &request) {
                Ok(principal) => principal,
                Err(status) => {
                    tracing::info!(path = request.uri().path(), code = ?status.code(), "refused");
                    return answer_now(status.into_http());
                }
            },
            None => Some(Principal::address(&request)),
        };
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        hand_on(request, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_resolve_to_their_roles_by_hash() {
        let (reader, reader_line) = new_token(Role::Reader);
        let (admin, admin_line) = new_token(Role::Admin);
        assert!(reader.starts_with("pm_") && reader.len() > 40);
        assert!(reader_line.starts_with("reader:") && reader_line.len() == 7 + 64);
        assert!(!reader_line.contains(&reader), "the line holds no token");
        let tokens = Tokens::parse([reader_line.as_str(), admin_line.as_str()]).unwrap();
        assert_eq!(tokens.role_of(&reader), Some(Role::Reader));
        assert_eq!(tokens.role_of(&admin), Some(Role::Admin));
        assert_eq!(tokens.role_of("pm_guess"), None);
        assert!(
            Tokens::parse(["root:abcd"])
                .unwrap_err()
                .contains("reader, writer or admin")
        );
        assert!(
            Tokens::parse(["reader:abcd"])
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(
            Tokens::parse([format!("admin:{}", "0".repeat(63)).as_str()])
                .unwrap_err()
                .contains("the hash of an admin token")
        );
        assert!(Tokens::parse(["nocolon"]).is_err());
        // A token where its hash belongs: refused, and never echoed.
        for given in [
            reader.clone(),
            format!("writer:{reader}"),
            format!("{reader}:x"),
        ] {
            let error = Tokens::parse([given.as_str()]).unwrap_err();
            assert!(!error.contains(&reader[3..]), "{error}");
            assert!(error.contains("looks like a token itself"), "{error}");
        }
    }
}
