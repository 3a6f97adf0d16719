//! Where descriptor text comes from — local files for now — read with the
//! guards every import needs: a size limit, and a refusal of binary files.

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

    pub async fn read_text(&self, source: &Source) -> Result<String, ReadError> {
        match source {
            Source::File(path) => self.read_file(path).await,
            Source::Url(url) => match &self.fetcher {
                Some(fetcher) => fetcher.fetch(url).await,
                None => Err(ReadError::Remote(
                    "is a URL, and URLs are not read here".to_string(),
                )),
            },
        }
    }

    async fn read_file(&self, path: &Path) -> Result<String, ReadError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ReadError::NotFound,
                _ => ReadError::Io(e.to_string()),
            })?;
        if meta.is_dir() {
            return Err(ReadError::Io("is a folder, not a file".to_string()));
        }
        if meta.len() > self.max_file_size {
            return Err(ReadError::TooLarge {
                size: meta.len(),
                limit: self.max_file_size,
            });
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| ReadError::Io(e.to_string()))?;
        decode_text(bytes, self.max_file_size)
    }
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
