//! `fake-kube --listen 127.0.0.1:0 --kubeconfig PATH [--ready-delay-ms N] [--crd-delay-ms N] [--nodes N]`:
//! serves the fake API server until SIGTERM or SIGINT, for benchmarks. Prints
//! `listening on http://…` once ready. Control endpoints: `GET /_fake/requests`,
//! `GET /_fake/stats`, `GET /_fake/objects`, `POST /_fake/reset-requests`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fake_kube::{FakeKube, Options};

const USAGE: &str =
    "usage: fake-kube --listen ADDR --kubeconfig PATH [--ready-delay-ms N] [--crd-delay-ms N] [--nodes N]";

fn main() {
    if let Err(e) = run() {
        eprintln!("fake-kube: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut kubeconfig: Option<PathBuf> = None;
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        let millis = |v: &str| v.parse::<u64>().map(Duration::from_millis).map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value)),
            "--ready-delay-ms" => opts.ready_delay = millis(&value)?,
            "--crd-delay-ms" => opts.crd_establish_delay = millis(&value)?,
            "--nodes" => opts.nodes = value.parse().map_err(|e| format!("--nodes: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let kube = FakeKube::start_at(listen, opts).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    if let Some(path) = &kubeconfig {
        kube.write_kubeconfig(path);
    }
    println!("listening on {}", kube.url());
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
    drop(kube);
    Ok(())
}
