//! The `usher` binary: the command line lives in [`cli`].

mod cli;

/// mimalloc: catalog imports allocate many small values; the system
/// allocator spent a third of the parsing time in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::main().await
}
