//! `usher outbox list|retry`: what waits, and sending the dead letters again.

use super::*;

pub(crate) async fn outbox_command(env: &Env, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let result = async {
        match cmd {
            OutboxCommand::List { dead, limit } => {
                let jobs = outbox::list(&db.pool, dead, limit).await?;
                if jobs.is_empty() {
                    println!(
                        "{}",
                        if dead {
                            "no dead letters"
                        } else {
                            "the outbox is empty: nothing waiting, nothing dead"
                        }
                    );
                }
                for j in jobs {
                    println!(
                        "{:>6}  {:<7}  {:<14}  {}  attempts {}/{}  next {}{}",
                        j.id,
                        j.state,
                        j.kind,
                        j.destination,
                        j.attempts,
                        j.max_attempts,
                        j.next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        j.last_error
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            OutboxCommand::Retry { id } => match outbox::retry(&db.pool, id).await? {
                None => {
                    eprintln!("usher: there is no outbox job {id}; `usher outbox list` shows them");
                    Ok(ExitCode::from(1))
                }
                Some(state) if state == "done" => {
                    println!("job {id} was delivered already; nothing to retry");
                    Ok(ExitCode::SUCCESS)
                }
                Some(_) => {
                    println!("job {id} is queued again and will be sent by the next worker round");
                    Ok(ExitCode::SUCCESS)
                }
            },
        }
    }
    .await;
    db.close().await;
    result
}
