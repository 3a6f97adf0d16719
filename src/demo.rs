//! The demo catalog (`deploy/demo/`), embedded so `usher console --demo`
//! works from any folder: the files are written under the data folder and
//! imported from there as one location.

use std::path::{Path, PathBuf};

/// Every file of the demo catalog. A test checks this list against the
/// folder.
pub const FILES: &[(&str, &str)] = &[
    (
        "catalog-info.yaml",
        include_str!("../deploy/demo/catalog-info.yaml"),
    ),
    ("org.yaml", include_str!("../deploy/demo/org.yaml")),
    ("systems.yaml", include_str!("../deploy/demo/systems.yaml")),
    (
        "payments.yaml",
        include_str!("../deploy/demo/payments.yaml"),
    ),
    (
        "checkout.yaml",
        include_str!("../deploy/demo/checkout.yaml"),
    ),
    (
        "identity.yaml",
        include_str!("../deploy/demo/identity.yaml"),
    ),
    ("search.yaml", include_str!("../deploy/demo/search.yaml")),
    (
        "platform.yaml",
        include_str!("../deploy/demo/platform.yaml"),
    ),
    ("data.yaml", include_str!("../deploy/demo/data.yaml")),
    ("mobile.yaml", include_str!("../deploy/demo/mobile.yaml")),
    ("legacy.yaml", include_str!("../deploy/demo/legacy.yaml")),
    (
        "sboms/payments-api.cdx.json",
        include_str!("../deploy/demo/sboms/payments-api.cdx.json"),
    ),
    (
        "sboms/ledger.cdx.json",
        include_str!("../deploy/demo/sboms/ledger.cdx.json"),
    ),
    (
        "sboms/checkout-api.spdx.json",
        include_str!("../deploy/demo/sboms/checkout-api.spdx.json"),
    ),
];

/// Writes the demo files into `data_dir/demo/` and returns the path of
/// its root Location file.
pub fn write_files(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("demo");
    std::fs::create_dir_all(&dir)?;
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(dir.join("catalog-info.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_file_is_embedded() {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/demo"));
        let mut on_disk: Vec<String> = Vec::new();
        for sub in ["", "sboms"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".yaml") || name.ends_with(".json") {
                    on_disk.push(if sub.is_empty() {
                        name
                    } else {
                        format!("{sub}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
