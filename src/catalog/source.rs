//! Where descriptor text comes from — local files and URLs — read with the
//! guards every import needs: a size limit, a refusal of binary files and
//! of anything that isn't a regular file, and a [`Scope`] that keeps a
//! location's references inside the location (a descriptor is untrusted
//! input: it must not read the bot's host).

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A place descriptors are read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    /// A command-line argument: a URL when it has a scheme, else a path.
    pub fn from_arg(arg: &str) -> Source {
        if is_url(arg) {
            Source::Url(arg.to_string())
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// Resolves a Location target or a substitution relative to this
    /// source: relative paths against this file's folder.
    pub fn join(&self, target: &str) -> Source {
        if is_url(target) {
            return Source::Url(target.to_string());
        }
        match self {
            Source::File(path) => {
                let base = path.parent().unwrap_or(Path::new("."));
                Source::File(normalise(&base.join(target)))
            }
            Source::Url(url) => Source::Url(join_url(url, target)),
        }
    }

    /// The identity used to detect cycles and files read twice.
    pub fn identity(&self) -> String {
        match self {
            Source::File(path) => path
                .canonicalize()
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string(),
            Source::Url(url) => url.clone(),
        }
    }

    /// A stable key for remembering the location in the database.
    pub fn location_key(&self) -> String {
        self.identity()
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Url(url) => f.write_str(url),
        }
    }
}

pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Joins a relative reference onto a URL the way a browser does for the
/// common cases: `./x`, `../x`, `x` and `/x`.
fn join_url(base: &str, target: &str) -> String {
    let (scheme_host, path) = match base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(cut) => (&base[..cut], &base[cut..]),
        None => (base, "/"),
    };
    if let Some(absolute) = target.strip_prefix('/') {
        return format!("{scheme_host}/{absolute}");
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for segment in target.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            other => parts.push(other),
        }
    }
    format!("{scheme_host}{}", parts.join("/"))
}

/// The bounds of one location: what the descriptors read from it may read
/// in turn. A local location is a folder (the folder given, or the folder
/// of the file given); a remote one is its host, which joins the configured
/// `[[catalog.hosts]]` for everything read through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Folder {
        /// The folder as an absolute path, `..` resolved lexically.
        absolute: PathBuf,
        /// The folder as the file system resolves it (symbolic links
        /// followed), when it exists.
        real: Option<PathBuf>,
    },
    Remote {
        /// The location's URL: its host joins the configured hosts, and
        /// the token may read its owner's files.
        root: String,
    },
}

impl Scope {
    /// The scope of a root location given by the operator.
    pub fn of_root(root: &Source) -> Scope {
        match root {
            Source::File(path) => {
                let folder = if path.is_dir() {
                    path.as_path()
                } else {
                    path.parent().unwrap_or(Path::new("."))
                };
                let folder = if folder.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    folder
                };
                let absolute = normalise(&std::path::absolute(folder).unwrap_or(folder.into()));
                Scope::Folder {
                    real: folder.canonicalize().ok(),
                    absolute,
                }
            }
            Source::Url(url) => Scope::Remote { root: url.clone() },
        }
    }

    /// The location's URL, when it is remote.
    pub fn own_root(&self) -> Option<&str> {
        match self {
            Scope::Remote { root } => Some(root),
            _ => None,
        }
    }

    /// Resolves `target`, written in the file `from`, refusing a path that
    /// leaves the location: an absolute path, `..` past the location's
    /// folder, or a symbolic link out of it. URLs pass here; which hosts
    /// they may reach is the fetcher's to check.
    pub fn resolve(&self, from: &Source, target: &str) -> Result<Source, String> {
        if is_url(target) {
            return Ok(Source::Url(target.to_string()));
        }
        let (Source::File(_), Scope::Folder { absolute, .. }) = (from, self) else {
            return Ok(from.join(target));
        };
        if Path::new(target).is_absolute() {
            return Err(format!(
                "is an absolute path; a descriptor may only read files inside its own location ({}), so write the path relative to this file",
                absolute.display()
            ));
        }
        let joined = from.join(target);
        let Source::File(path) = &joined else {
            return Ok(joined);
        };
        let lexical = normalise(&std::path::absolute(path).unwrap_or(path.clone()));
        if !lexical.starts_with(absolute) {
            return Err(format!(
                "climbs out of its location ({}) with `..`; a descriptor may only read files inside its own location",
                absolute.display()
            ));
        }
        // Hidden files and folders hold what a checkout keeps to itself
        // (`.git/config` with its credentials, `.env` files).
        if lexical
            .strip_prefix(absolute)
            .unwrap_or(&lexical)
            .components()
            .any(|c| matches!(c, Component::Normal(n) if n.to_string_lossy().starts_with('.')))
        {
            return Err(
                "is a hidden file or inside a hidden folder (its name starts with a dot), which descriptors may not read".to_string(),
            );
        }
        self.check_real(path)?;
        Ok(joined)
    }

    /// A path that exists must stay inside the location once symbolic
    /// links are followed (a missing one is reported as missing later).
    pub fn check_real(&self, path: &Path) -> Result<(), String> {
        let Scope::Folder { absolute, real } = self else {
            return Ok(());
        };
        let Some(real) = real else {
            return Err(format!(
                "can't be checked: its location ({}) can't be resolved on disk",
                absolute.display()
            ));
        };
        match path.canonicalize() {
            Ok(resolved) if !resolved.starts_with(real) => Err(format!(
                "leads out of its location ({}) through a symbolic link; a descriptor may only read files inside its own location",
                absolute.display()
            )),
            _ => Ok(()),
        }
    }
}

/// Removes `.` and resolves `..` lexically, so `a/./b/../c` reads `a/c` in
/// messages.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Why a source could not be read; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("does not exist; check the path")]
    NotFound,
    #[error("cannot be read: {0}")]
    Io(String),
    #[error(
        "is {size} bytes, over the {limit}-byte limit (catalog.max_file_size in usher.toml); split it into several files"
    )]
    TooLarge { size: u64, limit: u64 },
    #[error("is not a text file (it contains binary data); point the location at a YAML file")]
    Binary,
    #[error("{0}")]
    Remote(String),
    /// Reaching it would leave the location's bounds (a host nobody
    /// configured, an internal address).
    #[error("{0}")]
    Refused(String),
}

/// Reads descriptor text, from files and (with a fetcher) URLs.
#[derive(Debug, Clone)]
pub struct Reader {
    pub max_file_size: u64,
    pub fetcher: Option<super::fetch::Fetcher>,
}

impl Reader {
    /// A reader of local files only.
    pub fn new(max_file_size: u64) -> Self {
        Reader {
            max_file_size,
            fetcher: None,
        }
    }

    pub fn with_fetcher(mut self, fetcher: super::fetch::Fetcher) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Reads `source`, a file or a URL of a location with the given scope
    /// (its own host may be fetched from besides the configured hosts).
    pub async fn read_text(&self, source: &Source, scope: &Scope) -> Result<String, ReadError> {
        match source {
            Source::File(path) => self.read_file(path).await,
            Source::Url(url) => match &self.fetcher {
                Some(fetcher) => fetcher.fetch(url, scope.own_root()).await,
                None => Err(ReadError::Remote(
                    "is a URL, and URLs are not read here".to_string(),
                )),
            },
        }
    }

    async fn read_file(&self, path: &Path) -> Result<String, ReadError> {
        let path = path.to_path_buf();
        let limit = self.max_file_size;
        tokio::task::spawn_blocking(move || read_regular_file(&path, limit))
            .await
            .map_err(|e| ReadError::Io(e.to_string()))?
    }
}

/// Reads a regular file through the size cap. Opened without blocking, so
/// a FIFO can't hang the import, and checked on the open handle, so a
/// device (`/dev/zero`) or a socket is refused before a byte is read.
fn read_regular_file(path: &Path, limit: u64) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(e.to_string()),
        })?;
    let meta = file.metadata().map_err(|e| ReadError::Io(e.to_string()))?;
    if meta.is_dir() {
        return Err(ReadError::Io("is a folder, not a file".to_string()));
    }
    if !meta.is_file() {
        return Err(ReadError::Io(
            "is not a regular file (a device, pipe or socket); point it at a YAML file".to_string(),
        ));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    decode_text(bytes, limit)
}

/// Bytes → text, refusing binary data.
pub fn decode_text(bytes: Vec<u8>, limit: u64) -> Result<String, ReadError> {
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    if bytes.contains(&0) {
        return Err(ReadError::Binary);
    }
    let text = String::from_utf8(bytes).map_err(|_| ReadError::Binary)?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

/// YAML files under a folder, sorted, skipping hidden folders and the
/// usual dependency and build folders.
pub fn yaml_files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if !(name.starts_with('.')
                    || matches!(name.as_str(), "node_modules" | "target" | "vendor"))
                {
                    stack.push(path);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_relative_targets() {
        let f = Source::File(PathBuf::from("examples/all.yaml"));
        assert_eq!(
            f.join("./components/a.yaml").to_string(),
            "examples/components/a.yaml"
        );
        assert_eq!(f.join("../x.yaml").to_string(), "x.yaml");
        let u = Source::Url("https://example.com/org/repo/blob/main/catalog/all.yaml".into());
        assert_eq!(
            u.join("./a.yaml").to_string(),
            "https://example.com/org/repo/blob/main/catalog/a.yaml"
        );
        assert_eq!(
            u.join("../b.yaml").to_string(),
            "https://example.com/org/repo/blob/main/b.yaml"
        );
        assert_eq!(
            u.join("https://other/x.yaml").to_string(),
            "https://other/x.yaml"
        );
    }

    #[test]
    fn binary_is_refused() {
        assert_eq!(decode_text(vec![0, 1, 2], 100), Err(ReadError::Binary));
        assert_eq!(
            decode_text(vec![0xff, 0xfe, 0x41], 100),
            Err(ReadError::Binary)
        );
        assert_eq!(
            decode_text(b"\xef\xbb\xbfa: 1".to_vec(), 100).unwrap(),
            "a: 1"
        );
    }
}
