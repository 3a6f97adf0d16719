//! Outbound side effects, all through the durable outbox.

pub mod automation;
pub mod jobs;
pub mod outbox;

/// The redirect rule for every client that carries a token: a redirect on
/// the same host (scheme, host and port) is followed, up to five; one to
/// another host is an error, so the token never travels to a host it
/// wasn't configured for (reqwest strips `Authorization` there, but not
/// GitLab's `PRIVATE-TOKEN` or other custom headers).
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_host = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if !same_host {
            attempt.error("a redirect to another host; the token is not sent there")
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}
