//! `usher health`: asks a running `usher serve` whether it is ready (the
//! container health check).

use super::*;

/// `usher health`: GET /readyz of the usher listening on this machine.
pub(crate) async fn health(env: &Env, url: Option<String>, strict: bool) -> ExitCode {
    let base = url.unwrap_or_else(|| {
        // A wildcard listen address is reached on loopback; a specific one
        // as it is.
        let (host, port) = env.listen.rsplit_once(':').unwrap_or(("", "8080"));
        let host = match host {
            "" | "0.0.0.0" | "[::]" | "::" => "127.0.0.1",
            other => other,
        };
        format!("http://{host}:{port}")
    });
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(c) => c.get(&url).send().await,
        Err(e) => {
            eprintln!("usher health: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            // A platform that is configured ("off" is not) and not ready.
            let waiting: Vec<String> = ["slack", "discord"]
                .iter()
                .filter(|p| body[**p]["ready"] == false && body[**p]["detail"] != "off")
                .map(|p| {
                    format!(
                        "{p}: {}",
                        body[*p]["detail"].as_str().unwrap_or("not ready")
                    )
                })
                .collect();
            if strict && !waiting.is_empty() {
                eprintln!(
                    "not ready ({url}, --strict): usher serves, but {}",
                    waiting.join("; ")
                );
                return ExitCode::FAILURE;
            }
            println!("ready ({url})");
            for w in &waiting {
                println!("  (not connected: {w}; --strict counts this as not ready)");
            }
            ExitCode::SUCCESS
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            eprintln!("not ready ({url} answered {status}): {}", body.trim());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: {url} could not be reached ({e}). Is `usher serve` running?");
            ExitCode::FAILURE
        }
    }
}
