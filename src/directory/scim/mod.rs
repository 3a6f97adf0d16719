//! SCIM 2.0 (RFC 7643, RFC 7644): what identity providers (Okta, Microsoft
//! Entra ID, OneLogin, JumpCloud) push to usher about people and groups.

pub mod filter;
pub mod patch;
