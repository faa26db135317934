//! The command line: argument parsing, logging set-up, and exit codes (0 success, 1 the work
//! failed, 2 bad usage). Each command is a thin call into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::render::{self, fs::DiskTree};

/// tidegate: GitOps reconciler and promotion bot.
#[derive(Debug, Parser)]
#[command(name = "tidegate", version, about, long_about = None)]
pub struct Args {
    /// The GitOps repository (a checkout).
    #[arg(long, global = true, default_value = ".", env = "TIDEGATE_REPO_PATH", value_name = "PATH")]
    pub repo: PathBuf,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "human", env = "TIDEGATE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable table.
    Text,
    /// One JSON object.
    Json,
}

/// tidegate's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build one kustomization directory, like `kubectl kustomize DIR`.
    Build {
        /// The kustomization directory (inside --repo).
        dir: PathBuf,
    },
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    crate::logging::init(args.log_format == LogFormat::Json);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage (exit 2): wrong arguments, unknown environment or app.
    Usage(String),
    /// The work failed (exit 1): a render error, a failed check.
    Failed(String),
}

fn open_repo(args: &Args) -> Result<DiskTree, Failure> {
    DiskTree::new(&args.repo)
        .map_err(|e| Failure::Usage(format!("cannot open repository {}: {e}", args.repo.display())))
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`tidegate render | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!("failed to write output: {e}"))),
    }
}

/// Runs a parsed command.
pub fn run(args: Args) -> Result<(), Failure> {
    let tree = open_repo(&args)?;
    match &args.command {
        Command::Build { dir } => {
            let rel = tree.repo_path_of(dir).map_err(|_| {
                Failure::Usage(format!(
                    "{} is outside the repository root {} (pass --repo)",
                    dir.display(),
                    tree.root().display()
                ))
            })?;
            let text = render::build_yaml(&tree, &rel).map_err(|e| Failure::Failed(e.to_string()))?;
            write_stdout(&text)
        }
    }
}
