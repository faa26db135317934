//! The command line: argument parsing, logging set-up, and exit codes (0 success, 1 the work
//! failed, 2 bad usage). Each command is a thin call into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::plan::{self, AppProblem, Plan};
use crate::render::{self, fs::DiskTree};
use crate::repo::Repository;

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
    /// Print every object of an environment (or one app) in apply order: wave, then kind.
    Render {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
    },
    /// Show the waves, apps, object counts, images and digests of an environment.
    Plan {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Validate every app in every environment; list every problem; exit 1 if there is any.
    Check,
    /// Apply an environment to the cluster of KUBECONFIG, wave by wave, waiting for health.
    Sync {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        /// Ask the server what would change (server-side dry run); write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete objects tidegate applied earlier that left the desired state.
        #[arg(long)]
        prune: bool,
        /// With --prune, also delete every object of apps removed from the repository.
        #[arg(long, requires = "prune")]
        prune_removed_apps: bool,
        /// How to reach the cluster.
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Run the controller and GitHub webhook server (settings: --config, then environment).
    Serve {
        /// Configuration file (YAML); environment variables override it.
        #[arg(long, env = "TIDEGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Promote an app's pinned image tags from one environment to the next: plan the change,
    /// evaluate the gates, open (or update) the pull request; --dry-run prints the diff and the
    /// gate results and writes nothing.
    Promote {
        /// The app.
        app: String,
        /// Source environment (default: the one before --to in the pipeline).
        #[arg(long)]
        from: Option<String>,
        /// Target environment.
        #[arg(long)]
        to: String,
        /// Print the file diff and the gate results; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Kubeconfig context of the source environment's cluster (default: the current one).
        #[arg(long)]
        context: Option<String>,
        /// Do not look at any cluster (the source-healthy gate then waits).
        #[arg(long)]
        no_cluster: bool,
        /// The GitHub repository, owner/name (default: from the origin remote).
        #[arg(long, env = "TIDEGATE_GITHUB_REPOSITORY", value_name = "OWNER/NAME")]
        github_repo: Option<String>,
        /// The branch the pull request targets (default: the checkout's current branch).
        #[arg(long)]
        base: Option<String>,
        /// Prometheus URL for every query gate, overriding the policy's addresses.
        #[arg(long, env = "TIDEGATE_PROMETHEUS_URL")]
        prometheus_url: Option<String>,
        /// GitHub REST API URL (GitHub Enterprise: https://HOST/api/v3).
        #[arg(long, env = "TIDEGATE_GITHUB_API_URL", default_value = "https://api.github.com")]
        github_api_url: String,
    },
    /// Show the health of objects, one result per object in input order: objects from files
    /// (`-f`), or an environment's rendered objects as they are live in the cluster (`--env`).
    /// Exit 0 when every object could be judged, whatever its health; 1 when some could not.
    Health {
        /// A file of objects: YAML, several documents, `List`s count as their items; `-` reads
        /// stdin. Repeatable.
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            required_unless_present = "env",
            conflicts_with = "env"
        )]
        files: Vec<PathBuf>,
        /// Judge this environment's objects as they are live in the cluster of KUBECONFIG.
        #[arg(long)]
        env: Option<String>,
        /// With --env: only this app.
        #[arg(long, requires = "env")]
        app: Option<String>,
        /// Output format: text for people, json for one JSON object per line.
        #[arg(long, short, value_enum, default_value = "text")]
        output: OutputFormat,
        /// With --env: kubeconfig context (default: the current context of KUBECONFIG).
        #[arg(long, requires = "env")]
        context: Option<String>,
    },
    /// Show how the cluster differs from the environment's desired state, per object.
    Diff {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        /// Exit 1 when there are differences (like `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
        /// How to reach the cluster.
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

/// How to reach the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig context (default: the current context of KUBECONFIG).
    #[arg(long)]
    pub context: Option<String>,
    /// How long each wave may take to become healthy, e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub wave_timeout: std::time::Duration,
    /// Namespace of tidegate's inventories.
    #[arg(long, default_value = crate::apply::inventory::DEFAULT_NAMESPACE, env = "TIDEGATE_INVENTORY_NAMESPACE")]
    pub inventory_namespace: String,
}

/// Parses `90s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?} (use e.g. 90s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s, m or h)")),
    };
    Ok(std::time::Duration::from_secs(secs))
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
    // Commands hold and walk rendered objects, which may nest as deep as the nesting limit.
    match crate::yaml::limits::on_deep_stack(|| run(args)) {
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
    if let Command::Serve { config } = &args.command {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            // Reconciles walk rendered objects as deep as the nesting limit allows.
            .thread_stack_size(crate::yaml::limits::DEEP_STACK_BYTES)
            .build()
            .map_err(|e| Failure::Failed(format!("failed to start: {e}")))?;
        return rt.block_on(crate::serve::run(config.as_deref())).map_err(|e| match e {
            crate::serve::ServeError::Config(c) => Failure::Usage(c.to_string()),
            other => Failure::Failed(other.to_string()),
        });
    }
    if let Command::Health { files, env: None, output, .. } = &args.command {
        // Objects from files need no repository; when --repo is one, its health rules apply.
        let opts = match DiskTree::new(&args.repo) {
            Ok(tree) => health_options(&tree)?,
            Err(_) if args.repo == std::path::Path::new(".") => crate::health::HealthOptions::default(),
            Err(e) => return Err(Failure::Usage(format!("cannot open repository {}: {e}", args.repo.display()))),
        };
        let report = crate::health_report::judge_files(files, &mut std::io::stdin().lock(), &opts)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        return print_health(&report, *output);
    }
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
        Command::Render { env, app } => {
            let repo = load_repo(&tree)?;
            let rendered = render_for(&repo, &tree, env, app.as_deref())?;
            write_stdout(&crate::yaml::emit_stream(rendered.objects_in_apply_order()))
        }
        Command::Plan { env, output } => {
            let repo = load_repo(&tree)?;
            check_env(&repo, env)?;
            let rendered = plan::render_env_summary(&repo, &tree, env).map_err(problems_failure)?;
            let plan = Plan::from_rendered(&rendered, crate::source::head_commit(tree.root()));
            match output {
                OutputFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Failed(e.to_string()))?;
                    text.push('\n');
                    write_stdout(&text)
                }
                OutputFormat::Text => write_stdout(&plan.to_text()),
            }
        }
        Command::Sync { env, app, dry_run, prune, prune_removed_apps, cluster } => {
            let repo = load_repo(&tree)?;
            let rendered = render_for(&repo, &tree, env, app.as_deref())?;
            let opts = crate::apply::SyncOptions {
                dry_run: *dry_run,
                prune: *prune,
                allow_app_deletion: *prune_removed_apps && app.is_none(),
                wave_timeout: cluster.wave_timeout,
                inventory_namespace: cluster.inventory_namespace.clone(),
                revision: crate::source::head_commit(tree.root()),
                health: health_options(&tree)?,
                ..Default::default()
            };
            runtime()?.block_on(crate::report::run_sync(&rendered, cluster.context.as_deref(), &opts))
        }
        Command::Diff { env, app, exit_code, cluster } => {
            let repo = load_repo(&tree)?;
            let rendered = render_for(&repo, &tree, env, app.as_deref())?;
            runtime()?.block_on(crate::report::run_diff(&rendered, cluster.context.as_deref(), *exit_code))
        }
        Command::Serve { .. } => unreachable!("handled above"),
        Command::Health { env, app, output, context, .. } => {
            let env = env.as_deref().unwrap_or_default();
            let repo = load_repo(&tree)?;
            let rendered = render_for(&repo, &tree, env, app.as_deref())?;
            let opts = health_options(&tree)?;
            let report = runtime()?.block_on(async {
                let cluster = crate::apply::Cluster::connect(context.as_deref())
                    .await
                    .map_err(|e| Failure::Failed(format!("{e} (check KUBECONFIG and --context)")))?;
                crate::health_report::judge_live(&cluster, &rendered, &opts)
                    .await
                    .map_err(|e| Failure::Failed(format!("failed to read the cluster: {e}")))
            })?;
            print_health(&report, *output)
        }
        Command::Promote {
            app,
            from,
            to,
            dry_run,
            context,
            no_cluster,
            github_repo,
            base,
            prometheus_url,
            github_api_url,
        } => {
            let repo = load_repo(&tree)?;
            check_env(&repo, to)?;
            if let Some(from) = from {
                check_env(&repo, from)?;
            }
            if repo.app(app).is_none() {
                return Err(Failure::Usage(format!("unknown app {app:?}; {}", repo.suggest_app(app))));
            }
            let opts = crate::bot::cli::PromoteOptions {
                app: app.clone(),
                from: from.clone(),
                to: to.clone(),
                dry_run: *dry_run,
                context: context.clone(),
                no_cluster: *no_cluster,
                github_repository: github_repo.clone(),
                base: base.clone(),
                prometheus_url: prometheus_url.clone(),
                github_api_url: github_api_url.trim_end_matches('/').to_string(),
                github_token: std::env::var("GITHUB_TOKEN")
                    .ok()
                    .filter(|t| !t.is_empty())
                    .map(crate::source::Secret::new),
            };
            let out =
                runtime()?.block_on(crate::bot::cli::promote(tree.root(), &tree, &repo, &opts)).map_err(
                    |e| match e {
                        crate::bot::cli::PromoteCliError::Usage(m) => Failure::Usage(m),
                        crate::bot::cli::PromoteCliError::Failed(m) => Failure::Failed(m),
                    },
                )?;
            write_stdout(&out)
        }
        Command::Check => {
            let repo = load_repo(&tree)?;
            let (objects, mut problems) = plan::check(&repo, &tree);
            // So are its health rules (CEL compiled, Lua loaded).
            if let Err(errors) = crate::health::custom::HealthRules::load(&tree) {
                problems.extend(errors.0.into_iter().map(|e| AppProblem {
                    env: "*".into(),
                    app: "health".into(),
                    message: e.to_string(),
                }));
            }
            // The promotion policy is part of the repository: its problems are check's too.
            if let Err(errors) = crate::promote::Policy::load(&tree, &repo) {
                problems.extend(errors.0.into_iter().map(|e| AppProblem {
                    env: "*".into(),
                    app: "promotion".into(),
                    message: e.to_string(),
                }));
            }
            if problems.is_empty() {
                let deployments: usize = repo.apps.iter().map(|a| a.overlays.len()).sum();
                write_stdout(&format!(
                    "ok: {} apps in {} waves, {} environments, {deployments} app deployments, {objects} objects\n",
                    repo.apps.len(),
                    repo.waves.len(),
                    repo.environments.len()
                ))
            } else {
                Err(problems_failure(problems))
            }
        }
    }
}

/// Prints one line per judged object (stdout) and one error per object that could not be
/// judged (stderr), in input order; exit 1 when there was any of the latter.
fn print_health(report: &crate::health_report::HealthReport, output: OutputFormat) -> Result<(), Failure> {
    for entry in &report.entries {
        match entry {
            Ok(line) => {
                let mut text = match output {
                    OutputFormat::Text => line.to_text(),
                    OutputFormat::Json => line.to_json(),
                };
                text.push('\n');
                write_stdout(&text)?;
            }
            Err(why) => eprintln!("error: {why}"),
        }
    }
    match report.unjudged() {
        0 => Ok(()),
        n => Err(Failure::Failed(format!(
            "{n} of {} object{} could not be judged",
            report.entries.len(),
            if report.entries.len() == 1 { "" } else { "s" }
        ))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("failed to start: {e}")))
}

fn render_for(repo: &Repository, tree: &DiskTree, env: &str, app: Option<&str>) -> Result<plan::RenderedEnv, Failure> {
    check_env(repo, env)?;
    if let Some(app) = app {
        match repo.app(app) {
            None => return Err(Failure::Usage(format!("unknown app {app:?}; {}", repo.suggest_app(app)))),
            Some(a) if !a.overlays.contains_key(env) => {
                return Err(Failure::Usage(format!(
                    "app {app} is not deployed to {env} (its environments: {})",
                    a.environments.join(", ")
                )));
            }
            Some(_) => {}
        }
    }
    plan::render_env(repo, tree, env, app).map_err(problems_failure)
}

fn load_repo(tree: &DiskTree) -> Result<Repository, Failure> {
    Repository::load(tree).map_err(|e| {
        let n = e.0.len();
        Failure::Failed(format!("the repository description has {n} problem{}:\n{e}", if n == 1 { "" } else { "s" }))
    })
}

/// The health options of the repository: its health rules, if it declares any.
fn health_options(tree: &DiskTree) -> Result<crate::health::HealthOptions, Failure> {
    crate::health::custom::HealthRules::load(tree).map(crate::health::HealthOptions::with_rules).map_err(|e| {
        let n = e.0.len();
        Failure::Failed(format!(
            "the repository's health rules have {n} problem{}:\n{e}",
            if n == 1 { "" } else { "s" }
        ))
    })
}

fn check_env(repo: &Repository, env: &str) -> Result<(), Failure> {
    match repo.environment(env) {
        Some(_) => Ok(()),
        None => Err(Failure::Usage(format!("unknown environment {env:?}; {}", repo.suggest_environment(env)))),
    }
}

fn problems_failure(problems: Vec<AppProblem>) -> Failure {
    let n = problems.len();
    let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Failure::Failed(format!("{n} problem{} found:\n{}", if n == 1 { "" } else { "s" }, list.join("\n")))
}
