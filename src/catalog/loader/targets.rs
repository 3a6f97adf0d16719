//! Following a Location's targets: resolved inside the location's scope,
//! globs expanded (keeping only files inside it), cycles reported rather
//! than looped.

use super::*;

/// Queues what `target`, written in `from`'s file `file`, names: from's
/// location bounds and rights carry over to it.
pub(super) async fn follow_target(
    queue: &mut VecDeque<Pending>,
    loaded: &mut Loaded,
    from: &Pending,
    file: &str,
    target: &crate::catalog::entity::LocationTarget,
    chain: &[String],
    visited: &HashSet<String>,
) {
    let field = target.field.as_str();
    let scope = &from.scope;
    let resolved = match scope.resolve(&from.source, &target.target) {
        Ok(resolved) => resolved,
        Err(why) => {
            loaded.problems.push(Problem::error(
                file,
                target.line,
                field,
                format!("the target {} {why}", quote(&target.target)),
            ));
            return;
        }
    };
    let sources: Vec<Source> = match &resolved {
        Source::File(path) if has_glob(&target.target) => {
            let pattern = path.display().to_string();
            match glob::glob(&pattern) {
                Ok(paths) => {
                    let mut found: Vec<PathBuf> = paths
                        .flatten()
                        .filter(|p| p.is_file() && scope.check_real(p).is_ok())
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        loaded.problems.push(Problem::warning(
                            file,
                            target.line,
                            field,
                            format!("the pattern {} matches no files", quote(&target.target)),
                        ));
                    }
                    found.into_iter().map(Source::File).collect()
                }
                Err(e) => {
                    loaded.problems.push(Problem::error(
                        file,
                        target.line,
                        field,
                        format!(
                            "the pattern {} is not a valid glob: {e}",
                            quote(&target.target)
                        ),
                    ));
                    Vec::new()
                }
            }
        }
        other => vec![other.clone()],
    };
    for source in sources {
        let identity = source.identity();
        if chain.contains(&identity) {
            let mut cycle: Vec<String> = chain
                .iter()
                .skip_while(|c| **c != identity)
                .cloned()
                .collect();
            cycle.push(identity);
            loaded.problems.push(Problem::warning(
                file,
                target.line,
                field,
                format!(
                    "the target {} leads back to a file that includes this one ({}); it is not followed again",
                    quote(&target.target),
                    cycle.join(" → ")
                ),
            ));
            continue;
        }
        if visited.contains(&identity) {
            continue;
        }
        queue.push_back(Pending {
            source,
            scope: scope.clone(),
            people_allowed: from.people_allowed,
            chain: chain.to_vec(),
            from_folder: false,
            referrer: Some(Referrer {
                file: file.to_string(),
                line: target.line,
                field: field.to_string(),
                written: target.target.clone(),
            }),
        });
    }
}

pub(super) fn has_glob(target: &str) -> bool {
    target.contains(['*', '?', '['])
}
