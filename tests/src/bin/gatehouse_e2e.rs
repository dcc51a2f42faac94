//! The node under test: exactly the `gatehouse` entry point.

fn main() -> std::process::ExitCode {
    gatehouse_admin::cli::main()
}
