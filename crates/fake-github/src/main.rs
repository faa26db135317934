//! `fake-github --listen 127.0.0.1:8081 --repo owner/name=PATH [--repo …] [--token T]
//! [--user LOGIN] [--collaborator owner/name:LOGIN=ROLE …] [--web-base URL]`: serves the fake
//! GitHub until SIGTERM or SIGINT, for manual tries and benchmarks. Prints
//! `listening on http://…` once ready.

use std::net::SocketAddr;
use std::path::PathBuf;

use fake_github::{FakeGitHub, Options};

const USAGE: &str = "usage: fake-github --listen ADDR --repo OWNER/NAME=PATH [--repo …] [--token T] [--user LOGIN] \
                     [--collaborator OWNER/NAME:LOGIN=ROLE …] [--web-base URL]";

fn main() {
    if let Err(e) = run() {
        eprintln!("fake-github: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut repos: Vec<(String, PathBuf)> = Vec::new();
    let mut collaborators: Vec<(String, String, String)> = Vec::new();
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") && !v.is_empty() && f != "--repo" && f != "--collaborator" => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--repo" => {
                let (name, path) = value.split_once('=').ok_or("--repo takes OWNER/NAME=PATH")?;
                if !name.contains('/') {
                    return Err(format!("--repo {value}: the name must be OWNER/NAME"));
                }
                repos.push((name.to_string(), PathBuf::from(path)));
            }
            "--collaborator" => {
                let (repo, rest) = value.split_once(':').ok_or("--collaborator takes OWNER/NAME:LOGIN=ROLE")?;
                let (login, role) = rest.split_once('=').ok_or("--collaborator takes OWNER/NAME:LOGIN=ROLE")?;
                collaborators.push((repo.into(), login.into(), role.into()));
            }
            "--token" => opts.token = Some(value),
            "--user" => opts.token_user = value,
            "--web-base" => opts.web_base = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let gh = FakeGitHub::start_at(listen, opts).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    for (name, path) in &repos {
        if git2::Repository::open(path).is_err() {
            return Err(format!("--repo {name}={}: not a git repository", path.display()));
        }
        gh.add_repo(name, path);
    }
    for (repo, login, role) in &collaborators {
        gh.set_permission(repo, login, role);
    }
    println!("listening on {}", gh.url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot install a SIGTERM handler: {e}"))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    let violations = gh.violations();
    if !violations.is_empty() {
        eprintln!("fake-github: {} request(s) broke GitHub's OpenAPI description:", violations.len());
        for v in violations {
            eprintln!("  {v}");
        }
    }
    Ok(())
}
