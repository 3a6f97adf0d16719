//! Percent-encoding one URL path segment: everything but the unreserved
//! characters (RFC 3986), so a GitLab project path or a file path with
//! slashes stays one segment, and a name from a descriptor can't add a
//! path, a query or a fragment to a URL usher builds. One encoder for every
//! client (code hosts, Opsgenie, automation).

/// `acme/svc` → `acme%2Fsvc`.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode_segment("acme/svc"), "acme%2Fsvc");
        assert_eq!(encode_segment("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(encode_segment("é"), "%C3%A9");
        assert_eq!(encode_segment("Az09-_.~"), "Az09-_.~");
    }
}
