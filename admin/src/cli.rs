//! The `gatehouse` command line: start a node from run.properties, or run a helper command.
//!
//! Exit codes: 0 clean shutdown; 2 bad command line or bad run.properties; 1 any other start-up
//! failure, with a one-line cause.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{echo, logging, node};
use clap::{Parser, Subcommand};
use gatehouse_gateway::props;

/// Gatehouse: an identity-aware reverse proxy and access gateway.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    /// run.properties of this node.
    #[arg(
        short = 'p',
        long = "properties",
        value_name = "PATH",
        default_value = "run.properties"
    )]
    properties: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the node (the default).
    Run,
    /// Convert or check a configuration document.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run a sample backend that echoes each request as JSON.
    Echo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print the export JSON (`{"version","data"}`) of a TOML or JSON document.
    ToJson {
        /// TOML startup document or JSON export.
        file: PathBuf,
    },
    /// Print the TOML startup document of a JSON export (or TOML document).
    ToToml {
        /// JSON export or TOML startup document.
        file: PathBuf,
    },
    /// Check a document as the node would at start (exit 1 listing every problem).
    Check {
        /// TOML startup document or JSON export.
        file: PathBuf,
    },
}

/// With a node's run.properties at hand, its secret key, so that its exports' encrypted secrets
/// can be read (and written again encrypted).
fn install_node_key(properties: &std::path::Path) {
    if let Ok((props, _)) = props::load(properties) {
        if props.data_dir.join(crate::keys::SECRET_KEY_FILE).exists() {
            let _ = crate::keys::install_secret_key(&props.data_dir);
        }
    }
}

fn run_config(action: ConfigAction) -> ExitCode {
    let (file, output) = match &action {
        ConfigAction::ToJson { file } => (file, "json"),
        ConfigAction::ToToml { file } => (file, "toml"),
        ConfigAction::Check { file } => (file, "check"),
    };
    let result = crate::convert::read(file).and_then(|doc| match output {
        "json" => Ok(crate::convert::to_json(&doc)),
        "toml" => crate::convert::to_toml(&doc),
        _ => Ok(format!("{}: valid", file.display())),
    });
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse config: {e}");
            ExitCode::from(1)
        }
    }
}

/// Parses the command line and runs; the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(Command::Config { action }) = cli.command {
        install_node_key(&cli.properties);
        return run_config(action);
    }
    let runtime = match runtime_builder().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Echo { listen } => match runtime.block_on(echo::run(listen)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse echo: {e}");
                ExitCode::from(1)
            }
        },
        Command::Run | Command::Config { .. } => run_node(&runtime, &cli.properties),
    }
}

/// The scheduler: confined to one CPU (`taskset`, a cgroup), one thread runs every task and
/// polls the sockets itself; the work-stealing scheduler would only add its cross-thread
/// bookkeeping there. With more CPUs, one worker per CPU.
fn runtime_builder() -> tokio::runtime::Builder {
    match std::thread::available_parallelism().map(std::num::NonZeroUsize::get) {
        Ok(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}

fn run_node(runtime: &tokio::runtime::Runtime, path: &std::path::Path) -> ExitCode {
    let (props, warnings) = match props::load(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return ExitCode::from(2);
        }
    };
    let _guard = logging::init(props.log_format);
    for w in warnings {
        tracing::warn!("{w}");
    }
    match runtime.block_on(node::run(props)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            drop(_guard);
            eprintln!("gatehouse: {e}");
            ExitCode::from(1)
        }
    }
}
