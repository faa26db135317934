//! Repository locations: parsing, redaction of credentials, and the cache identity.

use std::fmt;
use std::path::Path;

use super::SourceError;

/// The transport a [`RepoUrl`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// `https://…`
    Https,
    /// `http://…` (plain text; meant for tests and private networks).
    Http,
    /// `ssh://…` or the scp-like `user@host:path`.
    Ssh,
    /// `git://…` (the unauthenticated git daemon protocol).
    Git,
    /// A `file://` URL or a local path.
    File,
}

/// Where a repository lives, as the user wrote it, with every credential kept out of sight.
///
/// Its [`Display`](fmt::Display) and [`Debug`] forms are the redacted URL: userinfo in an
/// `http(s)://`, `git://` or `file://` URL is replaced by `***`, and an `ssh://` password is
/// replaced by `***` (the ssh user name is kept). A local path is made absolute.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// What libgit2 is given (may carry userinfo; never printed).
    raw: String,
    /// What people see.
    redacted: String,
    /// The location without any userinfo: the cache identity.
    identity: String,
    /// Substrings that must never be printed (userinfo, password, decoded password).
    secrets: Vec<String>,
    kind: UrlKind,
}

impl RepoUrl {
    /// Parses an `https://`, `http://`, `ssh://`, `git://` or `file://` URL, an scp-like
    /// `git@host:org/repo.git`, or a local path (relative paths are resolved against the
    /// current directory).
    pub fn parse(input: &str) -> Result<RepoUrl, SourceError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(SourceError::InvalidUrl { url: String::new(), reason: "the url is empty".into() });
        }
        if let Some((scheme, rest)) = input.split_once("://") {
            return Self::parse_url(input, scheme, rest);
        }
        if let Some((host, _)) = input.split_once(':')
            && !host.is_empty()
            && !host.contains('/')
            && !Path::new(input).exists()
        {
            // scp-like syntax: [user@]host:path. The user name is not a secret (usually `git`).
            return Ok(RepoUrl {
                raw: input.to_string(),
                redacted: input.to_string(),
                identity: input.to_string(),
                secrets: Vec::new(),
                kind: UrlKind::Ssh,
            });
        }
        let abs = std::path::absolute(input).map_err(|e| SourceError::InvalidUrl {
            url: input.to_string(),
            reason: format!("cannot make the path absolute: {e}"),
        })?;
        let Some(abs) = abs.to_str() else {
            return Err(SourceError::InvalidUrl {
                url: input.to_string(),
                reason: "the path is not valid UTF-8".into(),
            });
        };
        Ok(RepoUrl {
            raw: abs.to_string(),
            redacted: abs.to_string(),
            identity: format!("file://{abs}"),
            secrets: Vec::new(),
            kind: UrlKind::File,
        })
    }

    fn parse_url(input: &str, scheme: &str, rest: &str) -> Result<RepoUrl, SourceError> {
        let lower = scheme.to_ascii_lowercase();
        let kind = match lower.as_str() {
            "https" => UrlKind::Https,
            "http" => UrlKind::Http,
            "ssh" | "git+ssh" | "ssh+git" => UrlKind::Ssh,
            "git" => UrlKind::Git,
            "file" => UrlKind::File,
            _ => {
                return Err(SourceError::InvalidUrl {
                    url: redact_naively(input),
                    reason: format!("unsupported scheme {scheme:?} (use https, http, ssh, git or file)"),
                });
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let mut secrets = Vec::new();
        let shown_userinfo = match userinfo {
            None => None,
            Some(info) if kind == UrlKind::Ssh => match info.split_once(':') {
                Some((user, password)) => {
                    push_secret(&mut secrets, password);
                    Some(format!("{user}:***"))
                }
                None => Some(info.to_string()),
            },
            Some(info) => {
                push_secret(&mut secrets, info);
                if let Some((_, password)) = info.split_once(':') {
                    push_secret(&mut secrets, password);
                }
                Some("***".to_string())
            }
        };
        let redacted = match &shown_userinfo {
            Some(u) => format!("{scheme}://{u}@{host}{path}"),
            None => format!("{scheme}://{host}{path}"),
        };
        if host.is_empty() && kind != UrlKind::File {
            return Err(SourceError::InvalidUrl { url: redacted, reason: "the url has no host".into() });
        }
        if path.trim_matches('/').is_empty() {
            return Err(SourceError::InvalidUrl { url: redacted, reason: "the url has no repository path".into() });
        }
        Ok(RepoUrl { raw: input.to_string(), redacted, identity: format!("{lower}://{host}{path}"), secrets, kind })
    }

    /// The URL with credentials replaced by `***`, for logs, errors and status pages.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The transport.
    pub fn kind(&self) -> UrlKind {
        self.kind
    }

    /// The location without any userinfo; two spellings that differ only in credentials share
    /// a cache.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// What libgit2 is given. Never print it.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// Replaces every credential this URL carries (and the raw URL itself) in `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        if self.raw != self.redacted {
            out = out.replace(&self.raw, &self.redacted);
        }
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RepoUrl").field(&self.redacted).finish()
    }
}

/// Records a credential (and its percent-decoded form) to scrub from messages.
fn push_secret(secrets: &mut Vec<String>, secret: &str) {
    if secret.is_empty() {
        return;
    }
    secrets.push(secret.to_string());
    let decoded = percent_decode(secret);
    if decoded != secret && !decoded.is_empty() {
        secrets.push(decoded);
    }
    // Longest first, so that a password inside the userinfo does not leave half of it behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Redacts the userinfo of something that looked like a URL but could not be parsed.
fn redact_naively(input: &str) -> String {
    match input.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => input.to_string(),
            }
        }
        None => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_userinfo_is_redacted_everywhere() {
        let u = RepoUrl::parse("https://bob:hunter2%21@github.com/org/repo.git").unwrap();
        assert_eq!(u.kind(), UrlKind::Https);
        assert_eq!(u.redacted(), "https://***@github.com/org/repo.git");
        assert_eq!(u.to_string(), u.redacted());
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(u.identity(), "https://github.com/org/repo.git");
        let msg = u.scrub("failed at https://bob:hunter2%21@github.com/org/repo.git, hunter2! and hunter2%21");
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("https://***@github.com/org/repo.git"));
    }

    #[test]
    fn a_token_as_user_name_is_redacted() {
        let u = RepoUrl::parse("https://ghp_abcdef123456@github.com/org/repo.git").unwrap();
        assert_eq!(u.redacted(), "https://***@github.com/org/repo.git");
        assert_eq!(u.scrub("token ghp_abcdef123456 rejected"), "token *** rejected");
    }

    #[test]
    fn ssh_forms() {
        let scp = RepoUrl::parse("git@github.com:org/repo.git").unwrap();
        assert_eq!(scp.kind(), UrlKind::Ssh);
        assert_eq!(scp.redacted(), "git@github.com:org/repo.git");
        let ssh = RepoUrl::parse("ssh://git:pw@github.com/org/repo.git").unwrap();
        assert_eq!(ssh.kind(), UrlKind::Ssh);
        assert_eq!(ssh.redacted(), "ssh://git:***@github.com/org/repo.git");
        assert_eq!(ssh.identity(), "ssh://github.com/org/repo.git");
        assert_eq!(RepoUrl::parse("ssh://git@host/r").unwrap().redacted(), "ssh://git@host/r");
    }

    #[test]
    fn file_urls_and_paths() {
        let f = RepoUrl::parse("file:///srv/git/repo.git").unwrap();
        assert_eq!(f.kind(), UrlKind::File);
        assert_eq!(f.redacted(), "file:///srv/git/repo.git");
        let p = RepoUrl::parse("relative/repo").unwrap();
        assert_eq!(p.kind(), UrlKind::File);
        assert!(Path::new(p.redacted()).is_absolute());
        assert!(p.identity().starts_with("file:///"));
        let a = RepoUrl::parse("/srv/git/repo").unwrap();
        assert_eq!(a.raw(), "/srv/git/repo");
        assert_eq!(a.identity(), "file:///srv/git/repo");
    }

    #[test]
    fn bad_urls_are_refused_without_leaking() {
        let e = RepoUrl::parse("ftp://u:secret@host/r").unwrap_err().to_string();
        assert!(e.starts_with("failed to parse repository url"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = RepoUrl::parse("https://u:secret@/r").unwrap_err().to_string();
        assert!(!e.contains("secret") && e.contains("no host"), "{e}");
        assert!(RepoUrl::parse("https://github.com").is_err());
        assert!(RepoUrl::parse("  ").is_err());
    }
}
