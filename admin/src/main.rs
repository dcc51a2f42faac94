//! `gatehouse`: the node binary (see `gatehouse_admin::cli`).

fn main() -> std::process::ExitCode {
    gatehouse_admin::cli::main()
}
