//! What people say about a repository discovery found without a
//! descriptor, from the check-up digest's buttons or the repository's card:
//! "Describe it" (a form prefilled from the repository; sent, its
//! catalog-info.yaml is proposed as a pull/merge request through the
//! outbox), "Not ours" (whose it is — scans keep that — or the admins are
//! asked) and "Not a service" (a library, an archive, an experiment: never
//! asked about again). Each is audit-logged. The likely owner's members and
//! usher's admins may; describing also needs membership of the team named
//! as owner.

use serde_json::json;

use crate::actions::jobs::{ChatMessage, DescriptorProposal};
use crate::actions::outbox::{self, NewJob};
use crate::catalog::fetch::HostKind;
use crate::catalog::model::Kind;
use crate::catalog::store::EntityRow;
use crate::chat::{Action, ButtonStyle, Element, Form, FormField, Reply, Request, Text};
use crate::dialogs::naming::{self, NameCheck};
use crate::discovery::store::{self, RepositoryRow};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

/// Component types offered in the form (Backstage's well-known ones).
const TYPES: &[&str] = &["service", "website", "library", "documentation", "tool"];

pub async fn route(core: &Core, request: &Request, sub: &str, args: &Args) -> CommandResult {
    let name = args.text("name").unwrap_or_default().trim().to_string();
    let found = store::named(&core.pool, &name).await?;
    let repo = match found.as_slice() {
        [one] => one.clone(),
        // None or several: the card says which, with buttons.
        _ => return super::repos::card(core, &name).await,
    };
    if !repo.descriptors.is_empty() {
        return Ok(Reply::text(format!(
            "{} already has {}: it is in the catalog (`repo {}` shows how).",
            repo.name,
            repo.descriptors.join(", "),
            repo.name
        )));
    }
    match sub {
        "describe" => describe(core, request, &repo, args).await,
        "not-ours" => not_ours(core, request, &repo, args).await,
        _ => not_a_service(core, request, &repo, args).await,
    }
}

/// Whether the person may speak for the repository: an admin, or a member
/// of its likely owner.
async fn may_decide(
    core: &Core,
    request: &Request,
    repo: &RepositoryRow,
) -> Result<bool, sqlx::Error> {
    super::oncall::may_act_for(core, request, repo.owner_ref.as_deref()).await
}

fn refusal(repo: &RepositoryRow) -> Reply {
    let who = match &repo.owner_ref {
        Some(team) => format!("members of {}", short(team)),
        None => "usher admins (it has no likely owner yet)".into(),
    };
    Reply::text(format!(
        "Only {who} can decide about {}. Nothing changed.",
        repo.name
    ))
}

fn short(team: &str) -> &str {
    team.rsplit('/').next().unwrap_or(team)
}

async fn audit(
    core: &Core,
    request: &Request,
    action: &str,
    repo: &RepositoryRow,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, $2, $3, $4)")
        .bind(request.actor.audit_name())
        .bind(action)
        .bind(format!("{}/{}", repo.source, repo.name))
        .bind(details)
        .execute(&core.pool)
        .await?;
    Ok(())
}

async fn not_a_service(
    core: &Core,
    request: &Request,
    repo: &RepositoryRow,
    args: &Args,
) -> CommandResult {
    if !may_decide(core, request, repo).await? {
        return Ok(refusal(repo));
    }
    let kind = args.text("kind").unwrap_or("other").to_string();
    sqlx::query(
        "UPDATE repositories SET dismissed = $3, dismissed_by = $4, dismissed_at = now()
         WHERE source = $1 AND name = $2",
    )
    .bind(&repo.source)
    .bind(&repo.name)
    .bind(&kind)
    .bind(request.actor.audit_name())
    .execute(&core.pool)
    .await?;
    audit(
        core,
        request,
        "repository.not-a-service",
        repo,
        json!({ "kind": kind }),
    )
    .await?;
    Ok(Reply::new().section(Text::plain(format!(
        "Noted: {} is {} — not a service. It won't be counted as undescribed or asked about again.",
        repo.name,
        match kind.as_str() {
            "library" => "a library",
            "archive" => "an archive",
            "experiment" => "an experiment",
            _ => "something else",
        }
    ))))
}

async fn not_ours(
    core: &Core,
    request: &Request,
    repo: &RepositoryRow,
    args: &Args,
) -> CommandResult {
    if !may_decide(core, request, repo).await? {
        return Ok(refusal(repo));
    }
    let before = repo.owner_ref.as_deref().map(short).unwrap_or("nobody");
    let by = request.actor.audit_name();
    if let Some(owner) = args.text("owner").map(str::trim).filter(|o| !o.is_empty()) {
        let team = match resolve::resolve(core, owner, &[Kind::Group]).await? {
            Resolved::One(row) => *row,
            other => {
                let command = format!("repo not-ours {} --owner", repo.name);
                return Ok(resolve::unresolved_reply(&other, owner, &command, "team"));
            }
        };
        let evidence = format!(
            "{by} said it is {}'s, not {before}'s ({})",
            team.name,
            chrono::Utc::now().format("%Y-%m-%d")
        );
        set_owner(core, repo, Some(&team.key), &evidence, &by).await?;
        audit(
            core,
            request,
            "repository.owner",
            repo,
            json!({ "from": repo.owner_ref, "to": team.key }),
        )
        .await?;
        return Ok(Reply::new().section(Text::plain(format!(
            "Noted: {} is {}'s now. Scans keep that; {} sees it in their next check-up.",
            repo.name, team.name, team.name
        ))));
    }
    if args.flag("unknown") {
        let evidence = format!(
            "{by} said it isn't {before}'s; nobody has said whose it is ({})",
            chrono::Utc::now().format("%Y-%m-%d")
        );
        set_owner(core, repo, None, &evidence, &by).await?;
        let admins: Vec<String> = core.admin_keys().collect();
        let text = format!(
            "{by} says {} isn't {before}'s, and doesn't know whose it is. `repo {}` shows what usher knows; `repo not-ours {} --owner TEAM` gives it to a team.",
            repo.name, repo.name, repo.name
        );
        let mut tx = core.pool.begin().await?;
        for admin in &admins {
            let job = NewJob::new(
                format!("dm:{admin}"),
                &ChatMessage::text(text.clone()),
                format!("repo-unowned:{}/{}:{admin}", repo.source, repo.name),
            );
            outbox::enqueue(&mut tx, &job, core.config.outbox.max_attempts).await?;
        }
        tx.commit().await?;
        audit(
            core,
            request,
            "repository.owner",
            repo,
            json!({ "from": repo.owner_ref, "to": null }),
        )
        .await?;
        return Ok(Reply::text(if admins.is_empty() {
            format!(
                "Noted: {} isn't {before}'s. No usher admins are named ([admins] people in usher.toml), so nobody was asked whose it is.",
                repo.name
            )
        } else {
            format!(
                "Noted: {} isn't {before}'s. usher's admins are asked whose it is.",
                repo.name
            )
        }));
    }
    // Whose is it? A form where the platform has them; buttons everywhere.
    let mut reply = Reply::new()
        .section(Text::plain(format!(
            "Whose is {}? Name the team it belongs to, or say you don't know and usher's admins are asked.",
            repo.name
        )))
        .actions(vec![Element::Button {
            label: "Don't know — ask the admins".into(),
            action: Action::run(format!("repo not-ours {} --unknown", repo.name)),
            style: ButtonStyle::Default,
        }]);
    reply.form = Some(Form {
        id: format!("not-ours:{}", repo.id),
        title: "Whose is it?".into(),
        text_input: None,
        error: None,
        finished: false,
        fields: vec![FormField {
            name: "owner".into(),
            label: "The team it belongs to".into(),
            choices: Vec::new(),
            initial: None,
        }],
        error_field: None,
        submit: Some(format!("repo not-ours {}", repo.name)),
    });
    Ok(reply)
}

/// Sets the owner a person decided (scans keep it: `owner_decided_by`).
async fn set_owner(
    core: &Core,
    repo: &RepositoryRow,
    team: Option<&str>,
    evidence: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE repositories SET owner_ref = $3, owner_evidence = $4, owner_decided_by = $5
         WHERE source = $1 AND name = $2",
    )
    .bind(&repo.source)
    .bind(&repo.name)
    .bind(team)
    .bind(evidence)
    .bind(by)
    .execute(&core.pool)
    .await?;
    Ok(())
}

/// What the form asks, as given or as guessed from the repository.
struct Description {
    component: String,
    owner: String,
    kind: String,
    lifecycle: String,
    description: String,
}

impl Description {
    fn guessed(core: &Core, repo: &RepositoryRow, args: &Args) -> Description {
        let last = repo.name.rsplit('/').next().unwrap_or(&repo.name);
        let given = |name: &str| {
            args.text(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Description {
            component: given("component")
                .unwrap_or_else(|| naming::slug(last, core.config.naming.max_length)),
            owner: given("owner").unwrap_or_else(|| {
                repo.owner_ref
                    .as_deref()
                    .map(short)
                    .unwrap_or_default()
                    .to_string()
            }),
            kind: given("type")
                .map(|t| t.to_lowercase())
                .unwrap_or_else(|| guess_type(last, &repo.topics_and_languages()).to_string()),
            lifecycle: given("lifecycle")
                .map(|l| l.to_lowercase())
                .unwrap_or_else(|| {
                    core.config
                        .choices
                        .default_lifecycle
                        .clone()
                        .unwrap_or_else(|| "production".into())
                }),
            description: given("description").unwrap_or_default(),
        }
    }

    /// The command that sends these answers.
    fn command(&self, repo: &str) -> String {
        let mut line = format!(
            "repo describe {repo} --component {} --type {} --lifecycle {}",
            self.component, self.kind, self.lifecycle
        );
        if !self.owner.is_empty() {
            line.push_str(&format!(" --owner {}", self.owner));
        }
        line
    }
}

/// A type from the repository's topics, name and languages: a library or
/// SDK, a website, else a service.
pub fn guess_type(name: &str, hints: &[String]) -> &'static str {
    let words: Vec<String> = name
        .split(['-', '_', '.'])
        .map(str::to_lowercase)
        .chain(hints.iter().map(|h| h.to_lowercase()))
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    if has(&["library", "lib", "sdk", "package", "client", "plugin"]) {
        "library"
    } else if has(&["website", "frontend", "web", "site", "ui", "spa"]) {
        "website"
    } else if has(&["docs", "documentation", "handbook"]) {
        "documentation"
    } else {
        "service"
    }
}

async fn describe(
    core: &Core,
    request: &Request,
    repo: &RepositoryRow,
    args: &Args,
) -> CommandResult {
    let answers = Description::guessed(core, repo, args);
    let submitted = args.text("component").is_some();
    if !submitted {
        return Ok(describe_form(core, repo, &answers, None));
    }
    // The answers, checked: the name against the convention and the
    // catalog, the owner a team, the type and lifecycle known.
    let team = match resolve::resolve(core, &answers.owner, &[Kind::Group]).await? {
        Resolved::One(row) => *row,
        _ => {
            let why = format!(
                "there is no team called `{}`; name the owning team",
                answers.owner
            );
            return Ok(describe_form(core, repo, &answers, Some(("owner", why))));
        }
    };
    if !core.is_admin(request) && !super::oncall::may_manage(core, request, &team).await? {
        return Ok(Reply::text(format!(
            "Only members of {} (and usher admins) can describe a repository as theirs. Nothing was proposed.",
            team.name
        )));
    }
    match naming::check(&core.pool, &core.config.naming, &answers.component, "").await? {
        NameCheck::Refused { reason, suggestion } => {
            let why = format!("`{}` {reason}; try `{suggestion}`", answers.component);
            return Ok(describe_form(
                core,
                repo,
                &answers,
                Some(("component", why)),
            ));
        }
        NameCheck::Ok | NameCheck::Similar { .. } => {}
    }
    if !TYPES.contains(&answers.kind.as_str()) {
        let why = format!(
            "`{}` isn't a type usher offers; pick {}",
            answers.kind,
            TYPES.join(", ")
        );
        return Ok(describe_form(core, repo, &answers, Some(("type", why))));
    }
    let lifecycles = &core.config.choices.lifecycles;
    if !lifecycles.iter().any(|l| l == &answers.lifecycle) {
        let why = format!(
            "`{}` isn't a lifecycle here; pick {}",
            answers.lifecycle,
            lifecycles.join(", ")
        );
        return Ok(describe_form(
            core,
            repo,
            &answers,
            Some(("lifecycle", why)),
        ));
    }
    let host = host_of(core, repo);
    let text = descriptor_text(repo, &answers, &team, host.as_ref().map(|(kind, _)| *kind));
    let by = request.actor.audit_name();
    let proposable = host.as_ref().and_then(|(_, url)| {
        let target = crate::hygiene::proposal::target(url, &core.config.catalog.all_hosts())?;
        let token_set = target
            .token_env
            .as_deref()
            .is_some_and(|v| std::env::var(v).is_ok_and(|t| !t.is_empty()));
        token_set.then(|| (url.clone(), target))
    });
    let Some((file_url, target)) = proposable else {
        audit(
            core,
            request,
            "repository.describe",
            repo,
            json!({ "component": answers.component, "proposed": false }),
        )
        .await?;
        return Ok(Reply::new()
            .section(Text::plain(format!(
                "usher can't open a pull request on {} (no [[catalog.hosts]] token for its host), so commit this as catalog-info.yaml at its root; the next scan brings {} into the catalog:",
                repo.name, answers.component
            )))
            .section(Text::new().add_pre(text)));
    };
    let proposal = DescriptorProposal {
        source: repo.source.clone(),
        repository: repo.name.clone(),
        component: answers.component.clone(),
        file_url,
        text: text.clone(),
        requested_by: by.clone(),
    };
    let mut tx = core.pool.begin().await?;
    let job = NewJob::new(
        repo.name.clone(),
        &proposal,
        format!(
            "describe:{}/{}:{}",
            repo.source, repo.name, answers.component
        ),
    );
    outbox::enqueue(&mut tx, &job, core.config.outbox.max_attempts).await?;
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'repository.describe', $2, $3)")
        .bind(&by)
        .bind(format!("{}/{}", repo.source, repo.name))
        .bind(json!({ "component": answers.component, "owner": team.key, "proposed": true }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reply::new()
        .section(Text::plain(format!(
            "Opening a {} on {} that adds catalog-info.yaml — merged, the next scan brings {} into the catalog:",
            match target.kind {
                HostKind::Github => "pull request",
                HostKind::Gitlab => "merge request",
            },
            repo.name,
            answers.component
        )))
        .section(Text::new().add_pre(text))
        .context(format!("`repo {}` shows the link once it's open.", repo.name)))
}

/// The form, prefilled; with an error, shown on its field. The console
/// (no forms) gets a button that sends the answers as they stand.
fn describe_form(
    core: &Core,
    repo: &RepositoryRow,
    answers: &Description,
    error: Option<(&str, String)>,
) -> Reply {
    let intro = match &error {
        Some((_, why)) => format!("Nothing was proposed: {why}."),
        None => format!(
            "Describe {} for the catalog: usher proposes its catalog-info.yaml as a pull request. Guessed from the repository — change what's wrong.",
            repo.name
        ),
    };
    let mut reply = Reply::new().section(Text::plain(intro));
    if !answers.owner.is_empty() {
        reply = reply.actions(vec![Element::Button {
            label: format!(
                "Propose it as {} ({}, {})",
                answers.component, answers.owner, answers.kind
            ),
            action: Action::run(answers.command(&repo.name)),
            style: ButtonStyle::Primary,
        }]);
    }
    let field = |name: &str, label: &str, choices: Vec<String>, initial: &str| FormField {
        name: name.into(),
        label: label.into(),
        choices,
        initial: (!initial.is_empty()).then(|| initial.to_string()),
    };
    reply.form = Some(Form {
        id: format!("describe:{}", repo.id),
        title: "Describe it".into(),
        text_input: None,
        error: error.as_ref().map(|(_, why)| why.clone()),
        finished: false,
        fields: vec![
            field(
                "component",
                "Name in the catalog",
                Vec::new(),
                &answers.component,
            ),
            field("owner", "Owning team", Vec::new(), &answers.owner),
            field(
                "type",
                "Type",
                TYPES.iter().map(|t| t.to_string()).collect(),
                &answers.kind,
            ),
            field(
                "lifecycle",
                "Lifecycle",
                core.config.choices.lifecycles.clone(),
                &answers.lifecycle,
            ),
            field(
                "description",
                "What it does, for whom",
                Vec::new(),
                &answers.description,
            ),
        ],
        error_field: error.map(|(f, _)| f.to_string()),
        submit: Some(format!("repo describe {}", repo.name)),
    });
    reply
}

/// The host a repository is on and the address its new descriptor gets
/// (`…/blob/<branch>/catalog-info.yaml`, GitLab's `…/-/blob/…`).
fn host_of(core: &Core, repo: &RepositoryRow) -> Option<(HostKind, String)> {
    let web = repo.url.trim_end_matches('/').trim_end_matches(".git");
    let parsed = reqwest::Url::parse(web).ok()?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return None,
    };
    let hosts = core.config.catalog.all_hosts();
    let kind = hosts
        .iter()
        .find(|h| h.host.eq_ignore_ascii_case(&host))?
        .kind;
    let branch = repo.default_branch.as_deref().unwrap_or("main");
    let url = match kind {
        HostKind::Github => format!("{web}/blob/{branch}/catalog-info.yaml"),
        HostKind::Gitlab => format!("{web}/-/blob/{branch}/catalog-info.yaml"),
    };
    Some((kind, url))
}

/// The descriptor's text; every value quoted as YAML needs.
fn descriptor_text(
    repo: &RepositoryRow,
    answers: &Description,
    team: &EntityRow,
    host: Option<HostKind>,
) -> String {
    let scalar = |s: &str| {
        serde_yaml_ng::to_string(s)
            .map(|y| y.trim_end().to_string())
            .unwrap_or_else(|_| format!("{s:?}"))
    };
    let mut text = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n",
        scalar(&answers.component)
    );
    if !answers.description.is_empty() {
        text.push_str(&format!(
            "  description: {}\n",
            scalar(&answers.description)
        ));
    }
    let slug = repo.name.as_str();
    match host {
        Some(HostKind::Github) => text.push_str(&format!(
            "  annotations:\n    github.com/project-slug: {}\n",
            scalar(slug)
        )),
        Some(HostKind::Gitlab) => text.push_str(&format!(
            "  annotations:\n    gitlab.com/project-slug: {}\n",
            scalar(slug)
        )),
        None => {}
    }
    text.push_str(&format!(
        "spec:\n  type: {}\n  lifecycle: {}\n  owner: {}\n",
        scalar(&answers.kind),
        scalar(&answers.lifecycle),
        scalar(&team.name)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_guessed_from_names_and_topics() {
        assert_eq!(guess_type("payments-sdk", &[]), "library");
        assert_eq!(guess_type("storefront", &["frontend".into()]), "website");
        assert_eq!(guess_type("ledger", &["go".into()]), "service");
        assert_eq!(guess_type("eng-handbook", &[]), "documentation");
    }
}
