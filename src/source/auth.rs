//! Credentials for fetching: none, a token (HTTPS basic auth) or an ssh key.
//!
//! Credentials reach libgit2 only through its credentials callback: never in a URL, never on
//! disk, never in a message (every secret is a [`Secret`], which prints as `***`).

use std::fmt;
use std::path::{Path, PathBuf};

use super::SourceError;

/// The user name sent with a token over HTTPS basic auth (what GitHub expects for app and
/// personal access tokens).
pub const TOKEN_USERNAME: &str = "x-access-token";

/// The environment variable [`Auth::token_from_env`] reads.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// A credential. Its `Debug` and `Display` forms are `***`; the value is only handed to
/// libgit2's credentials callback.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself: only for handing it to libgit2 (or, in tests, for checking that
    /// it appears nowhere).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is released.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// How to authenticate to the remote.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credentials (public repositories, `file://`, `git://`). Userinfo written in an
    /// `https://user:pass@…` URL is still offered by libgit2.
    #[default]
    None,
    /// A token sent as HTTPS basic auth: user name [`TOKEN_USERNAME`], password the token.
    Token(Secret),
    /// An ssh private key file, with its passphrase when it has one.
    SshKey {
        /// The private key file (e.g. a mounted Kubernetes secret).
        private_key: PathBuf,
        /// The key's passphrase.
        passphrase: Option<Secret>,
    },
}

impl Auth {
    /// A token from the `GITHUB_TOKEN` environment variable (surrounding whitespace trimmed).
    pub fn token_from_env() -> Result<Auth, SourceError> {
        Self::token_from_var(TOKEN_ENV)
    }

    pub(crate) fn token_from_var(name: &str) -> Result<Auth, SourceError> {
        let origin = format!("the environment variable {name}");
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(Auth::Token(Secret::new(v.trim()))),
            Ok(_) => Err(SourceError::Token { origin, reason: "it is empty".into() }),
            Err(std::env::VarError::NotPresent) => Err(SourceError::Token { origin, reason: "it is not set".into() }),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SourceError::Token { origin, reason: "it is not valid UTF-8".into() })
            }
        }
    }

    /// A token read from a file such as a mounted Kubernetes secret (surrounding whitespace,
    /// e.g. a trailing newline, trimmed).
    pub fn token_from_file(path: impl AsRef<Path>) -> Result<Auth, SourceError> {
        let path = path.as_ref();
        let origin = format!("the file {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| SourceError::Token { origin: origin.clone(), reason: e.to_string() })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(SourceError::Token { origin, reason: "it is empty".into() });
        }
        Ok(Auth::Token(Secret::new(token)))
    }

    /// An ssh private key file, with an optional passphrase.
    pub fn ssh_key(private_key: impl Into<PathBuf>, passphrase: Option<Secret>) -> Auth {
        Auth::SshKey { private_key: private_key.into(), passphrase }
    }

    /// The secrets this value holds, to scrub from messages.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::None => Vec::new(),
            Auth::Token(t) => vec![t.expose()],
            Auth::SshKey { passphrase, .. } => passphrase.iter().map(Secret::expose).collect(),
        }
    }
}

/// What the credentials callback saw during one connection.
#[derive(Debug, Default)]
pub(crate) struct CredentialState {
    offered_userpass: bool,
    offered_username: bool,
    offered_key: bool,
    /// Set when the remote asked again after the configured credentials were offered, or asked
    /// when none are configured.
    pub(crate) rejected: bool,
}

/// Answers one libgit2 credentials request. Each kind of credential is offered once per
/// connection: libgit2 asks again after the server refused, and asking forever would loop.
pub(crate) fn credentials(
    auth: &Auth,
    state: &mut CredentialState,
    username_from_url: Option<&str>,
    allowed: git2::CredentialType,
) -> Result<git2::Cred, git2::Error> {
    use git2::CredentialType as T;
    let refuse = |state: &mut CredentialState, msg: &str| {
        state.rejected = true;
        Err(git2::Error::new(git2::ErrorCode::Auth, git2::ErrorClass::Net, msg))
    };
    match auth {
        Auth::Token(token) if allowed.contains(T::USER_PASS_PLAINTEXT) => {
            if state.offered_userpass {
                return refuse(state, "the remote rejected the token");
            }
            state.offered_userpass = true;
            git2::Cred::userpass_plaintext(TOKEN_USERNAME, token.expose())
        }
        Auth::SshKey { private_key, passphrase } => {
            let user = username_from_url.unwrap_or("git");
            if allowed.contains(T::USERNAME) && !state.offered_username {
                state.offered_username = true;
                return git2::Cred::username(user);
            }
            if allowed.contains(T::SSH_KEY) && !state.offered_key {
                state.offered_key = true;
                return git2::Cred::ssh_key(user, None, private_key, passphrase.as_ref().map(Secret::expose));
            }
            refuse(state, &format!("the remote rejected the ssh key {}", private_key.display()))
        }
        Auth::Token(_) => refuse(state, "the remote asked for a kind of credential a token cannot answer"),
        Auth::None if username_from_url.is_some() && allowed.contains(T::USER_PASS_PLAINTEXT) => {
            refuse(state, "the remote rejected the credentials given in the url")
        }
        Auth::None => refuse(state, "the remote asked for credentials and none are configured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ghp_supersecret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        let auth = Auth::Token(s.clone());
        assert!(!format!("{auth:?}").contains("supersecret"));
        let key = Auth::ssh_key("/k", Some(Secret::new("pw-s3cr3t")));
        assert!(!format!("{key:?}").contains("s3cr3t"));
    }

    #[test]
    fn token_from_file_trims_and_refuses_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "  tok123\n").unwrap();
        let Auth::Token(t) = Auth::token_from_file(&f).unwrap() else { panic!() };
        assert_eq!(t.expose(), "tok123");
        std::fs::write(&f, "\n").unwrap();
        let e = Auth::token_from_file(&f).unwrap_err().to_string();
        assert!(e.starts_with("failed to read the git token from the file") && e.contains("empty"), "{e}");
        let e = Auth::token_from_file(dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn token_from_env_names_the_variable() {
        let e = Auth::token_from_var("TIDEGATE_TEST_SURELY_UNSET_VARIABLE").unwrap_err().to_string();
        assert_eq!(
            e,
            "failed to read the git token from the environment variable TIDEGATE_TEST_SURELY_UNSET_VARIABLE: it is not set"
        );
        // PATH is always set: the value is taken as it is.
        assert!(matches!(Auth::token_from_var("PATH"), Ok(Auth::Token(_))));
    }

    #[test]
    fn a_token_is_offered_once_per_connection() {
        let auth = Auth::Token(Secret::new("t"));
        let mut st = CredentialState::default();
        let allowed = git2::CredentialType::USER_PASS_PLAINTEXT;
        assert!(credentials(&auth, &mut st, None, allowed).is_ok());
        assert!(!st.rejected);
        let e = credentials(&auth, &mut st, None, allowed).err().unwrap();
        assert_eq!(e.code(), git2::ErrorCode::Auth);
        assert!(st.rejected);
        let mut st = CredentialState::default();
        assert!(credentials(&Auth::None, &mut st, None, allowed).is_err());
        assert!(st.rejected);
    }
}
