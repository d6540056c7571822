//! Pages of list responses and their tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::Violations;
use crate::engine::Page;

/// List page size when the request gives none.
pub const PAGE_SIZE_DEFAULT: usize = 50;
/// Largest list page.
pub const PAGE_SIZE_MAX: usize = 1000;

/// Page tokens carry the last id of their page and a MAC over it and the
/// list and filter they were issued for, keyed by a secret this server
/// process draws at start-up. A token edited, forged or presented to
/// another list or filter fails the MAC; a token outlives neither the
/// process nor its filter.
const PAGE_TOKEN_VERSION: u8 = 1;
/// Bytes of the MAC kept in a token (128 bits).
const PAGE_TOKEN_TAG_BYTES: usize = 16;

fn page_token_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        key
    })
}

/// What a page token is bound to: a list and its filter as sent, e.g.
/// `page_scope("ListSchools", &(consortium, phase, ...))`.
fn page_scope(list: &str, filter: &impl std::fmt::Debug) -> String {
    format!("{list}{filter:?}")
}

fn page_mac(scope: &str, after_id: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::KeyInit as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(page_token_key())
        .expect("HMAC takes keys of any length");
    mac.update(&(scope.len() as u64).to_le_bytes());
    mac.update(scope.as_bytes());
    mac.update(after_id);
    mac
}

/// An opaque cursor after `after_id`, valid only for `scope`.
fn encode_page_token(scope: &str, after_id: &str) -> String {
    use hmac::Mac as _;
    let tag = page_mac(scope, after_id.as_bytes()).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(1 + after_id.len() + PAGE_TOKEN_TAG_BYTES);
    bytes.push(PAGE_TOKEN_VERSION);
    bytes.extend_from_slice(after_id.as_bytes());
    bytes.extend_from_slice(&tag[..PAGE_TOKEN_TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The id a token of `scope` continues after, if the token is genuine.
fn decode_page_token(scope: &str, token: &str) -> Option<String> {
    use hmac::Mac as _;
    // The longest genuine token: version, a 64-character id, the tag.
    if token.len() > 4 * (1 + crate::domain::limits::ID_MAX_CHARS + PAGE_TOKEN_TAG_BYTES) / 3 + 4 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (&version, rest) = bytes.split_first()?;
    if version != PAGE_TOKEN_VERSION || rest.len() < PAGE_TOKEN_TAG_BYTES {
        return None;
    }
    let (after_id, tag) = rest.split_at(rest.len() - PAGE_TOKEN_TAG_BYTES);
    page_mac(scope, after_id).verify_truncated_left(tag).ok()?;
    String::from_utf8(after_id.to_vec()).ok()
}

/// A list request's page: its size, the id it continues after, and the
/// list and filter its tokens are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) size: usize,
    pub(crate) after: Option<String>,
    scope: String,
}

/// The page of a list request (`list` names the RPC in errors, `filter` is
/// its filter fields as sent): size 0 means the default; the token must
/// come from a response to the same list with the same filter.
pub(crate) fn page_request(
    v: &mut Violations,
    list: &str,
    filter: &impl std::fmt::Debug,
    page_size: u32,
    page_token: &str,
) -> PageRequest {
    let scope = page_scope(list, filter);
    let size = match usize::try_from(page_size).unwrap_or(usize::MAX) {
        0 => PAGE_SIZE_DEFAULT,
        size if size > PAGE_SIZE_MAX => {
            v.push(
                "page_size",
                format!("must be at most {PAGE_SIZE_MAX}, got {page_size}"),
            );
            PAGE_SIZE_DEFAULT
        }
        size => size,
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let decoded = decode_page_token(&scope, page_token);
        if decoded.is_none() {
            v.push(
                "page_token",
                format!(
                    "is not a next_page_token this server gave for {list} with these filters (tokens are bound to their list and filters, and last until the server restarts)"
                ),
            );
        }
        decoded
    };
    PageRequest { size, after, scope }
}

/// The token for the page after `page`; empty on the last page.
pub(crate) fn next_page_token<T>(page: &Page<T>, request: &PageRequest) -> String {
    page.next_after
        .as_deref()
        .map(|after| encode_page_token(&request.scope, after))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_edits_and_other_lists() {
        let scope = page_scope("ListSchools", &("CSC", 0, ""));
        let token = encode_page_token(&scope, "6602130");
        assert_eq!(
            decode_page_token(&scope, &token).as_deref(),
            Some("6602130")
        );
        // Another list, another filter.
        assert_eq!(
            decode_page_token(&page_scope("ListPartnerships", &("CSC", 0, "")), &token),
            None
        );
        assert_eq!(
            decode_page_token(&page_scope("ListSchools", &("GwE", 0, "")), &token),
            None
        );
        // Junk, the old format, and every single-byte edit.
        assert_eq!(decode_page_token(&scope, "not a token!"), None);
        assert_eq!(
            decode_page_token(&scope, &URL_SAFE_NO_PAD.encode("after:1")),
            None
        );
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 1;
            assert_eq!(
                decode_page_token(&scope, &URL_SAFE_NO_PAD.encode(edited)),
                None,
                "byte {i}"
            );
        }
        assert_eq!(decode_page_token(&scope, &"A".repeat(10_000)), None);
    }
}
