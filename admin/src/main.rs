//! `gatehouse`: the node binary (see `gatehouse_admin::cli`).

/// mimalloc: the proxy allocates and frees many small buffers per request; glibc malloc cost
/// about 9% of the engine's CPU under load (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse_admin::cli::main()
}
