//! Catalog hygiene: the demo catalog's gaps, scorecards in chat, digests
//! per team, exactly once per round across processes, dedupe, and import
//! problems routed to the owner the descriptor names.

use usher::config::Config;
use usher::hygiene::{Scope, digest, evaluate};

use crate::commands::{ask, demo_db};
use crate::oncall::ask_as;
use crate::support::usher;

#[tokio::test]
async fn the_demo_catalogs_gaps_are_found_and_scored() {
    let db = demo_db().await;
    let config = Config::default();
    let findings = evaluate(&db.pool, &config.hygiene, &Scope::default())
        .await
        .unwrap();
    let has = |service: &str, rule: &str| {
        findings
            .iter()
            .any(|f| f.service == service && f.rule.id == rule)
    };
    // Everyone on team-legacy has left.
    assert!(has("legacy-billing", "owner-people-left"), "{findings:#?}");
    assert!(!has("payments-api", "runbook-missing"));
    assert!(findings.iter().any(|f| f.rule.id == "oncall-missing"));
    let core = db.core();
    let card = ask(&core, "hygiene payments-api").await.to_plain();
    assert!(card.contains("14 of 14 checks pass"), "{card}");
    let team = ask(&core, "hygiene team-legacy").await.to_plain();
    assert!(team.contains("whose people have all left"), "{team}");
    let all = ask(&core, "hygiene").await.to_plain();
    assert!(
        all.contains("owner-people-left") && all.contains("services pass every check"),
        "{all}"
    );
}

#[tokio::test]
async fn nag_dry_run_prints_each_digest_and_where_it_goes() {
    let db = demo_db().await;
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["nag", "--once", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("=== group:default/team-payments")
            && text.contains("the team's slack channel"),
        "{text}"
    );
    assert!(text.contains("NOT DELIVERABLE"), "{text}");
    assert!(text.contains("nothing sent"), "{text}");
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "a dry run sends nothing");
    // One team only; an unknown team is a clear error.
    let one = usher()
        .env("DATABASE_URL", db.url())
        .args(["nag", "--once", "--dry-run", "--team", "team-payments"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout);
    assert_eq!(text.matches("===").count(), 1, "{text}");
    let bad = usher()
        .env("DATABASE_URL", db.url())
        .args(["nag", "--once", "--dry-run", "--team", "team-nobody"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no such team"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_running_a_round_make_one_digest_per_team() {
    let db = demo_db().await;
    let config = Config::default();
    let (a, b) = (db.new_pool().await, db.new_pool().await);
    let (ca, cb) = (config.clone(), config.clone());
    let round = "2026-11-26T10:00@UTC";
    let first = tokio::spawn(async move {
        let digests = digest::build(&a, &ca, None, true).await.unwrap();
        digest::send_round(&a, &ca, round, &digests).await.unwrap()
    });
    let second = tokio::spawn(async move {
        let digests = digest::build(&b, &cb, None, true).await.unwrap();
        digest::send_round(&b, &cb, round, &digests).await.unwrap()
    });
    let (x, y) = (first.await.unwrap(), second.await.unwrap());
    let teams: i64 = sqlx::query_scalar("SELECT count(*) FROM hygiene_digests WHERE round = $1")
        .bind(round)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        (x.sent + x.undeliverable + y.sent + y.undeliverable) as i64,
        teams
    );
    let per_team: Vec<(String, i64)> = sqlx::query_as(
        "SELECT destination, count(*) FROM outbox WHERE kind = 'chat.message'
         GROUP BY destination HAVING count(*) > 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(per_team.is_empty(), "doubled: {per_team:?}");
    let payments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE destination = 'channel:group:default/team-payments'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(payments, 1);
    // The digest carries the whole reply for the chat platforms.
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE destination = 'channel:group:default/team-payments'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(payload["reply"]["blocks"].is_array());
    assert!(
        payload["text"]
            .as_str()
            .unwrap()
            .contains("Catalog check-up: Payments")
    );
    // Teams nobody can reach are reported to the admins, once.
    let reports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'admin.report'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(reports >= 1);
    // The next round: nothing new to say within repeat_days.
    let digests = digest::build(&db.pool, &config, None, true).await.unwrap();
    assert!(digests.is_empty(), "{} digests", digests.len());
    // A new gap is reported in the next round, alone.
    sqlx::query(
        "UPDATE entities SET description = NULL WHERE name = 'payments-api' AND kind = 'component'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let digests = digest::build(&db.pool, &config, None, true).await.unwrap();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].findings.len(), 1);
    assert_eq!(digests[0].findings[0].rule.id, "description-missing");
}

#[tokio::test]
async fn import_problems_go_to_the_owner_the_descriptor_names() {
    let db = demo_db().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Bad Name!\nspec:\n  type: service\n  lifecycle: production\n  owner: team-payments\n",
    )
    .unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let config = Config::default();
    let findings = evaluate(
        &db.pool,
        &config.hygiene,
        &Scope {
            team: Some("group:default/team-payments".into()),
            service_id: None,
        },
    )
    .await
    .unwrap();
    let failed = findings
        .iter()
        .find(|f| f.rule.id == "import-failed")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(failed.owner.as_deref(), Some("group:default/team-payments"));
    assert!(
        failed
            .details
            .iter()
            .any(|d| d.contains("catalog-info.yaml:4")),
        "{:?}",
        failed.details
    );
}

#[tokio::test]
async fn owners_snooze_set_aside_withdraw_and_confirm() {
    let db = demo_db().await;
    let core = db.core();
    let jonas = crate::oncall::person("jonas.weber");
    // Not a member of team-search: refused, nothing recorded.
    let refused = ask_as(
        &core,
        crate::oncall::person("mei.tanaka"),
        "hygiene snooze payouts runbook-missing 7d",
    )
    .await;
    assert!(refused.contains("Only members of"), "{refused}");
    let snoozed = ask_as(
        &core,
        jonas.clone(),
        "hygiene snooze payouts runbook-missing 30d writing it this sprint",
    )
    .await;
    assert!(snoozed.contains("Snoozed for 30 days"), "{snoozed}");
    let card = ask(&core, "hygiene payouts").await.to_plain();
    assert!(card.contains("⏸ has no runbook"), "{card}");
    let findings = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(
        !findings
            .iter()
            .any(|f| f.service == "payouts" && f.rule.id == "runbook-missing")
    );
    // A snooze ends by itself.
    sqlx::query("UPDATE hygiene_suppressions SET until = now() - interval '1 minute' WHERE rule = 'runbook-missing'")
        .execute(&db.pool)
        .await
        .unwrap();
    let findings = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.service == "payouts" && f.rule.id == "runbook-missing")
    );
    // Not applicable needs a reason.
    let why = ask_as(
        &core,
        jonas.clone(),
        "hygiene not-applicable payouts docs-missing",
    )
    .await;
    assert!(why.contains("Say why"), "{why}");
    let na = ask_as(
        &core,
        jonas.clone(),
        "hygiene not-applicable payouts docs-missing internal batch job, the runbook is the docs",
    )
    .await;
    assert!(na.contains("doesn't apply"), "{na}");
    let back = ask_as(
        &core,
        jonas.clone(),
        "hygiene withdraw payouts docs-missing",
    )
    .await;
    assert!(back.contains("applies to payouts again"), "{back}");
    let findings = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.service == "payouts" && f.rule.id == "docs-missing")
    );
    // Confirm resets staleness.
    sqlx::query("UPDATE entities SET updated_at = now() - interval '400 days', confirmed_at = NULL WHERE name = 'payouts'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(
        ask(&core, "hygiene payouts")
            .await
            .to_plain()
            .contains("hasn't been changed or confirmed")
    );
    let confirmed = ask_as(&core, jonas, "hygiene confirm payouts").await;
    assert!(confirmed.contains("still accurate"), "{confirmed}");
    assert!(
        ask(&core, "hygiene payouts")
            .await
            .to_plain()
            .contains("✅ changed or confirmed recently")
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'hygiene.%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 4);
}

#[tokio::test]
async fn scheduled_rounds_run_once_even_when_looked_at_twice() {
    use chrono::TimeZone;
    let db = demo_db().await;
    let mut config = Config::default();
    config.hygiene.timezone = "Europe/Berlin".into();
    // Monday 30 November 2026, 10:00 in Berlin = 09:00 UTC.
    let before = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
    let after = chrono::Utc
        .with_ymd_and_hms(2026, 11, 30, 9, 30, 0)
        .unwrap();
    let first = usher::hygiene::rounds::run_due(&db.pool, &config, before, after)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0.round, "2026-11-30T09:00Z");
    assert!(first[0].1.sent > 0);
    // A second process (or this one after a restart) looks at the same hour.
    let again = usher::hygiene::rounds::run_due(&db.pool, &config, before, after)
        .await
        .unwrap();
    assert_eq!(again[0].1.sent, 0);
    let digests: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'hygiene:%:2026-11-30T09:00Z:%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(digests, first[0].1.sent as i64);
    // Saturday is quiet.
    let saturday = usher::hygiene::rounds::run_due(
        &db.pool,
        &config,
        chrono::Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap(),
        chrono::Utc.with_ymd_and_hms(2026, 12, 5, 23, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    assert!(saturday.is_empty());
}

#[tokio::test]
async fn ignored_findings_are_escalated_to_the_lead_once() {
    let db = demo_db().await;
    let mut config = Config::default();
    config.hygiene.repeat_days = 0; // every round repeats what is still open
    let team = Some("group:default/team-payments");
    for round in ["r1", "r2", "r3", "r4"] {
        let digests = digest::build(&db.pool, &config, team, true).await.unwrap();
        digest::send_round(&db.pool, &config, round, &digests)
            .await
            .unwrap();
        let escalations: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'hygiene-escalation:%'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let expected = if round < "r3" { 0 } else { 1 };
        assert_eq!(escalations, expected, "after {round}");
    }
    let (destination, payload): (String, serde_json::Value) = sqlx::query_as(
        "SELECT destination, payload FROM outbox WHERE idempotency_key LIKE 'hygiene-escalation:%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(destination, "dm:user:default/amara.okafor");
    assert!(
        payload["text"]
            .as_str()
            .unwrap()
            .contains("3 digests in a row"),
        "{payload}"
    );
    // A fixed finding starts counting again.
    let before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hygiene_reported WHERE subject = 'fraud-scorer' AND rule = 'tier-missing'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(before, 1);
    sqlx::query(
        "UPDATE entities SET tier = '3' WHERE name = 'fraud-scorer' AND kind = 'component'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let digests = digest::build(&db.pool, &config, team, true).await.unwrap();
    digest::send_round(&db.pool, &config, "r5", &digests)
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hygiene_reported WHERE subject = 'fraud-scorer' AND rule = 'tier-missing'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(after, 0);
}

#[tokio::test]
async fn fix_now_writes_chat_services_and_proposes_yaml_for_described_ones() {
    let db = demo_db().await;
    let core = db.core();
    let jonas = crate::oncall::person("jonas.weber");
    // payouts as if it had been created in chat.
    sqlx::query(
        "UPDATE entities SET origin = 'chat' WHERE name = 'payouts' AND kind = 'component'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let menu = ask_as(&core, jonas.clone(), "hygiene fix payouts").await;
    assert!(menu.contains("Link the runbook"), "{menu}");
    let refused = ask_as(
        &core,
        crate::oncall::person("mei.tanaka"),
        "hygiene fix payouts --field runbook https://runbooks.example.com/payouts",
    )
    .await;
    assert!(refused.contains("Only members"), "{refused}");
    let bad = ask_as(
        &core,
        jonas.clone(),
        "hygiene fix payouts --field runbook not a url",
    )
    .await;
    assert!(bad.contains("isn't a web address"), "{bad}");
    let saved = ask_as(
        &core,
        jonas.clone(),
        "hygiene fix payouts --field runbook https://runbooks.example.com/payouts",
    )
    .await;
    assert!(saved.contains("Saved"), "{saved}");
    let tier = ask_as(&core, jonas.clone(), "hygiene fix payouts --field tier").await;
    assert!(
        tier.contains("[1]") || tier.contains("→ hygiene fix payouts --field tier 1"),
        "{tier}"
    );
    let findings = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(
        !findings
            .iter()
            .any(|f| f.service == "payouts" && f.rule.id == "runbook-missing")
    );
    let raw: serde_json::Value = sqlx::query_scalar(
        "SELECT raw FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        raw["metadata"]["links"]
            .to_string()
            .contains("runbooks.example.com/payouts")
    );
    // A service described by a file: the change to make, not a write.
    let proposed = ask_as(
        &core,
        jonas,
        "hygiene fix ledger --field runbook https://runbooks.example.com/ledger",
    )
    .await;
    assert!(
        proposed.contains("type: runbook") && proposed.contains("payments.yaml"),
        "{proposed}"
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'hygiene.fix'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

/// The reply (not its text) to `text` asked by `actor` in the console.
async fn reply_as(
    core: &usher::commands::Core,
    actor: usher::chat::Actor,
    text: &str,
) -> usher::chat::Reply {
    let request = usher::chat::Request {
        actor,
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: text.to_string(),
    };
    usher::commands::handle(core, &request).await
}

#[tokio::test]
async fn fix_now_is_one_form_with_exactly_the_missing_fields() {
    let db = demo_db().await;
    let core = db.core();
    let jonas = crate::oncall::person("jonas.weber");
    sqlx::query(
        "UPDATE entities SET origin = 'chat', description = NULL WHERE name = 'payouts' AND kind = 'component'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let missing: Vec<String> = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.service == "payouts")
        .map(|f| f.rule.id.trim_end_matches("-missing").to_string())
        .collect();
    let menu = reply_as(&core, jonas.clone(), "hygiene fix payouts").await;
    let form = menu.form.clone().expect("a form");
    let fields: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    assert!(
        fields.contains(&"description") && fields.contains(&"runbook"),
        "{fields:?}"
    );
    assert!(
        fields.iter().all(|f| missing.iter().any(|m| m == f)),
        "only what's missing: {fields:?} vs {missing:?}"
    );
    let submit = form.submit.clone().unwrap();
    assert_eq!(submit, "hygiene fix payouts");
    // The console has no forms: the same fields as buttons.
    assert!(
        menu.to_plain().contains("Link the runbook"),
        "{}",
        menu.to_plain()
    );
    // One bad value: the form comes back on that field, what was typed is
    // kept, and nothing is saved.
    let answers = |runbook: &str| {
        vec![
            (
                "description".to_string(),
                r#"Pays sellers "every" night"#.to_string(),
            ),
            ("runbook".to_string(), runbook.to_string()),
        ]
    };
    let back = reply_as(
        &core,
        jonas.clone(),
        &usher::chat::filled_line(&submit, &answers("not a url")),
    )
    .await;
    let form = back.form.expect("the form again");
    assert_eq!(form.error_field.as_deref(), Some("runbook"));
    assert!(form.error.unwrap().contains("isn't a web address"));
    // A tier out of range is the command's to refuse (not the parser's), so
    // it comes back on the form too.
    let tier = reply_as(
        &core,
        jonas.clone(),
        "hygiene fix payouts --tier 5 --lifecycle Production",
    )
    .await;
    let tier_text = tier.to_plain();
    let tier_form = tier.form.expect("the form again");
    assert_eq!(tier_form.error_field.as_deref(), Some("tier"));
    // The message names the field, and the field is on the form even when
    // it wasn't missing, so it can be corrected there.
    assert!(
        tier_form
            .error
            .unwrap()
            .contains("`5` isn't a tier: pick one of 1, 2, 3, 4")
    );
    assert!(tier_form.fields.iter().any(|f| f.name == "tier"));
    assert!(
        tier_text.starts_with("Nothing changed on payouts. `5` isn't a tier"),
        "{tier_text}"
    );
    let kept = form
        .fields
        .iter()
        .find(|f| f.name == "description")
        .unwrap();
    assert_eq!(
        kept.initial.as_deref(),
        Some(r#"Pays sellers "every" night"#)
    );
    let description: Option<String> = sqlx::query_scalar(
        "SELECT description FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(description, None);
    // Good values: everything saved in one go, one audit entry.
    let saved = reply_as(
        &core,
        jonas,
        &usher::chat::filled_line(&submit, &answers("https://runbooks.example.com/payouts")),
    )
    .await
    .to_plain();
    assert!(saved.contains("description, runbook filled in"), "{saved}");
    let description: Option<String> = sqlx::query_scalar(
        "SELECT description FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        description.as_deref(),
        Some(r#"Pays sellers "every" night"#)
    );
    let left: Vec<&str> = evaluate(&db.pool, &Config::default().hygiene, &Scope::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.service == "payouts")
        .map(|f| f.rule.id)
        .collect();
    assert!(
        !left.contains(&"description-missing") && !left.contains(&"runbook-missing"),
        "{left:?}"
    );
    let audited: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'hygiene.fix' AND subject LIKE '%payouts'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(
        audited[0]["runbook"],
        "https://runbooks.example.com/payouts"
    );
    // A choice, written in its column and in the stored document.
    let saved = ask_as(
        &core,
        crate::oncall::person("jonas.weber"),
        "hygiene fix payouts --lifecycle Experimental",
    )
    .await;
    assert!(saved.contains("lifecycle filled in"), "{saved}");
    let (lifecycle, stored): (Option<String>, serde_json::Value) = sqlx::query_as(
        "SELECT lifecycle, raw->'spec'->'lifecycle' FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(lifecycle.as_deref(), Some("experimental"));
    assert_eq!(stored, serde_json::json!("experimental"));
}

#[tokio::test]
async fn a_crash_between_claiming_and_queueing_leaves_the_round_to_run_again() {
    let db = demo_db().await;
    let config = Config::default();
    let team = Some("group:default/team-payments");
    // A process claims the team's round and dies before committing.
    {
        let mut tx = db.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO hygiene_digests (team_ref, round, findings_hash, findings)
             VALUES ('group:default/team-payments', 'crash-round', 'x', 1)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        // dropped: rolled back, as a crash would
    }
    let digests = digest::build(&db.pool, &config, team, true).await.unwrap();
    let outcome = digest::send_round(&db.pool, &config, "crash-round", &digests)
        .await
        .unwrap();
    assert_eq!(outcome.sent, 1);
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'hygiene:group:default/team-payments:crash-round:%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1);
}

/// An outbox worker that opens proposals with `token` as `token_env`.
fn proposal_worker(
    db: &crate::support::TestDb,
    config: &Config,
    token_env: &str,
    token: &str,
) -> usher::actions::outbox::Worker {
    let sender = usher::hygiene::proposal::ProposalSender::new(
        db.pool.clone(),
        std::sync::Arc::new(config.clone()),
    )
    .with_secrets([(token_env.to_string(), token.to_string())].into());
    usher::actions::outbox::Worker::new(
        db.pool.clone(),
        usher::actions::outbox::Senders::new().with(
            usher::actions::jobs::HYGIENE_PROPOSAL,
            std::sync::Arc::new(sender),
        ),
        Default::default(),
    )
}

/// Queues a proposal job for ledger, as a fix saved in chat does.
async fn queue_ledger_proposal(db: &crate::support::TestDb, key: &str, payload: serde_json::Value) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut payload = payload;
    payload["service"] = "ledger".into();
    payload["service_ref"] = "component:default/ledger".into();
    payload["source_line"] = 1.into();
    usher::actions::outbox::enqueue(
        &mut conn,
        &usher::actions::outbox::NewJob {
            kind: usher::actions::jobs::HYGIENE_PROPOSAL.into(),
            destination: "ledger".into(),
            payload,
            idempotency_key: key.into(),
        },
        5,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_for_a_file_on_github_is_proposed_as_a_pull_request() {
    use crate::fakes::{FORGE_GITHUB_TOKEN, FakeForge};
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let file = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ledger\n  # the books\nspec:\n  type: service\n  lifecycle: production\n  owner: team-payments\n";
    forge.put_github_file("acme-shop/ledger", "catalog-info.yaml", file);
    let host = forge.base().trim_start_matches("http://").to_string();
    sqlx::query("UPDATE entities SET source_file = $1, source_line = 1 WHERE name = 'ledger' AND kind = 'component'")
        .bind(format!("{}/acme-shop/ledger/blob/main/catalog-info.yaml", forge.base()))
        .execute(&db.pool)
        .await
        .unwrap();
    let toml = format!(
        "[[catalog.hosts]]\ntype = \"github\"\nhost = \"{host}\"\napi_url = \"{}/gh\"\ntoken_env = \"FORGE_GITHUB_TOKEN\"\n",
        forge.base()
    );
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("usher.toml");
    std::fs::write(&config_path, &toml).unwrap();
    // Jonas asks in the console (the same core as chat).
    let mut child = usher()
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", &config_path)
        .env("FORGE_GITHUB_TOKEN", FORGE_GITHUB_TOKEN)
        .args(["console", "--as", "jonas.weber"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "hygiene fix ledger --runbook https://runbooks.example.com/ledger --tier 2"
        )
        .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Opening a pull request on acme-shop/ledger"),
        "{text}"
    );
    // The outbox job opens it.
    let config = Config::from_toml(&toml).unwrap();
    let worker = proposal_worker(&db, &config, "FORGE_GITHUB_TOKEN", FORGE_GITHUB_TOKEN);
    while worker.run_one().await.unwrap() {}
    assert_eq!(
        forge.branches(),
        ["acme-shop/ledger:refs/heads/usher/ledger-catalog"]
    );
    let pulls = forge.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0]["base"]["ref"], "main");
    let edited = forge
        .github_file("acme-shop/ledger", "catalog-info.yaml")
        .unwrap();
    assert!(edited.contains("  # the books"), "comments kept: {edited}");
    assert!(edited.contains("type: runbook"), "{edited}");
    assert!(edited.contains("usher.dev/tier: \"2\""), "{edited}");
    assert_eq!(pulls[0]["title"], "ledger: set tier, runbook");
    // The scorecard shows the proposal until the merge is imported.
    let core = db.core_with(config);
    let card = ask(&core, "hygiene ledger").await.to_plain();
    assert!(
        card.contains(
            "fix proposed: pull request (https://github.example.com/acme-shop/ledger/pull/1)"
        ),
        "{card}"
    );
    // A fix saved while that request is open joins it: same branch, same
    // pull request, the runbook not added twice.
    queue_ledger_proposal(
        &db,
        "second-proposal",
        serde_json::json!({
            "changes": [
                { "field": "runbook", "value": "https://runbooks.example.com/ledger" },
                { "field": "docs", "value": "https://docs.example.com/ledger" },
            ],
            "source_file": format!("{}/acme-shop/ledger/blob/main/catalog-info.yaml", forge.base()),
            "requested_by": "Jonas Weber",
        }),
    )
    .await;
    while worker.run_one().await.unwrap() {}
    assert_eq!(forge.branches().len(), 1);
    assert_eq!(forge.pulls().len(), 1, "{:#?}", forge.pulls());
    let edited = forge
        .github_file("acme-shop/ledger", "catalog-info.yaml")
        .unwrap();
    assert_eq!(
        edited.matches("runbooks.example.com/ledger").count(),
        1,
        "{edited}"
    );
    assert!(edited.contains("docs.example.com/ledger"), "{edited}");
    let docs: String = sqlx::query_scalar(
        "SELECT url FROM hygiene_proposals WHERE service_ref = 'component:default/ledger' AND field = 'docs'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(docs.ends_with("/pull/1"), "{docs}");
}

#[tokio::test]
async fn a_pagerduty_service_nobody_covers_in_the_snapshot_has_no_on_call() {
    let db = demo_db().await;
    let config = Config::default();
    let missing = |findings: &[usher::hygiene::Finding]| {
        findings
            .iter()
            .any(|f| f.service == "payments-api" && f.rule.id == "oncall-missing")
    };
    let findings = evaluate(&db.pool, &config.hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(
        !missing(&findings),
        "configured, and no snapshot yet: trusted"
    );
    // A good snapshot that doesn't cover PAY1234.
    sqlx::query("INSERT INTO oncall_snapshot_runs (provider, refreshed_at, targets) VALUES ('pagerduty', now(), 3)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO oncall_snapshot (provider, target, level, person) VALUES ('pagerduty', 'PID0001', 1, 'mei@acme-shop.example')")
        .execute(&db.pool)
        .await
        .unwrap();
    let findings = evaluate(&db.pool, &config.hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(missing(&findings));
    sqlx::query("INSERT INTO oncall_snapshot (provider, target, level, person) VALUES ('pagerduty', 'PAY1234', 1, 'amara@acme-shop.example')")
        .execute(&db.pool)
        .await
        .unwrap();
    let findings = evaluate(&db.pool, &config.hygiene, &Scope::default())
        .await
        .unwrap();
    assert!(!missing(&findings));
}

#[tokio::test]
async fn a_team_on_slack_and_discord_gets_the_digest_on_each() {
    let db = demo_db().await;
    sqlx::query("UPDATE entities SET discord_channel = '1300000000000000001' WHERE ref = 'group:default/team-payments'")
        .execute(&db.pool)
        .await
        .unwrap();
    let config = Config::default();
    let digests = digest::build(&db.pool, &config, Some("group:default/team-payments"), true)
        .await
        .unwrap();
    assert!(
        digests[0].destination.describe().contains("slack channel")
            && digests[0]
                .destination
                .describe()
                .contains("discord channel")
    );
    digest::send_round(&db.pool, &config, "both", &digests)
        .await
        .unwrap();
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM outbox WHERE idempotency_key LIKE 'hygiene:%' ORDER BY kind",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["chat.message.discord", "chat.message.slack"]);
    // A deployment that only posts on Slack: the digest goes there alone,
    // not also to a Discord job no sender would ever take.
    let mut slack_only = Config::default();
    slack_only.hygiene.deliver_on = Some(vec!["slack".into()]);
    let digests = digest::build(
        &db.pool,
        &slack_only,
        Some("group:default/team-payments"),
        false,
    )
    .await
    .unwrap();
    let described = digests[0].destination.describe();
    assert!(
        described.contains("slack channel") && !described.contains("discord"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_for_a_file_on_gitlab_is_proposed_as_a_merge_request() {
    use crate::fakes::{FORGE_GITLAB_TOKEN, FakeForge};
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let file = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ledger\nspec:\n  type: service\n  owner: team-payments\n";
    forge.put_gitlab_file("acme/ledger", "catalog-info.yaml", file);
    let host = forge.base().trim_start_matches("http://").to_string();
    sqlx::query("UPDATE entities SET source_file = $1, source_line = 1, tier = NULL WHERE name = 'ledger' AND kind = 'component'")
        .bind(format!("{}/acme/ledger/-/blob/main/catalog-info.yaml", forge.base()))
        .execute(&db.pool)
        .await
        .unwrap();
    let toml = format!(
        "[[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"{host}\"\napi_url = \"{}/gl\"\ntoken_env = \"FORGE_GITLAB_TOKEN\"\n",
        forge.base()
    );
    let config = Config::from_toml(&toml).unwrap();
    let core = db.core_with(config.clone());
    // The console binary reads the token from its environment; here the
    // job is queued as chat would, then delivered with the token.
    let line = "hygiene fix ledger --field tier 2";
    let request = usher::chat::Request {
        actor: crate::oncall::person("jonas.weber"),
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: line.into(),
    };
    let reply = usher::commands::handle(&core, &request).await.to_plain();
    // Without the token in this process's environment: the YAML is shown.
    assert!(reply.contains("usher.dev/tier"), "{reply}");
    // A job as earlier versions queued it: one `field` and `value`.
    queue_ledger_proposal(
        &db,
        "gl-1",
        serde_json::json!({
            "field": "tier", "value": "2",
            "source_file": format!("{}/acme/ledger/-/blob/main/catalog-info.yaml", forge.base()),
            "requested_by": "jonas.weber",
        }),
    )
    .await;
    let worker = proposal_worker(&db, &config, "FORGE_GITLAB_TOKEN", FORGE_GITLAB_TOKEN);
    while worker.run_one().await.unwrap() {}
    assert_eq!(forge.branches().len(), 1, "{:?}", forge.branches());
    let mrs = forge.pulls();
    assert_eq!(mrs.len(), 1);
    assert_eq!(mrs[0]["source_branch"], "usher/ledger-catalog");
    assert_eq!(mrs[0]["target_branch"], "main");
    let edited = forge
        .gitlab_file("acme/ledger", "catalog-info.yaml")
        .unwrap();
    assert!(edited.contains("usher.dev/tier: \"2\""), "{edited}");
    let card = ask(&core, "hygiene ledger").await.to_plain();
    assert!(
        card.contains(
            "fix proposed: pull request (https://gitlab.example.com/acme/ledger/-/merge_requests/1)"
        ),
        "{card}"
    );
}
