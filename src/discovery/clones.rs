//! A folder of clones (`usher discover --path DIR`, as `ghorg clone` or a
//! CI mirror leaves them): every subfolder that is a git repository — bare
//! or with a checkout, one or two levels down (`DIR/repo`, `DIR/org/repo`)
//! — read from its default branch's committed files, not from whatever the
//! checkout holds.
//!
//! A repository is untrusted: git runs with its hooks and fsmonitor off,
//! no system configuration, never asking for credentials, and never looking
//! above the repository for another one; only blobs are read (a symbolic
//! link is a blob holding its target, never followed), each under a size
//! cap checked before reading, and every git call is time-boxed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Scanned, codeowners, languages, manifests};

/// Descriptor files looked for at a repository's root.
pub const DESCRIPTOR_NAMES: [&str; 2] = ["catalog-info.yaml", "catalog-info.yml"];
/// A CODEOWNERS file larger than this is not read.
/// One git call may take this long.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The git repositories under `dir`: (name relative to `dir`, path).
pub fn find(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let dir = dir.canonicalize()?;
    let mut found = Vec::new();
    for folder in subfolders(&dir)? {
        if is_repository(&folder) {
            found.push((relative(&dir, &folder), folder));
            continue;
        }
        for inner in subfolders(&folder).unwrap_or_default() {
            if is_repository(&inner) {
                found.push((relative(&dir, &inner), inner));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn subfolders(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Not followed: a link could lead anywhere on the machine.
        if entry.file_type()?.is_dir() && !entry.file_name().to_string_lossy().starts_with('.') {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .trim_end_matches(".git")
        .to_string()
}

/// A checkout (`.git` inside) or a bare repository (`HEAD`, `objects/`,
/// `refs/` at the top).
fn is_repository(dir: &Path) -> bool {
    dir.join(".git").exists()
        || (dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir())
}

/// Runs git in `repo` with the safety settings of the module docs.
async fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "safe.directory=*",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.allow=never",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(parent) = repo.parent() {
        command.env("GIT_CEILING_DIRECTORIES", parent);
    }
    let output = tokio::time::timeout(GIT_TIMEOUT, command.output())
        .await
        .map_err(|_| format!("git {} took longer than {GIT_TIMEOUT:?}", args[0]))?
        .map_err(|e| format!("git could not be run ({e}); install git"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

async fn git_text(repo: &Path, args: &[&str]) -> Option<String> {
    git(repo, args)
        .await
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The default branch and the revision that names it: the remote's
/// default (`origin/HEAD`) where the clone knows it, else `HEAD`.
async fn default_branch(repo: &Path) -> (Option<String>, String) {
    if let Some(remote) = git_text(
        repo,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
    )
    .await
    {
        let branch = remote.trim_start_matches("origin/").to_string();
        return (Some(branch), "refs/remotes/origin/HEAD".to_string());
    }
    let branch = git_text(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await;
    (branch, "HEAD".to_string())
}

/// The clone's remote without any credentials it carries
/// (`https://user:token@host/…` keeps neither).
async fn remote_url(repo: &Path) -> String {
    match git_text(repo, &["config", "--get", "remote.origin.url"]).await {
        Some(url) => strip_credentials(&url),
        None => format!("file://{}", repo.display()),
    }
}

pub(super) fn strip_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A file of the default branch: its path and size (blobs only).
struct TreeFile {
    path: String,
    size: u64,
}

/// Every blob of `rev`, from `git ls-tree -r -l -z`.
async fn tree(repo: &Path, rev: &str) -> Result<Vec<TreeFile>, String> {
    let out = git(repo, &["ls-tree", "-r", "-l", "-z", "--full-tree", rev]).await?;
    let mut files = Vec::new();
    for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        // "<mode> <type> <object> <size>\t<path>"
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut parts = meta.split_whitespace();
        let (mode, kind, size) = (parts.next(), parts.next(), parts.nth(1));
        // Symbolic links (mode 120000) are never read: their "content" is
        // a path that may lead out of the repository.
        if kind != Some("blob") || mode == Some("120000") {
            continue;
        }
        files.push(TreeFile {
            path: path.to_string(),
            size: size.and_then(|s| s.parse().ok()).unwrap_or(0),
        });
    }
    Ok(files)
}

async fn read_blob(repo: &Path, rev: &str, path: &str) -> Option<String> {
    let spec = format!("{rev}:{path}");
    git(repo, &["cat-file", "blob", &spec])
        .await
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads one repository. `known_head`: the commit the last scan read;
/// when the default branch is still there, the files aren't read again
/// (`Scanned.unchanged`).
pub async fn scan(name: &str, repo: &Path, known_head: Option<&str>) -> Result<Scanned, String> {
    let (default_branch, rev) = default_branch(repo).await;
    let url = remote_url(repo).await;
    let bare = git_text(repo, &["rev-parse", "--is-bare-repository"])
        .await
        .as_deref()
        == Some("true");
    let checkout = if bare {
        None
    } else {
        git_text(repo, &["rev-parse", "--show-toplevel"])
            .await
            .map(PathBuf::from)
    };
    let mut scanned = Scanned {
        name: name.to_string(),
        url,
        default_branch,
        checkout,
        ..Scanned::default()
    };
    let Some(log) = git_text(repo, &["log", "-1", "--format=%H%n%cI", &rev]).await else {
        return Ok(scanned); // no commits yet
    };
    let mut lines = log.lines();
    scanned.head = lines.next().map(str::to_string);
    scanned.pushed_at = lines
        .next()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    if scanned.head.is_some() && scanned.head.as_deref() == known_head {
        scanned.unchanged = true;
        return Ok(scanned);
    }
    let files = tree(repo, &rev).await?;
    scanned.languages = languages::rank(files.iter().map(|f| (f.path.as_str(), f.size)));
    let by_path: HashMap<&str, u64> = files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    scanned.descriptors = DESCRIPTOR_NAMES
        .iter()
        .filter(|n| by_path.contains_key(*n))
        .map(|n| n.to_string())
        .collect();
    if let Some(path) = codeowners::PATHS.iter().find(|p| {
        by_path
            .get(*p)
            .is_some_and(|size| *size <= super::MAX_CODEOWNERS)
    }) && let Some(text) = read_blob(repo, &rev, path).await
    {
        scanned.codeowners = Some((path.to_string(), codeowners::parse(&text)));
    }
    for (path, kind) in manifests::select(files.iter().map(|f| f.path.as_str())) {
        let size = by_path.get(path).copied().unwrap_or(0);
        if size > manifests::MAX_BYTES {
            let why = format!(
                "is too large to read ({size} bytes; the limit is {} MiB)",
                manifests::MAX_BYTES >> 20
            );
            scanned.dependencies.note(path, &why);
            continue;
        }
        match read_blob(repo, &rev, path).await {
            Some(text) => scanned.dependencies.read(path, kind, &text),
            None => scanned.dependencies.note(path, "couldn't be read from git"),
        }
    }
    Ok(scanned)
}
