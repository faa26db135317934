//! The git source against real git: fixture repositories made with the git CLI, served over
//! `file://`, `git://` (`git daemon`) and smart HTTP (`git http-backend` behind a small HTTP
//! server written here, with basic auth).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tidegate::render::fs::{EntryKind, RepoPath, SourceTree};
use tidegate::source::{Auth, GitTree, LAST_GOOD_REF, Secret, Snapshot, Source, SourceError, SourceSpec};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Runs git hermetically (no user or system config) and returns its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A bare origin `repo.git` under a root directory (what the servers serve), and a work clone
/// that commits and pushes to it.
struct Origin {
    root: TempDir,
    work: PathBuf,
}

impl Origin {
    fn new(files: &[(&str, &str)]) -> Origin {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        git(root.path(), &["init", "-q", "--bare", "-b", "main", "repo.git"]);
        git(root.path(), &["init", "-q", "-b", "main", "work"]);
        git(&work, &["remote", "add", "origin", "../repo.git"]);
        let origin = Origin { root, work };
        origin.commit(files, "first");
        origin
    }

    fn bare(&self) -> PathBuf {
        self.root.path().join("repo.git")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let p = self.work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
    }

    /// Commits `files` (written over the work tree) and pushes; returns the commit.
    fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        self.write(files);
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "--allow-empty", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn remove(&self, path: &str) -> String {
        git(&self.work, &["rm", "-q", path]);
        git(&self.work, &["commit", "-q", "-m", "remove"]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Rewrites history: resets to `base`, commits `files` (if any), force-pushes.
    fn force_push(&self, base: &str, files: &[(&str, &str)]) -> String {
        git(&self.work, &["reset", "-q", "--hard", base]);
        if !files.is_empty() {
            self.write(files);
            git(&self.work, &["add", "-A"]);
            git(&self.work, &["commit", "-q", "-m", "rewritten"]);
        }
        git(&self.work, &["push", "-q", "--force", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn spec(url: &str) -> SourceSpec {
    SourceSpec::new(url, "main").with_timeout(Duration::from_secs(20))
}

fn read(snapshot: &Snapshot, path: &str) -> String {
    String::from_utf8(snapshot.tree.read(&RepoPath::new(path).unwrap()).unwrap()).unwrap()
}

/// Asserts that no file under `dir` contains `needle`.
fn assert_not_in_dir(dir: &Path, needle: &str) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} contains the secret {needle:?}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// git daemon

/// `git daemon` serving a directory; killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> GitDaemon {
        for _ in 0..5 {
            let port = free_port();
            // `git daemon` would run git-daemon as a child process that outlives a kill of `git`:
            // start git-daemon itself so that dropping the handle stops the server.
            let mut child = Command::new(Path::new(&git(base, &["--exec-path"])).join("git-daemon"))
                .args([
                    "--reuseaddr",
                    &format!("--base-path={}", base.display()),
                    "--export-all",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                ])
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("git daemon starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return GitDaemon { child, port };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken in the meantime: try another one
                }
                assert!(Instant::now() < deadline, "git daemon did not listen on port {port} within 10 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("git daemon could not start");
    }

    fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// smart HTTP: git http-backend as CGI behind a tiny HTTP/1.1 server

/// Serves `project_root` over smart HTTP; with a token, every request needs HTTP basic auth
/// `x-access-token:<token>`. Records each request as `METHOD /path` (or `401 METHOD /path`).
struct HttpGit {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpGit {
    fn start(project_root: &Path, token: Option<&str>) -> HttpGit {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let expected = token.map(|t| format!("Basic {}", base64(format!("x-access-token:{t}").as_bytes())));
        let root = project_root.to_path_buf();
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, requests, expected) = (root.clone(), requests.clone(), expected.clone());
                    std::thread::spawn(move || {
                        let _ = serve_cgi(stream, &root, expected.as_deref(), &requests);
                    });
                }
            })
        };
        HttpGit { port, stop, requests, thread: Some(thread) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Handles the requests of one connection.
fn serve_cgi(stream: TcpStream, root: &Path, expected: Option<&str>, requests: &Mutex<Vec<String>>) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let body = read_body(&mut reader, &headers)?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if let Some(expected) = expected
            && headers.get("authorization").map(String::as_str) != Some(expected)
        {
            requests.lock().unwrap().push(format!("401 {method} {path}"));
            let msg = "authentication required\n";
            write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n\r\n{msg}",
                msg.len()
            )?;
            out.flush()?;
            continue;
        }
        requests.lock().unwrap().push(format!("{method} {path}"));
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env("REQUEST_METHOD", &method)
            .env("CONTENT_TYPE", headers.get("content-type").map(String::as_str).unwrap_or(""))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", headers.get("content-encoding").map(String::as_str).unwrap_or(""))
            .env("GIT_PROTOCOL", headers.get("git-protocol").map(String::as_str).unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        // Stream the request body in while the response streams out.
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let mut cgi = BufReader::new(child.stdout.take().unwrap());
        let mut status = "200 OK".to_string();
        let mut response_headers = String::new();
        loop {
            let mut h = String::new();
            if cgi.read_line(&mut h)? == 0 {
                break;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            match h.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
                _ => response_headers.push_str(&format!("{h}\r\n")),
            }
        }
        write!(out, "HTTP/1.1 {status}\r\n{response_headers}Transfer-Encoding: chunked\r\n\r\n")?;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = cgi.read(&mut buf)?;
            if n == 0 {
                break;
            }
            write!(out, "{n:x}\r\n")?;
            out.write_all(&buf[..n])?;
            out.write_all(b"\r\n")?;
        }
        out.write_all(b"0\r\n\r\n")?;
        out.flush()?;
        let _ = feeder.join();
        let _ = child.wait();
    }
}

fn read_body(reader: &mut BufReader<TcpStream>, headers: &HashMap<String, String>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server that accepts connections and never answers; closes them on drop.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, held) = (stop.clone(), held.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(s) = stream {
                        held.lock().unwrap().push(s);
                    }
                }
            })
        };
        Silent { port, stop, held, thread: Some(thread) }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// file://

#[test]
fn file_url_first_clone_noop_refresh_and_new_commit() {
    let origin = Origin::new(&[("app/kustomization.yaml", "resources: []\n"), ("a.txt", "v1")]);
    let c1 = git(&origin.work, &["rev-parse", "HEAD"]);
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(spec(&origin.file_url()), data.path()).unwrap();
    assert!(source.last_good().unwrap().is_none(), "nothing before the first refresh");

    let first = source.refresh().unwrap();
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(first.fetched && first.changed);
    assert_eq!(first.snapshot.commit, c1);
    assert_eq!(first.snapshot.commit.len(), 40);
    assert_eq!(first.snapshot.branch, "main");
    assert_eq!(read(&first.snapshot, "a.txt"), "v1");
    assert_eq!(first.snapshot.tree.kind(&RepoPath::new("app").unwrap()), Some(EntryKind::Dir));

    // The cache: a bare repository named by 16 hex digits under <data>/git, with the last good ref.
    let cache = source.cache_dir();
    assert_eq!(cache.parent().unwrap(), data.path().join("git"));
    let name = cache.file_name().unwrap().to_str().unwrap();
    assert!(name.len() == 16 && name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    let cache_repo = git2::Repository::open_bare(cache).unwrap();
    assert_eq!(cache_repo.refname_to_id(LAST_GOOD_REF).unwrap().to_string(), c1);

    let again = source.refresh().unwrap();
    assert!(!again.fetched, "the remote head did not move: no fetch");
    assert!(!again.changed && again.error.is_none());
    assert_eq!(again.snapshot.commit, c1);

    let c2 = origin.commit(&[("a.txt", "v2")], "second");
    let next = source.refresh().unwrap();
    assert!(next.fetched && next.changed && next.error.is_none());
    assert_eq!(next.snapshot.commit, c2);
    assert_eq!(read(&next.snapshot, "a.txt"), "v2");
    assert_eq!(source.last_good().unwrap().unwrap().commit, c2);
}

#[test]
fn a_local_path_is_a_file_url() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let data = tempfile::tempdir().unwrap();
    let by_path = Source::new(spec(origin.bare().to_str().unwrap()), data.path()).unwrap();
    let r = by_path.refresh().unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(read(&r.snapshot, "a.txt"), "v1");
    let by_url = Source::new(spec(&origin.file_url()), data.path()).unwrap();
    assert_eq!(by_url.cache_dir(), by_path.cache_dir(), "a path and its file:// URL share a cache");
    assert!(!by_url.refresh().unwrap().fetched);
}

#[test]
fn a_missing_branch_and_a_bad_branch_name_are_reported() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(SourceSpec::new(origin.file_url(), "release"), data.path()).unwrap();
    let err = source.refresh().unwrap_err();
    assert!(matches!(err, SourceError::BranchNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("failed to find branch release on file://"), "{msg}");

    let err = Source::new(SourceSpec::new(origin.file_url(), "bad..name"), data.path()).unwrap_err();
    assert!(matches!(err, SourceError::InvalidBranch { .. }), "{err:?}");
}

#[test]
fn a_pinned_snapshot_keeps_reading_its_commit_after_the_branch_moved() {
    let origin = Origin::new(&[("a.txt", "v1"), ("gone.txt", "still here")]);
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(spec(&origin.file_url()), data.path()).unwrap();
    let pinned = source.refresh().unwrap().snapshot;
    origin.commit(&[("a.txt", "v2")], "second");
    let c3 = origin.remove("gone.txt");
    let newer = source.refresh().unwrap().snapshot;
    assert_eq!(newer.commit, c3);
    assert_eq!(read(&newer, "a.txt"), "v2");
    assert_eq!(newer.tree.kind(&RepoPath::new("gone.txt").unwrap()), None);
    // The old snapshot is still the old commit, files and all.
    assert_eq!(read(&pinned, "a.txt"), "v1");
    assert_eq!(read(&pinned, "gone.txt"), "still here");
    assert_eq!(pinned.tree.list(&RepoPath::root()).unwrap(), vec!["a.txt", "gone.txt"]);
    // And it can be used from another thread while the source refreshes again.
    let clone = pinned.clone();
    let t = std::thread::spawn(move || read(&clone, "a.txt"));
    origin.commit(&[("a.txt", "v4")], "fourth");
    source.refresh().unwrap();
    assert_eq!(t.join().unwrap(), "v1");
}

#[test]
fn a_force_push_is_not_followed_by_default_and_the_last_good_commit_survives_restarts() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let c1 = git(&origin.work, &["rev-parse", "HEAD"]);
    let c2 = origin.commit(&[("a.txt", "v2")], "second");
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(spec(&origin.file_url()), data.path()).unwrap();
    assert_eq!(source.refresh().unwrap().snapshot.commit, c2);

    let rewritten = origin.force_push(&c1, &[("a.txt", "rewritten")]);
    let r = source.refresh().unwrap();
    assert_eq!(r.snapshot.commit, c2, "keeps serving the last good commit");
    assert_eq!(read(&r.snapshot, "a.txt"), "v2");
    assert!(r.fetched && !r.changed);
    match &r.error {
        Some(SourceError::ForcePushed { from, to, branch, .. }) => {
            assert_eq!((from, to, branch.as_str()), (&c2, &rewritten, "main"));
        }
        other => panic!("expected ForcePushed, got {other:?}"),
    }
    let msg = r.error.unwrap().to_string();
    assert!(msg.starts_with("failed to follow branch main of file://") && msg.contains(&rewritten), "{msg}");

    // Asking again does not fetch again, and still reports the force-push.
    let r = source.refresh().unwrap();
    assert!(!r.fetched);
    assert_eq!(r.snapshot.commit, c2);
    assert!(matches!(r.error, Some(SourceError::ForcePushed { .. })));

    // A restart (a new Source on the same data dir) still serves the last good commit.
    drop(source);
    let restarted = Source::new(spec(&origin.file_url()), data.path()).unwrap();
    assert_eq!(restarted.last_good().unwrap().unwrap().commit, c2);
    let r = restarted.refresh().unwrap();
    assert_eq!(r.snapshot.commit, c2);
    assert!(matches!(r.error, Some(SourceError::ForcePushed { .. })));

    // A reset backwards is not a descendant either.
    let back = origin.force_push(&c1, &[]);
    let r = restarted.refresh().unwrap();
    assert_eq!(r.snapshot.commit, c2);
    assert!(matches!(&r.error, Some(SourceError::ForcePushed { to, .. }) if *to == back));
}

#[test]
fn follow_force_push_switches_to_the_rewritten_branch() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let c1 = git(&origin.work, &["rev-parse", "HEAD"]);
    origin.commit(&[("a.txt", "v2")], "second");
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(spec(&origin.file_url()).with_follow_force_push(true), data.path()).unwrap();
    let old = source.refresh().unwrap().snapshot;
    let rewritten = origin.force_push(&c1, &[("a.txt", "rewritten")]);
    let r = source.refresh().unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.fetched && r.changed);
    assert_eq!(r.snapshot.commit, rewritten);
    assert_eq!(read(&r.snapshot, "a.txt"), "rewritten");
    assert_eq!(source.last_good().unwrap().unwrap().commit, rewritten);
    // The snapshot pinned before the force-push still reads its commit.
    assert_eq!(read(&old, "a.txt"), "v2");
}

#[test]
fn two_sources_on_one_cache_refresh_concurrently_without_errors() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let data = tempfile::tempdir().unwrap();
    let a = Arc::new(Source::new(spec(&origin.file_url()), data.path()).unwrap());
    let b = Arc::new(Source::new(spec(&origin.file_url()), data.path()).unwrap());
    assert_eq!(a.cache_dir(), b.cache_dir());
    let mut threads = Vec::new();
    for s in [a.clone(), b.clone(), a.clone(), b.clone()] {
        threads.push(std::thread::spawn(move || {
            for _ in 0..5 {
                let r = s.refresh().unwrap();
                assert!(r.error.is_none(), "{:?}", r.error);
            }
        }));
    }
    let c2 = origin.commit(&[("a.txt", "v2")], "second");
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.refresh().unwrap().snapshot.commit, c2);
    assert_eq!(b.refresh().unwrap().snapshot.commit, c2);
}

// ---------------------------------------------------------------------------------------------
// git://

#[test]
fn git_daemon_clone_noop_update_and_unreachable_remote_keeps_last_good() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let daemon = GitDaemon::start(origin.root.path());
    let url = daemon.url("repo.git");
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(spec(&url), data.path()).unwrap();

    let first = source.refresh().unwrap();
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(first.fetched);
    assert_eq!(read(&first.snapshot, "a.txt"), "v1");
    assert!(!source.refresh().unwrap().fetched, "no-op refresh skips the fetch");

    let c2 = origin.commit(&[("a.txt", "v2")], "second");
    let next = source.refresh().unwrap();
    assert!(next.fetched && next.changed);
    assert_eq!(next.snapshot.commit, c2);
    assert_eq!(read(&next.snapshot, "a.txt"), "v2");

    drop(daemon); // the port is closed now
    origin.commit(&[("a.txt", "v3")], "third");
    let r = source.refresh().unwrap();
    assert_eq!(r.snapshot.commit, c2, "the last good commit is still served");
    assert!(!r.fetched && !r.changed);
    let err = r.error.expect("the failure is reported");
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("failed to reach {url} for branch main: ")), "{msg}");
}

#[test]
fn a_closed_port_before_any_fetch_is_an_error() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{}/repo.git", free_port());
    let source = Source::new(spec(&url), data.path()).unwrap();
    let err = source.refresh().unwrap_err();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// smart HTTP

#[test]
fn http_token_auth_clones_and_a_noop_refresh_transfers_no_pack() {
    let token = "tok-3f9a7c1e5b2d";
    let origin = Origin::new(&[("a.txt", "v1")]);
    let server = HttpGit::start(origin.root.path(), Some(token));
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let source =
        Source::new(spec(&server.url("repo.git")).with_auth(Auth::token_from_file(&token_file).unwrap()), data.path())
            .unwrap();

    let first = source.refresh().unwrap();
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(first.fetched);
    assert_eq!(read(&first.snapshot, "a.txt"), "v1");
    let log = server.take_requests();
    assert!(log.iter().any(|r| r == "POST /repo.git/git-upload-pack"), "{log:?}");

    let again = source.refresh().unwrap();
    assert!(!again.fetched);
    let log = server.take_requests();
    assert!(log.iter().any(|r| r.starts_with("GET /repo.git/info/refs")), "the head was asked for: {log:?}");
    assert!(!log.iter().any(|r| r.contains("POST")), "no pack was negotiated or transferred: {log:?}");

    let c2 = origin.commit(&[("a.txt", "v2")], "second");
    let next = source.refresh().unwrap();
    assert!(next.fetched && next.error.is_none());
    assert_eq!(next.snapshot.commit, c2);
    let log = server.take_requests();
    assert!(log.iter().any(|r| r == "POST /repo.git/git-upload-pack"), "{log:?}");

    // The token is nowhere in the cache, and the cache has no remote configured.
    std::fs::remove_file(&token_file).unwrap();
    assert_not_in_dir(data.path(), token);
    let config = std::fs::read_to_string(source.cache_dir().join("config")).unwrap();
    assert!(!config.contains("[remote") && !config.contains("127.0.0.1"), "{config}");
}

#[test]
fn a_wrong_or_missing_token_is_an_auth_error_that_never_shows_the_token() {
    let right = "right-token-8c2e41";
    let wrong = "wrong-token-5d7b93";
    let origin = Origin::new(&[("a.txt", "v1")]);
    let c1 = git(&origin.work, &["rev-parse", "HEAD"]);
    let server = HttpGit::start(origin.root.path(), Some(right));
    let url = server.url("repo.git");
    let data = tempfile::tempdir().unwrap();

    let bad = Source::new(spec(&url).with_auth(Auth::Token(Secret::new(wrong))), data.path()).unwrap();
    let err = bad.refresh().unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("failed to authenticate to {url} for branch main")), "{msg}");
    assert!(!msg.contains(wrong) && !format!("{err:?}").contains(wrong), "{msg}");
    assert!(!format!("{bad:?}").contains(wrong));

    let none = Source::new(spec(&url), data.path()).unwrap();
    let err = none.refresh().unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("none are configured"), "{err}");

    // With a last good commit (fetched with the right token), a later auth failure keeps it.
    let good = Source::new(spec(&url).with_auth(Auth::Token(Secret::new(right))), data.path()).unwrap();
    assert_eq!(good.refresh().unwrap().snapshot.commit, c1);
    origin.commit(&[("a.txt", "v2")], "second");
    let r = bad.refresh().unwrap();
    assert_eq!(r.snapshot.commit, c1);
    assert!(matches!(r.error, Some(SourceError::Auth { .. })), "{:?}", r.error);
    assert_not_in_dir(data.path(), wrong);
    assert_not_in_dir(data.path(), right);
}

#[test]
fn credentials_in_the_url_are_redacted_and_never_stored() {
    let token = "url-token-0e4f6a";
    let origin = Origin::new(&[("a.txt", "v1")]);
    let server = HttpGit::start(origin.root.path(), Some(token));
    let data = tempfile::tempdir().unwrap();
    let url = server.url("repo.git").replace("http://", &format!("http://x-access-token:{token}@"));
    let source = Source::new(spec(&url), data.path()).unwrap();
    assert!(!source.url().to_string().contains(token));
    assert_eq!(source.url().to_string(), server.url("repo.git").replace("http://", "http://***@"));
    let r = source.refresh().unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(read(&r.snapshot, "a.txt"), "v1");
    assert_not_in_dir(data.path(), token);

    // The same location with another password shares the cache: the last good commit is
    // served and the auth failure reported, without the password.
    let wrong = server.url("repo.git").replace("http://", "http://x-access-token:nope-pw-71c3@");
    let wrong_source = Source::new(spec(&wrong), data.path()).unwrap();
    assert_eq!(wrong_source.cache_dir(), source.cache_dir());
    let r = wrong_source.refresh().unwrap();
    assert_eq!(read(&r.snapshot, "a.txt"), "v1");
    let err = r.error.expect("the auth failure is reported");
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(!msg.contains("nope-pw-71c3") && msg.contains("http://***@127.0.0.1"), "{msg}");
    assert_not_in_dir(data.path(), "nope-pw-71c3");
}

// ---------------------------------------------------------------------------------------------
// timeouts

#[test]
fn a_silent_server_times_out_within_the_timeout() {
    let silent = Silent::start();
    let timeout = Duration::from_millis(1500);
    for url in
        [format!("http://127.0.0.1:{}/repo.git", silent.port), format!("git://127.0.0.1:{}/repo.git", silent.port)]
    {
        let data = tempfile::tempdir().unwrap();
        let source = Source::new(SourceSpec::new(&url, "main").with_timeout(timeout), data.path()).unwrap();
        let started = Instant::now();
        let err = source.refresh().unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, SourceError::Timeout { .. }), "{url}: {err:?}");
        assert!(took >= timeout && took < timeout + Duration::from_secs(3), "{url}: took {took:?}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("failed to fetch branch main from {url}: timed out after 1.5s")), "{msg}");

        // The stuck fetch still holds the repository: the next refresh does not start a second
        // one at the same time, and is bounded too.
        let started = Instant::now();
        let err = source.refresh().unwrap_err();
        assert!(matches!(err, SourceError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("still running"), "{err}");
        assert!(started.elapsed() < timeout + Duration::from_secs(3));
    }
    drop(silent);
}

#[test]
fn after_a_silent_server_goes_away_the_next_refresh_runs() {
    let silent = Silent::start();
    let url = format!("git://127.0.0.1:{}/repo.git", silent.port);
    let data = tempfile::tempdir().unwrap();
    let source = Source::new(SourceSpec::new(&url, "main").with_timeout(Duration::from_secs(1)), data.path()).unwrap();
    assert!(matches!(source.refresh().unwrap_err(), SourceError::Timeout { .. }));
    drop(silent); // closes the connection the stuck fetch waits on, and the port
    let source = Source::new(SourceSpec::new(&url, "main").with_timeout(Duration::from_secs(10)), data.path()).unwrap();
    let err = source.refresh().unwrap_err();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// GitTree

#[test]
fn git_tree_follows_symlinks_inside_the_repository_and_refuses_the_rest() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    git(r, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(r.join("dir/sub")).unwrap();
    std::fs::write(r.join("dir/file.yaml"), "content").unwrap();
    std::fs::write(r.join("dir/sub/deep.yaml"), "deep").unwrap();
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, r.join(name)).unwrap();
    link("dir/file.yaml", "link-file");
    link("dir", "link-dir");
    link("../dir/file.yaml", "dir/up");
    link("../link-dir/sub", "dir/via-link");
    link("link-file", "chain");
    link("../../etc/passwd", "escape");
    link("/etc/passwd", "absolute");
    link("loop-b", "loop-a");
    link("loop-a", "loop-b");
    link("missing", "dangling");
    git(r, &["add", "-A"]);
    let sub_commit = {
        git(r, &["commit", "-q", "-m", "first"]);
        git(r, &["rev-parse", "HEAD"])
    };
    git(r, &["update-index", "--add", "--cacheinfo", &format!("160000,{sub_commit},vendor")]);
    git(r, &["commit", "-q", "-m", "submodule"]);
    let head = git(r, &["rev-parse", "HEAD"]);

    let tree = GitTree::open(r, "HEAD").unwrap();
    assert_eq!(tree.commit(), head);
    let p = |s: &str| RepoPath::new(s).unwrap();
    let text = |s: &str| String::from_utf8(tree.read(&p(s)).unwrap()).unwrap();

    assert_eq!(text("link-file"), "content");
    assert_eq!(text("chain"), "content");
    assert_eq!(text("dir/up"), "content");
    assert_eq!(text("link-dir/file.yaml"), "content");
    assert_eq!(text("dir/via-link/deep.yaml"), "deep");
    assert_eq!(tree.kind(&p("link-dir")), Some(EntryKind::Dir));
    assert_eq!(tree.kind(&p("link-file")), Some(EntryKind::File));
    assert_eq!(tree.list(&p("link-dir")).unwrap(), vec!["file.yaml", "sub", "up", "via-link"]);
    assert_eq!(
        tree.list(&RepoPath::root()).unwrap(),
        vec!["absolute", "chain", "dangling", "dir", "escape", "link-dir", "link-file", "loop-a", "loop-b", "vendor"]
    );
    assert!(tree.describe(&p("dir/file.yaml")).contains(&head[..12]));

    for outside in ["escape", "absolute"] {
        let err = tree.read(&p(outside)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{outside}: {err}");
        assert!(err.to_string().contains("leads outside the repository root"), "{err}");
        // It exists: reported as a file, so that reading it says why it cannot be used.
        assert_eq!(tree.kind(&p(outside)), Some(EntryKind::File));
        assert_eq!(tree.entry(&p(outside)).unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    }
    let err = tree.read(&p("loop-a")).unwrap_err();
    assert!(err.to_string().contains("too many levels of symbolic links"), "{err}");
    assert_eq!(tree.read(&p("dangling")).unwrap_err().kind(), io::ErrorKind::NotFound);

    let err = tree.read(&p("vendor/x.yaml")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("vendor is a git submodule"), "{err}");
    assert!(tree.list(&p("vendor")).is_err());
    assert_eq!(tree.kind(&p("vendor")), Some(EntryKind::File));

    assert_eq!(tree.read(&p("dir")).unwrap_err().kind(), io::ErrorKind::IsADirectory);
    assert_eq!(tree.list(&p("dir/file.yaml")).unwrap_err().kind(), io::ErrorKind::NotADirectory);
    assert_eq!(tree.read(&p("dir/file.yaml/x")).unwrap_err().kind(), io::ErrorKind::NotADirectory);
    assert_eq!(tree.read(&p("nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(tree.kind(&p("nope")), None);

    // The same through a fetched snapshot of the repository.
    let data = tempfile::tempdir().unwrap();
    let snapshot = Source::new(spec(r.to_str().unwrap()), data.path()).unwrap().refresh().unwrap().snapshot;
    assert_eq!(snapshot.commit, head);
    assert_eq!(read(&snapshot, "link-dir/file.yaml"), "content");
    assert!(snapshot.tree.read(&p("escape")).is_err());
}

#[test]
fn git_tree_open_names_the_revision_it_cannot_find() {
    let origin = Origin::new(&[("a.txt", "v1")]);
    let err = GitTree::open(&origin.bare(), "0123456789012345678901234567890123456789").unwrap_err();
    assert!(matches!(err, SourceError::Revision { .. }), "{err:?}");
    assert!(err.to_string().starts_with("failed to open commit 0123456789012345678901234567890123456789 in "), "{err}");
}

#[test]
fn transports_this_build_lacks_are_reported_clearly() {
    let data = tempfile::tempdir().unwrap();
    let version = git2::Version::get();
    for (url, supported, what) in [
        ("https://127.0.0.1:1/repo.git", version.https(), "https"),
        ("ssh://git@127.0.0.1:1/repo.git", version.ssh(), "ssh"),
    ] {
        let source = Source::new(spec(url).with_timeout(Duration::from_secs(10)), data.path()).unwrap();
        let err = source.refresh().unwrap_err();
        assert!(matches!(err, SourceError::Unreachable { .. }), "{url}: {err:?}");
        if !supported {
            assert!(err.to_string().contains(&format!("no {what} support")), "{err}");
        }
    }
}
