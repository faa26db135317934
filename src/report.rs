//! Human-readable progress and summaries of `sync` and `diff` for the command line
//! (progress on stderr, results on stdout).

use std::collections::BTreeMap;
use std::io::Write;

use crate::apply::diff::{self, ObjectDiff};
use crate::apply::{Action, Cluster, Progress, SyncOptions};
use crate::cli::Failure;
use crate::plan::RenderedEnv;

fn connect_error(e: crate::apply::ClusterError) -> Failure {
    Failure::Failed(format!("{e} (check KUBECONFIG and --context)"))
}

/// Runs `sync` and prints what happened.
pub async fn run_sync(rendered: &RenderedEnv, context: Option<&str>, opts: &SyncOptions) -> Result<(), Failure> {
    let cluster = Cluster::connect(context).await.map_err(connect_error)?;
    let dry = if opts.dry_run { " (dry run)" } else { "" };
    let mut progress = |p: Progress| {
        let line = match p {
            Progress::WaveStarted { wave, apps, objects } => {
                format!("wave {wave}: {apps} apps, {objects} objects{dry}")
            }
            Progress::Applied { app, object, action } => match action {
                Action::Unchanged => return,
                a => format!("  {app}: {} {object}", action_word(a, opts.dry_run)),
            },
            Progress::Waiting { wave, healthy, total, example } => {
                format!("  wave {wave}: {healthy}/{total} healthy; waiting for {example}")
            }
            Progress::WaveHealthy { wave, elapsed } => {
                format!("wave {wave}: healthy after {:.1}s", elapsed.as_secs_f64())
            }
        };
        eprintln!("{line}");
    };
    let report = crate::apply::sync(&cluster, rendered, opts, &mut progress)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut objects = 0;
    for wave in &report.waves {
        for app in &wave.apps {
            for (_, a) in &app.applied {
                *counts.entry(action_word(*a, opts.dry_run)).or_default() += 1;
            }
        }
    }
    for wave in &rendered.waves {
        objects += wave.apps.iter().map(|a| a.objects.len()).sum::<usize>();
    }
    let mut out = String::new();
    for (app, r) in &report.pruned {
        out.push_str(&format!("{app}: {} {r}\n", if opts.dry_run { "would prune" } else { "pruned" }));
    }
    if let Some(why) = &report.prune_skipped {
        out.push_str(&format!("prune skipped: {why}\n"));
    }
    for app in &report.orphaned_apps {
        out.push_str(&format!(
            "{app}: no longer in the repository; its objects were left in place (sync with --prune --prune-removed-apps to delete them)\n"
        ));
    }
    let changes: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    out.push_str(&format!(
        "{}: {objects} objects in {} waves; {}{}; {} requests, {} writes\n",
        report.env,
        report.waves.len(),
        if changes.is_empty() { "no changes".to_string() } else { changes.join(", ") },
        if report.pruned.is_empty() { String::new() } else { format!(", {} pruned", report.pruned.len()) },
        report.requests,
        report.writes,
    ));
    let _ = std::io::stdout().write_all(out.as_bytes());
    if report.succeeded() {
        return Ok(());
    }
    let mut why = Vec::new();
    for wave in &report.waves {
        if let Some(f) = &wave.failure {
            why.push(format!("wave {} failed: {f}", wave.name));
        } else if wave.skipped {
            why.push(format!("wave {} was not started", wave.name));
        }
    }
    Err(Failure::Failed(why.join("\n")))
}

fn action_word(a: Action, dry_run: bool) -> &'static str {
    match (a, dry_run) {
        (Action::Created, false) => "created",
        (Action::Created, true) => "would create",
        (Action::Configured, false) => "configured",
        (Action::Configured, true) => "would configure",
        (Action::SelfHealed, false) => "self-healed (drift)",
        (Action::SelfHealed, true) => "would self-heal (drift)",
        (Action::Unchanged, _) => "unchanged",
        (Action::Pruned, false) => "pruned",
        (Action::Pruned, true) => "would prune",
    }
}

/// Runs `diff` and prints it; with `exit_code`, differences are a failure.
pub async fn run_diff(rendered: &RenderedEnv, context: Option<&str>, exit_code: bool) -> Result<(), Failure> {
    let cluster = Cluster::connect(context).await.map_err(connect_error)?;
    let entries = diff::diff(&cluster, rendered).await.map_err(|e| Failure::Failed(e.to_string()))?;
    let mut out = String::new();
    let (mut new, mut changed, mut same, mut unknown) = (0, 0, 0, 0);
    for e in &entries {
        match &e.diff {
            ObjectDiff::Same => same += 1,
            ObjectDiff::New(yaml) => {
                new += 1;
                out.push_str(&format!("+++ {}: {} (new)\n", e.app, e.object));
                for line in yaml.lines() {
                    out.push_str(&format!("+{line}\n"));
                }
            }
            ObjectDiff::Changed(d) => {
                changed += 1;
                out.push_str(&format!("~~~ {}: {}\n{d}", e.app, e.object));
            }
            ObjectDiff::Unknown(why) => {
                unknown += 1;
                out.push_str(&format!("??? {}: {}: {why}\n", e.app, e.object));
            }
        }
    }
    out.push_str(&format!(
        "{}: {new} new, {changed} changed, {same} unchanged, {unknown} not comparable\n",
        rendered.env
    ));
    let _ = std::io::stdout().write_all(out.as_bytes());
    if exit_code && new + changed + unknown > 0 {
        return Err(Failure::Failed(format!("{} objects differ", new + changed + unknown)));
    }
    Ok(())
}
