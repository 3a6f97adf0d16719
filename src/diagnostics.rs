//! Telling a failure apart in the logs: a short reference the person who
//! met it can quote, and a caught panic's message. A leaf module, so the
//! outbox below the commands and the commands themselves share it.

/// A short id to find an error in the logs.
pub fn error_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "E{:08x}",
        (nanos as u64 ^ (std::process::id() as u64) << 32) & 0xffff_ffff
    )
}

/// The text of a caught panic, for the log.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
