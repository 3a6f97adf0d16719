//! Outbound side effects, all through the durable outbox.

pub mod automation;
pub mod jobs;
pub mod outbox;

use std::time::Duration;

/// The HTTP client for a service usher sends a token to (automation,
/// on-call providers, discovery): time-boxed, redirects only within the
/// host ([`same_host_redirects`]), naming itself.
pub fn token_client(connect: Duration, total: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .redirect(same_host_redirects())
        .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

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
