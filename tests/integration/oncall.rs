//! On-call: PagerDuty and Opsgenie against fakes speaking their REST APIs,
//! the cache and the last-known answer, usher rotations managed from chat
//! (members only, audit-logged), paging with dedup, limits and refusals,
//! and the bulk snapshot.

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use usher::actions::jobs;
use usher::actions::outbox::Senders;
use usher::chat::{Actor, Person, Platform, Request};
use usher::clock::FixedClock;
use usher::commands::{self, Core};
use usher::config::Config;
use usher::oncall::{OnCallService, paging};

use crate::commands::demo_db;
use crate::fakes::{FakePaging, Mode, OPSGENIE_KEY, PAGERDUTY_TOKEN};
use crate::support::{RecordingSender, TestDb, drain_outbox};

fn core_with(db: &TestDb, fake: &FakePaging, tweak: impl FnOnce(&mut Config)) -> Core {
    let mut config = Config::default();
    config.oncall = fake.config();
    tweak(&mut config);
    let mut core = db.core_with(config.clone());
    core.oncall = Arc::new(OnCallService::with_credentials(
        config.oncall.clone(),
        Some(PAGERDUTY_TOKEN.into()),
        Some(OPSGENIE_KEY.into()),
    ));
    core
}

pub fn person(key: &str) -> Actor {
    Actor {
        person: Some(Person {
            key: format!("user:default/{key}"),
            display: key.to_string(),
            email: None,
        }),
        platform_user: key.to_string(),
        display: key.to_string(),
        external: false,
        unresolved: false,
    }
}

pub async fn ask_as(core: &Core, actor: Actor, text: &str) -> String {
    let request = Request {
        actor,
        platform: Platform::Console,
        workspace: None,
        channel: None,
        text: text.to_string(),
    };
    commands::handle(core, &request).await.to_plain()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_levels_cache_and_outages() {
    let db = demo_db().await;
    let fake = FakePaging::start().await;
    let core = core_with(&db, &fake, |_| {});
    let text = ask_as(&core, Actor::guest("x"), "oncall payments-api").await;
    assert!(
        text.contains("Amara Okafor is on call until Mon 30 Nov 08:00 UTC — PagerDuty, level 1."),
        "{text}"
    );
    assert!(text.contains("Level 2: Jonas Weber"), "{text}");
    assert!(
        text.contains("[Page Amara Okafor] → page component:default/payments-api"),
        "{text}"
    );
    let calls = fake.seen();
    assert_eq!(calls.len(), 2, "service, then on-calls");
    assert_eq!(calls[0].path, "/services/PAY1234");
    assert_eq!(calls[1].path, "/oncalls");
    assert!(
        calls[1]
            .query
            .contains("escalation_policy_ids[]=EP-PAY1234"),
        "{}",
        calls[1].query
    );
    // Cached: the owner answer asks nobody.
    let text = ask_as(&core, Actor::guest("x"), "owner payments-api").await;
    assert!(
        text.contains("On call: Amara Okafor until Mon 30 Nov 08:00 UTC (PagerDuty)"),
        "{text}"
    );
    assert_eq!(fake.seen().len(), 2);

    // Without the cache, a provider outage shows the last known answer.
    let core = core_with(&db, &fake, |c| c.oncall.cache_secs = 0);
    fake.set_mode(Mode::ServerError);
    let text = ask_as(&core, Actor::guest("x"), "oncall payments-api").await;
    assert!(
        text.contains("PagerDuty answered 503 Service Unavailable. Showing the last known answer"),
        "{text}"
    );
    assert!(text.contains("Amara Okafor is on call"), "{text}");
    // Slow: time-boxed, well within the chat platforms' 3 seconds.
    fake.set_mode(Mode::Slow);
    let started = Instant::now();
    let text = ask_as(&core, Actor::guest("x"), "oncall auth-service").await;
    assert!(
        started.elapsed().as_millis() < 2000,
        "{:?}",
        started.elapsed()
    );
    assert!(
        text.contains("PagerDuty didn't answer within 1.0 s")
            && text.contains("Try again in a minute"),
        "{text}"
    );
    fake.set_mode(Mode::RateLimited);
    let text = ask_as(&core, Actor::guest("x"), "oncall auth-service").await;
    assert!(text.contains("rate limited; retry in 7 s"), "{text}");
    fake.set_mode(Mode::Normal);
    let text = ask_as(&core, Actor::guest("x"), "oncall auth-service").await;
    assert!(text.contains("Mei Tanaka is on call"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opsgenie_now_and_next() {
    let db = demo_db().await;
    let fake = FakePaging::start().await;
    let core = core_with(&db, &fake, |_| {});
    let text = ask_as(&core, Actor::guest("x"), "oncall checkout-api").await;
    assert!(
        text.contains("Diego Ramírez is on call — Opsgenie."),
        "{text}"
    );
    assert!(text.contains("Next: Hannah Schmidt"), "{text}");
    let call = fake
        .seen()
        .into_iter()
        .find(|s| s.path.contains("/on-calls"))
        .unwrap();
    assert_eq!(call.path, "/v2/schedules/checkout_schedule/on-calls");
    assert!(call.query.contains("scheduleIdentifierType=name") && call.query.contains("flat=true"));
    assert_eq!(
        call.headers["authorization"],
        format!("GenieKey {OPSGENIE_KEY}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_from_chat_with_overrides_members_only() {
    let db = demo_db().await;
    let fake = FakePaging::start().await;
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 3, 23, 8, 30, 0).unwrap(),
    ));
    let core = core_with(&db, &fake, |c| {
        c.admins.people = vec!["amara.okafor".into()]
    })
    .with_clock(clock.clone());
    let set = "oncall set team-platform --people sam.lindqvist,chloe.dubois --length weekly --handoff \"mon 09:00\" --tz Europe/Berlin --start 2026-03-16";
    let text = ask_as(&core, Actor::guest("x"), set).await;
    assert!(text.contains("is for people in the catalog"), "{text}");
    let text = ask_as(&core, person("jonas.weber"), set).await;
    assert!(
        text.contains("Only members of team-platform and usher admins"),
        "{text}"
    );
    let text = ask_as(&core, person("sam.lindqvist"), set).await;
    assert!(
        text.contains(
            "sam.lindqvist → chloe.dubois — 7 days each, handing off at Mon 09:00 (Europe/Berlin)"
        ),
        "{text}"
    );
    // 23 March 09:30 CET: Chloé's week.
    let text = ask_as(&core, Actor::guest("x"), "oncall event-bus").await;
    assert!(
        text.contains("Chloé Dubois is on call until Mon 30 Mar 07:00 UTC — usher rotation."),
        "{text}"
    );
    assert!(
        text.contains("Next: Sam Lindqvist from Mon 30 Mar 07:00 UTC"),
        "{text}"
    );
    // An override by an admin; then the cover shows.
    let text = ask_as(
        &core,
        person("amara.okafor"),
        "oncall override team-platform jonas.weber \"2026-03-24 18:00\" 12h",
    )
    .await;
    assert!(text.contains("Jonas Weber covers team-platform's rotation from Tue 24 Mar 17:00 UTC to Wed 25 Mar 05:00 UTC"), "{text}");
    clock.set(Utc.with_ymd_and_hms(2026, 3, 24, 20, 0, 0).unwrap());
    let text = ask_as(&core, Actor::guest("x"), "oncall team-platform").await;
    assert!(
        text.contains("Jonas Weber is on call until Wed 25 Mar 05:00 UTC"),
        "{text}"
    );
    assert!(text.contains("Next: Chloé Dubois"), "{text}");
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'oncall.%' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(audit, ["oncall.set", "oncall.override"]);
    // A rotation declared in a descriptor is changed there, not in chat.
    let text = ask_as(
        &core,
        person("mei.tanaka"),
        "oncall set team-identity --people mei.tanaka",
    )
    .await;
    assert!(text.contains("declared in its descriptor"), "{text}");
    let text = ask_as(
        &core,
        Actor::guest("x"),
        "oncall set team-platform --people nobody",
    )
    .await;
    assert!(text.contains("is for people in the catalog"), "{text}");
    let text = ask_as(
        &core,
        person("sam.lindqvist"),
        "oncall set team-platform --people sam.lindqvist --tz Mars/Base",
    )
    .await;
    assert!(text.contains("'Mars/Base' is not a time zone"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_dedups_limits_and_refuses() {
    let db = demo_db().await;
    let fake = FakePaging::start().await;
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap(),
    ));
    let core =
        core_with(&db, &fake, |c| c.oncall.pages_per_user_per_hour = 2).with_clock(clock.clone());
    // Guests can't page; the button without a reason asks for one.
    let text = ask_as(&core, Actor::guest("x"), "page payments-api db down").await;
    assert!(
        text.contains("Paging is for people in the catalog")
            || text.contains("is for people in the catalog"),
        "{text}"
    );
    let text = ask_as(&core, person("diego.ramirez"), "page payments-api").await;
    assert!(
        text.contains("What's wrong? One line for the person you page"),
        "{text}"
    );
    // Two clicks: one page.
    let text = ask_as(
        &core,
        person("diego.ramirez"),
        "page payments-api card payments failing",
    )
    .await;
    assert!(text.contains("Paging Amara Okafor via PagerDuty"), "{text}");
    let text = ask_as(
        &core,
        person("hannah.schmidt"),
        "page payments-api Card payments   failing",
    )
    .await;
    assert!(
        text.contains("was already paged via PagerDuty for this a moment ago"),
        "{text}"
    );
    // Delivered once, through the outbox, by the PagerDuty sender.
    let senders = Senders::new()
        .with(
            jobs::PAGERDUTY_TRIGGER,
            Arc::new(paging::PagerDutySender(core.oncall.clone())),
        )
        .with(
            jobs::OPSGENIE_ALERT,
            Arc::new(paging::OpsgenieSender(core.oncall.clone())),
        )
        .with(jobs::CHAT, Arc::new(RecordingSender::default()));
    drain_outbox(&db.pool, senders.clone()).await;
    let events = fake.bodies();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["routing_key"], "0123456789abcdef0123456789abcdef");
    assert_eq!(events[0]["event_action"], "trigger");
    assert!(
        events[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("card payments failing")
    );
    // The limit per person.
    clock.advance(chrono::Duration::minutes(20));
    assert!(
        ask_as(
            &core,
            person("diego.ramirez"),
            "page payments-api refunds failing"
        )
        .await
        .contains("Paging")
    );
    let text = ask_as(
        &core,
        person("diego.ramirez"),
        "page payments-api still failing",
    )
    .await;
    assert!(
        text.contains("You've paged 2 times in the last hour, the limit"),
        "{text}"
    );
    // Opsgenie and usher rotations page too.
    let text = ask_as(
        &core,
        person("amara.okafor"),
        "page checkout-api orders stuck",
    )
    .await;
    assert!(text.contains("Paging Diego Ramírez via Opsgenie"), "{text}");
    let text = ask_as(
        &core,
        person("amara.okafor"),
        "page notifications emails not sent",
    )
    .await;
    assert!(
        text.contains("via the team's channel and a direct message"),
        "{text}"
    );
    let chat: Vec<String> = sqlx::query_scalar(
        "SELECT destination FROM outbox WHERE kind = 'chat.message' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(chat.len(), 2);
    assert_eq!(chat[0], "channel:group:default/team-identity");
    assert!(chat[1].starts_with("dm:user:default/"));
    drain_outbox(&db.pool, senders).await;
    assert!(
        fake.bodies()
            .iter()
            .any(|b| b["alias"].is_string() && b["responders"][0]["name"] == "checkout")
    );
    // Who paged whom, when and why.
    let audit: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT actor, details FROM audit_log WHERE action = 'oncall.page' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 4);
    // A PagerDuty service without an integration key can't be paged.
    let text = ask_as(
        &core,
        person("sam.lindqvist"),
        "page payment-gateway acquirer down",
    )
    .await;
    assert!(
        text.contains("no integration key to page it with"),
        "{text}"
    );
    assert_eq!(audit[0].0, "user:default/diego.ramirez");
    assert_eq!(audit[0].1["reason"], "card payments failing");
    // Nothing to page.
    let text = ask_as(
        &core,
        person("oliver.brown"),
        "page inventory-sync everything",
    )
    .await;
    assert!(
        text.contains("There's no on-call for inventory-sync to page")
            && text.contains("Nothing was paged"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_reads_every_oncall_in_bulk() {
    let db = demo_db().await;
    let fake = FakePaging::start().await;
    let core = core_with(&db, &fake, |_| {});
    let done = usher::oncall::snapshot::refresh(&db.pool, &core.oncall, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        done,
        vec![("pagerduty".to_string(), 2), ("opsgenie".to_string(), 1)]
    );
    let rows: Vec<(String, String, i32, String)> =
        sqlx::query_as("SELECT provider, target, level, person FROM oncall_snapshot ORDER BY provider, target, level")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.contains(&(
        "pagerduty".into(),
        "PID0001".into(),
        1,
        "mei.tanaka@acme-shop.example".into()
    )));
    // Paginated: two pages of services, two of on-calls.
    let pages = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/oncalls" || s.path == "/services")
        .count();
    assert_eq!(pages, 4);
    // A failing provider keeps the previous snapshot and says why.
    fake.set_mode(Mode::ServerError);
    usher::oncall::snapshot::refresh(&db.pool, &core.oncall, Utc::now())
        .await
        .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM oncall_snapshot")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept, 4);
    let error: Option<String> =
        sqlx::query_scalar("SELECT error FROM oncall_snapshot_runs WHERE provider = 'pagerduty'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(error.unwrap().contains("503"));
}
