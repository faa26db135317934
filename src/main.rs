//! The `tidegate` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    set_git_network_timeouts();
    tidegate::cli::main()
}

/// libgit2 has no overall timeout and, by default, waits on a silent server forever. Its
/// socket timeouts are process-wide settings that must be made once, before any thread uses
/// libgit2 — here, first thing in `main`. The setters are `unsafe` only because of that
/// threading requirement.
#[allow(unsafe_code)]
fn set_git_network_timeouts() {
    // SAFETY: called once at start-up, before any other thread exists.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(30_000);
        let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
    }
}
