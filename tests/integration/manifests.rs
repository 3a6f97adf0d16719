//! Dependencies from real manifests and lockfiles, one or more per
//! ecosystem, taken from public projects (tests/fixtures/manifests/,
//! licences in its NOTICE.md): each parses, and names the packages at the
//! versions the file states.

use usher::discovery::manifests::{Manifest, Package};

fn read(fixture: &str, as_path: &str) -> Vec<Package> {
    let path = format!(
        "{}/tests/fixtures/manifests/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let kind = Manifest::of(as_path).unwrap_or_else(|| panic!("{as_path} is a manifest"));
    kind.parse(&text)
        .unwrap_or_else(|why| panic!("{fixture} {why}"))
}

fn labels(packages: &[Package]) -> Vec<String> {
    packages
        .iter()
        .map(|p| match &p.namespace {
            Some(ns) => format!("{}:{ns}/{}@{}", p.ecosystem, p.name, p.version),
            None => format!("{}:{}@{}", p.ecosystem, p.name, p.version),
        })
        .collect()
}

#[track_caller]
fn assert_has(fixture: &str, as_path: &str, expected: &[&str], absent: &[&str]) {
    let found = labels(&read(fixture, as_path));
    for e in expected {
        assert!(
            found.iter().any(|f| f == e),
            "{fixture}: {e} not in {found:?}"
        );
    }
    for a in absent {
        assert!(
            !found.iter().any(|f| f.contains(a)),
            "{fixture}: {a} should not be in {found:?}"
        );
    }
}

#[test]
fn maven_pom_with_properties_management_and_boms() {
    assert_has(
        "maven/pom.xml",
        "pom.xml",
        &[
            // Only through the imported log4j-bom's version.
            "maven:org.apache.logging.log4j/log4j-core@2.19.0",
            // A property.
            "maven:software.amazon.awssdk.crt/aws-crt@0.20.4",
            // The AWS BOM, its version a property.
            "maven:software.amazon.awssdk/s3@2.19.1",
            "maven:com.fasterxml.jackson.core/jackson-databind@2.13.4.1",
        ],
        &["log4j-bom", "${"],
    );
}

#[test]
fn gradle_catalog_and_lockfile() {
    assert_has(
        "gradle/libs.versions.toml",
        "gradle/libs.versions.toml",
        &[
            "maven:com.squareup/kotlinpoet@2.3.0",
            "maven:com.squareup.okio/okio@3.17.0",
            "maven:junit/junit@4.13.2",
            "maven:org.jetbrains.kotlin/kotlin-reflect@2.3.21",
        ],
        &[],
    );
    assert_has(
        "gradle/gradle.lockfile",
        "gradle.lockfile",
        &[
            "maven:org.burningwave/core@12.66.2",
            "maven:org.junit.jupiter/junit-jupiter-api@5.9.2",
            "maven:org.junit.platform/junit-platform-commons@1.9.2",
        ],
        &["empty"],
    );
}

#[test]
fn npm_lockfiles_of_every_version() {
    assert_has(
        "npm/package-lock.v1.json",
        "package-lock.json",
        &[
            "npm:vscode-languageclient@7.0.0",
            "npm:@types/vscode@1.52.0",
            "npm:@vscode/test-electron@1.6.1",
            // Nested under @vscode/test-electron only.
            "npm:debug@4.3.2",
            "npm:semver@7.3.4",
        ],
        &[],
    );
    assert_has(
        "npm/package-lock.v2.json",
        "package-lock.json",
        &[
            "npm:vscode-languageclient@9.0.1",
            "npm:glob@11.0.0",
            "npm:@vscode/test-electron@2.3.9",
        ],
        &[],
    );
    assert_has(
        "npm/package-lock.v3.json",
        "package-lock.json",
        &[
            "npm:@vscode/wasm-wasi-lsp@0.1.0-pre.8",
            "npm:@types/node@22.17.0",
            "npm:undici-types@6.21.0",
        ],
        &[],
    );
}

#[test]
fn yarn_classic_and_berry_and_pnpm() {
    assert_has(
        "npm/yarn.lock",
        "yarn.lock",
        &[
            "npm:typescript@4.2.4",
            "npm:eslint@7.26.0",
            "npm:lodash@4.17.21",
            "npm:debug@4.1.1",
        ],
        &[],
    );
    assert_has(
        "npm/yarn-berry.lock",
        "yarn.lock",
        &[
            "npm:typescript@5.8.2",
            "npm:redux@5.0.1",
            "npm:vitest@1.6.1",
        ],
        // The workspace itself.
        &["redux-thunk@", "use.local"],
    );
    assert_has(
        "npm/pnpm-lock.yaml",
        "pnpm-lock.yaml",
        &[
            "npm:@actions/core@1.10.1",
            "npm:@actions/http-client@2.2.0",
            "npm:zod@3.22.4",
            "npm:typescript@5.3.3",
        ],
        &[],
    );
}

#[test]
fn cargo_and_go() {
    assert_has(
        "cargo/Cargo.lock",
        "Cargo.lock",
        &[
            "cargo:anyhow@1.0.104",
            "cargo:memchr@2.8.3",
            "cargo:regex@1.13.1",
        ],
        // The workspace's own crates (no source).
        &["cargo:ignore@", "cargo:grep@"],
    );
    assert_has(
        "go/go.mod",
        "go.mod",
        &[
            "golang:github.com/spf13/pflag@v1.0.9",
            "golang:github.com/cpuguy83/go-md2man/v2@v2.0.6",
            "golang:github.com/inconshreveable/mousetrap@v1.1.0",
        ],
        &["/go.mod"],
    );
    assert_has(
        "go/go.sum",
        "go.sum",
        &[
            "golang:github.com/russross/blackfriday/v2@v2.1.0",
            "golang:gopkg.in/check.v1@v0.0.0-20161208181325-20d25e280405",
        ],
        &["/go.mod"],
    );
}

#[test]
fn python_ruby_and_php() {
    assert_has(
        "python/requirements.txt",
        "requirements.txt",
        &[
            "pypi:chardet@5.2.0",
            "pypi:mkdocs@1.6.1",
            "pypi:pytest@8.4.1",
            "pypi:coverage@7.10.6",
        ],
        // The editable self-install.
        &["brotli"],
    );
    assert_has(
        "python/poetry.lock",
        "poetry.lock",
        &[
            "pypi:rapidfuzz@3.6.1",
            "pypi:pytest@8.0.2",
            "pypi:mypy@1.8.0",
        ],
        &[],
    );
    assert_has(
        "python/Pipfile.lock",
        "Pipfile.lock",
        &[
            "pypi:requests@2.33.0",
            "pypi:urllib3@2.7.0",
            "pypi:pytest@9.0.3",
            "pypi:pluggy@1.6.0",
        ],
        &[],
    );
    assert_has(
        "ruby/Gemfile.lock",
        "Gemfile.lock",
        &[
            "gem:rails@8.1.3",
            "gem:warden@1.2.9",
            "gem:bcrypt@3.1.22",
            // From a GIT section.
            "gem:mongoid@9.0.10",
        ],
        // The project's own gem (PATH).
        &["gem:devise@"],
    );
    assert_has(
        "php/composer.lock",
        "composer.lock",
        &[
            "composer:composer/semver@3.4.4",
            "composer:seld/jsonlint@1.12.1",
            "composer:symfony/console@5.4.47",
            "composer:phpstan/phpstan@1.12.33",
        ],
        &[],
    );
}

#[test]
fn broken_files_say_what_is_wrong() {
    let cases = [
        ("pom.xml", "<project><dependencies>", "well-formed XML"),
        (
            "package-lock.json",
            "{\"lockfileVersion\": 3",
            "is not JSON",
        ),
        ("Cargo.lock", "[[package]\nname=", "is not valid TOML"),
        ("pnpm-lock.yaml", "packages: {}\n", "lockfileVersion"),
        ("composer.lock", "{}", "no `packages`"),
    ];
    for (path, text, says) in cases {
        let why = Manifest::of(path).unwrap().parse(text).unwrap_err();
        assert!(why.contains(says), "{path}: {why}");
    }
}
