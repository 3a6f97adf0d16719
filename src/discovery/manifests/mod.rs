//! Dependencies without SBOMs: the manifests and lockfiles of the package
//! managers people use, read from a repository's files so `search dep:`
//! covers repositories nobody catalogued. Each parser takes the file's
//! text (untrusted: sizes capped by the caller, no recursion on its
//! nesting) and returns the packages it pins, in the shapes package URLs
//! give them (a Maven group or npm scope as the namespace), so they match
//! the packages SBOMs bring.
//!
//! A version that isn't pinned (a range in a manifest, an unresolved
//! `${property}`) is left out: a search compares versions, and a range
//! says nothing about which one runs.

pub mod gradle;
pub mod locks;
pub mod maven;
pub mod npm;
pub mod python;

use std::sync::Arc;

pub use crate::catalog::sbom::Package;

/// A manifest larger than this is not read (a big package-lock.json is a
/// few megabytes).
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The manifests a code host's API is asked for at a repository's root
/// (one query can't list a tree; a clone's whole tree is read instead).
pub const AT_ROOT: &[&str] = &[
    "pom.xml",
    "gradle/libs.versions.toml",
    "gradle.lockfile",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "go.mod",
    "requirements.txt",
    "poetry.lock",
    "Pipfile.lock",
    "Gemfile.lock",
    "composer.lock",
];

/// Manifests read from one repository at most (a monorepo has many).
pub const MAX_FILES: usize = 100;

/// Folders whose manifests belong to someone else's code: vendored
/// dependencies, installed packages.
const VENDORED: &[&str] = &[
    "node_modules",
    "vendor",
    "bower_components",
    ".yarn",
    "third_party",
];

/// The kinds of file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifest {
    /// Maven's `pom.xml`.
    Pom,
    /// A Gradle version catalog (`gradle/libs.versions.toml`).
    GradleCatalog,
    /// A Gradle dependency lockfile (`gradle.lockfile`).
    GradleLockfile,
    /// npm's `package-lock.json` (or `npm-shrinkwrap.json`), versions 1–3.
    PackageLock,
    /// `yarn.lock`, classic (v1) or Berry (v2+).
    YarnLock,
    /// `pnpm-lock.yaml`, versions 5–9.
    PnpmLock,
    CargoLock,
    GoMod,
    /// Read only where there is no `go.mod` beside it.
    GoSum,
    /// `requirements*.txt` (pinned `==` lines).
    Requirements,
    PoetryLock,
    PipfileLock,
    GemfileLock,
    ComposerLock,
}

impl Manifest {
    /// The kind of manifest a path is, by its file name; `None` for other
    /// files and for anything under a vendored folder.
    pub fn of(path: &str) -> Option<Manifest> {
        let mut segments = path.split('/');
        let file = segments.next_back()?;
        if segments.any(|s| VENDORED.contains(&s)) {
            return None;
        }
        Some(match file {
            "pom.xml" => Manifest::Pom,
            "gradle.lockfile" => Manifest::GradleLockfile,
            "package-lock.json" | "npm-shrinkwrap.json" => Manifest::PackageLock,
            "yarn.lock" => Manifest::YarnLock,
            "pnpm-lock.yaml" => Manifest::PnpmLock,
            "Cargo.lock" => Manifest::CargoLock,
            "go.mod" => Manifest::GoMod,
            "go.sum" => Manifest::GoSum,
            "poetry.lock" => Manifest::PoetryLock,
            "Pipfile.lock" => Manifest::PipfileLock,
            "Gemfile.lock" => Manifest::GemfileLock,
            "composer.lock" => Manifest::ComposerLock,
            f if f.ends_with(".versions.toml") => Manifest::GradleCatalog,
            f if f.starts_with("requirements") && f.ends_with(".txt") => Manifest::Requirements,
            _ => return None,
        })
    }

    /// The packages a manifest's text pins; the error says what is wrong
    /// with the file.
    pub fn parse(self, text: &str) -> Result<Vec<Package>, String> {
        let packages = match self {
            Manifest::Pom => maven::pom(text)?,
            Manifest::GradleCatalog => gradle::catalog(text)?,
            Manifest::GradleLockfile => gradle::lockfile(text),
            Manifest::PackageLock => npm::package_lock(text)?,
            Manifest::YarnLock => npm::yarn_lock(text)?,
            Manifest::PnpmLock => npm::pnpm_lock(text)?,
            Manifest::CargoLock => locks::cargo_lock(text)?,
            Manifest::GoMod => locks::go_mod(text),
            Manifest::GoSum => locks::go_sum(text),
            Manifest::Requirements => python::requirements(text),
            Manifest::PoetryLock => python::poetry_lock(text)?,
            Manifest::PipfileLock => python::pipfile_lock(text)?,
            Manifest::GemfileLock => locks::gemfile_lock(text),
            Manifest::ComposerLock => locks::composer_lock(text)?,
        };
        let mut packages = crate::catalog::sbom::dedup(packages);
        packages.retain(|p| !p.name.trim().is_empty() && !p.version.trim().is_empty());
        Ok(packages)
    }
}

/// One package a repository's file pins. Its strings are shared across a
/// scan ([`Interner`]): thousands of repositories pin the same few thousand
/// packages, and a scan holds them all until it is recorded.
#[derive(Debug, Clone)]
pub struct Dep {
    /// Which of [`Found::files`].
    pub file: u16,
    pub ecosystem: Arc<str>,
    pub namespace: Option<Arc<str>>,
    pub name: Arc<str>,
    pub version: Arc<str>,
}

/// What a repository's manifests pin: the files read, each package with
/// the file it came from, and a note for each file that couldn't be read.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub files: Vec<String>,
    pub deps: Vec<Dep>,
    pub notes: Vec<String>,
}

impl Found {
    /// Reads one manifest's text, keeping its packages or why it failed.
    pub fn read(&mut self, path: &str, kind: Manifest, text: &str) {
        match kind.parse(text) {
            Ok(packages) => self.add(path, packages),
            Err(why) => self.note(path, &why),
        }
    }

    /// Keeps `packages` as read from `path`.
    pub fn add(&mut self, path: &str, packages: Vec<Package>) {
        let file = match self.files.iter().position(|f| f == path) {
            Some(i) => i,
            None => {
                self.files.push(path.to_string());
                self.files.len() - 1
            }
        };
        let file = u16::try_from(file).unwrap_or(u16::MAX);
        self.deps.extend(packages.into_iter().map(|p| Dep {
            file,
            ecosystem: p.ecosystem.into(),
            namespace: p.namespace.map(Into::into),
            name: p.name.into(),
            version: p.version.into(),
        }));
    }

    /// The file a package came from.
    pub fn file_of(&self, dep: &Dep) -> &str {
        self.files
            .get(dep.file as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Shares its strings with every other repository's in the pool.
    pub fn intern(&mut self, pool: &mut Interner) {
        for dep in &mut self.deps {
            dep.ecosystem = pool.get(&dep.ecosystem);
            dep.namespace = dep.namespace.as_deref().map(|n| pool.get(n));
            dep.name = pool.get(&dep.name);
            dep.version = pool.get(&dep.version);
        }
        self.deps.shrink_to_fit();
    }

    /// Notes a manifest that wasn't read: "`yarn.lock` is not valid YAML (…)".
    pub fn note(&mut self, path: &str, why: &str) {
        if self.notes.len() < MAX_FILES {
            self.notes.push(format!("{path} {why}"));
        }
    }
}

/// One copy of each string a scan's packages use.
#[derive(Debug, Default)]
pub struct Interner(std::collections::HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = text.into();
        self.0.insert(shared.clone());
        shared
    }
}

/// Which of a repository's files to read: its manifests (vendored folders
/// left out), a `go.sum` only where no `go.mod` is beside it, at most
/// [`MAX_FILES`], shallowest first.
pub fn select<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, Manifest)> {
    let mut found: Vec<(&str, Manifest)> = paths
        .into_iter()
        .filter_map(|p| Some((p, Manifest::of(p)?)))
        .collect();
    let go_mods: std::collections::HashSet<&str> = found
        .iter()
        .filter(|(_, m)| *m == Manifest::GoMod)
        .map(|(p, _)| folder(p))
        .collect();
    found.retain(|(p, m)| *m != Manifest::GoSum || !go_mods.contains(folder(p)));
    found.sort_by_key(|(p, _)| (p.matches('/').count(), *p));
    found.truncate(MAX_FILES);
    found
}

fn folder(path: &str) -> &str {
    path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// The first line of a parser's error, without the position noise.
pub(crate) fn first_line(error: impl std::fmt::Display) -> String {
    let text = error.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// A package in the shape its package URL gives: the last `/` separates
/// the namespace (a Go module's host and owner, an npm scope, a Composer
/// vendor) from the name.
pub(crate) fn package(ecosystem: &str, full_name: &str, version: &str) -> Package {
    let (namespace, name) = match full_name.rsplit_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => (Some(ns.to_string()), name),
        _ => (None, full_name),
    };
    Package {
        ecosystem: ecosystem.to_string(),
        namespace,
        name: name.to_string(),
        version: version.to_string(),
        purl: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_known_by_name_and_vendored_folders_are_skipped() {
        assert_eq!(Manifest::of("pom.xml"), Some(Manifest::Pom));
        assert_eq!(Manifest::of("svc/a/pom.xml"), Some(Manifest::Pom));
        assert_eq!(
            Manifest::of("gradle/libs.versions.toml"),
            Some(Manifest::GradleCatalog)
        );
        assert_eq!(
            Manifest::of("requirements-dev.txt"),
            Some(Manifest::Requirements)
        );
        assert_eq!(Manifest::of("node_modules/x/package-lock.json"), None);
        assert_eq!(Manifest::of("vendor/github.com/x/go.mod"), None);
        assert_eq!(Manifest::of("README.md"), None);
    }

    #[test]
    fn go_sum_is_read_only_without_go_mod() {
        let picked = select(["go.mod", "go.sum", "tools/go.sum", "a/b/pom.xml"]);
        let paths: Vec<&str> = picked.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, ["go.mod", "tools/go.sum", "a/b/pom.xml"]);
    }

    #[test]
    fn packages_split_like_package_urls() {
        let p = package("npm", "@babel/core", "7.0.0");
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_str()),
            (Some("@babel"), "core")
        );
        let p = package("npm", "lodash", "4.17.21");
        assert_eq!((p.namespace, p.name.as_str()), (None, "lodash"));
    }
}
