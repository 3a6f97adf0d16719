//! Each kind's `spec`: its typed fields and relations, a declared rotation
//! (checked with the same arithmetic usher's rotations use) and a User's
//! profile.

use super::*;

pub(super) fn check_spec(
    ctx: &mut Ctx,
    kind: Kind,
    spec: &Value,
    namespace: &str,
    rules: &Rules,
) -> KindFields {
    let mut f = KindFields::default();
    let mut relate = |ctx: &mut Ctx,
                      f: &mut KindFields,
                      kind_name: &'static str,
                      text: &str,
                      path: &str,
                      default: Option<Kind>| {
        let r = reference(ctx, text, path, default, namespace)?;
        let line = ctx.line(path);
        f.relations.push(Relation {
            kind: kind_name,
            target: r.clone(),
            field: path.to_string(),
            line,
        });
        Some(r)
    };
    let owned_kind = matches!(
        kind,
        Kind::Component | Kind::Api | Kind::Resource | Kind::System | Kind::Domain
    );
    if matches!(
        kind,
        Kind::Component | Kind::Api | Kind::Resource | Kind::Group
    ) {
        f.spec_type = req_string(
            ctx,
            spec,
            "spec",
            "type",
            "e.g. service, website, library (Group: team)",
        );
    } else if matches!(
        kind,
        Kind::System | Kind::Domain | Kind::Location | Kind::Template
    ) {
        f.spec_type = opt_string(ctx, spec, "spec", "type", "a type");
    }
    if matches!(kind, Kind::Component | Kind::Api) {
        f.lifecycle = req_string(
            ctx,
            spec,
            "spec",
            "lifecycle",
            "experimental, production or deprecated",
        );
    } else if kind == Kind::Resource || kind == Kind::System {
        f.lifecycle = opt_string(
            ctx,
            spec,
            "spec",
            "lifecycle",
            "experimental, production or deprecated",
        );
    }
    if let Some(lifecycle) = &f.lifecycle
        && !rules
            .lifecycles
            .iter()
            .any(|l| l.eq_ignore_ascii_case(lifecycle))
    {
        ctx.warn(
            "spec.lifecycle",
            format!(
                "{} is not a known lifecycle ({}); usher treats it as unknown",
                quote(lifecycle),
                rules.lifecycles.join(", ")
            ),
        );
    }
    if owned_kind {
        if let Some(owner) = req_string(
            ctx,
            spec,
            "spec",
            "owner",
            "the owning team, e.g. team-payments",
        ) {
            f.owner = relate(
                ctx,
                &mut f,
                "ownedBy",
                &owner,
                "spec.owner",
                Some(Kind::Group),
            );
        }
    } else if kind == Kind::Location
        && let Some(owner) = opt_string(ctx, spec, "spec", "owner", "the owning team")
    {
        f.owner = EntityRef::parse(&owner, Some(Kind::Group), namespace).ok();
    }
    match kind {
        Kind::Component => {
            if let Some(s) = opt_string(ctx, spec, "spec", "system", "the system it belongs to") {
                f.system = relate(ctx, &mut f, "partOf", &s, "spec.system", Some(Kind::System));
            }
            if let Some(s) = opt_string(ctx, spec, "spec", "subcomponentOf", "the parent component")
            {
                f.parent = relate(
                    ctx,
                    &mut f,
                    "partOf",
                    &s,
                    "spec.subcomponentOf",
                    Some(Kind::Component),
                );
            }
            for (field, rel, default) in [
                ("providesApis", "providesApi", Some(Kind::Api)),
                ("consumesApis", "consumesApi", Some(Kind::Api)),
                ("dependsOn", "dependsOn", None),
                ("dependencyOf", "dependencyOf", None),
            ] {
                for (text, path) in opt_string_list(ctx, spec, "spec", field, "an entity reference")
                {
                    relate_forgiving(ctx, &mut f, &mut relate, rel, &text, &path, default);
                }
            }
        }
        Kind::Api => {
            // APIs served remotely (e.g. MCP servers) list `remotes`
            // instead of carrying a definition, as Backstage allows.
            let remote = spec.get("remotes").is_some_and(Value::is_array);
            if spec.get("definition").is_none_or(Value::is_null) {
                if !remote {
                    ctx.error(
                        "spec.definition",
                        "is required: add definition: with the API's definition (or $text: ./openapi.yaml), or remotes: for an API served remotely",
                    );
                }
            } else {
                match spec.get("definition") {
                    Some(Value::String(_)) => {}
                    Some(v) if is_placeholder(v) => {}
                    Some(v) => ctx.error(
                        "spec.definition",
                        format!(
                            "must be text (the definition itself, or $text: PATH), not {}",
                            type_name(v)
                        ),
                    ),
                    None => {}
                }
            }
            if let Some(s) = opt_string(ctx, spec, "spec", "system", "the system it belongs to") {
                f.system = relate(ctx, &mut f, "partOf", &s, "spec.system", Some(Kind::System));
            }
        }
        Kind::Resource => {
            if let Some(s) = opt_string(ctx, spec, "spec", "system", "the system it belongs to") {
                f.system = relate(ctx, &mut f, "partOf", &s, "spec.system", Some(Kind::System));
            }
            for (field, rel) in [("dependsOn", "dependsOn"), ("dependencyOf", "dependencyOf")] {
                for (text, path) in opt_string_list(ctx, spec, "spec", field, "an entity reference")
                {
                    relate_forgiving(ctx, &mut f, &mut relate, rel, &text, &path, None);
                }
            }
        }
        Kind::System => {
            if let Some(d) = opt_string(ctx, spec, "spec", "domain", "the domain it belongs to") {
                f.domain = relate(ctx, &mut f, "partOf", &d, "spec.domain", Some(Kind::Domain));
            }
        }
        Kind::Domain => {
            if let Some(d) = opt_string(ctx, spec, "spec", "subdomainOf", "the parent domain") {
                f.parent = relate(
                    ctx,
                    &mut f,
                    "partOf",
                    &d,
                    "spec.subdomainOf",
                    Some(Kind::Domain),
                );
            }
        }
        Kind::Group => {
            if let Some(p) = opt_string(ctx, spec, "spec", "parent", "the parent group") {
                f.parent = relate(ctx, &mut f, "childOf", &p, "spec.parent", Some(Kind::Group));
            }
            if spec.get("children").is_none() {
                ctx.error(
                    "spec.children",
                    "is required (Backstage's rule): add children: [] when the group has none",
                );
            }
            for (text, path) in opt_string_list(ctx, spec, "spec", "children", "a group reference")
            {
                relate(ctx, &mut f, "parentOf", &text, &path, Some(Kind::Group));
            }
            for (text, path) in opt_string_list(ctx, spec, "spec", "members", "a user reference") {
                relate(ctx, &mut f, "hasMember", &text, &path, Some(Kind::User));
            }
            f.rotation = read_rotation(ctx, spec, namespace);
            read_profile(ctx, spec, &mut f);
        }
        Kind::User => {
            if spec.get("memberOf").is_none() {
                ctx.error(
                    "spec.memberOf",
                    "is required (Backstage's rule): add memberOf: [] or the user's teams",
                );
            }
            for (text, path) in opt_string_list(ctx, spec, "spec", "memberOf", "a group reference")
            {
                relate(ctx, &mut f, "memberOf", &text, &path, Some(Kind::Group));
            }
            read_profile(ctx, spec, &mut f);
        }
        Kind::Location => {
            if let Some(target) = opt_string(ctx, spec, "spec", "target", "a path or URL") {
                let line = ctx.line("spec.target");
                f.targets.push(LocationTarget {
                    target,
                    field: "spec.target".to_string(),
                    line,
                });
            }
            for (target, path) in opt_string_list(ctx, spec, "spec", "targets", "a path or URL") {
                let line = ctx.line(&path);
                f.targets.push(LocationTarget {
                    target,
                    field: path,
                    line,
                });
            }
            if f.targets.is_empty() && !ctx.has_errors() {
                ctx.error(
                    "spec.target",
                    "a Location needs target: or targets: naming the files it includes",
                );
            }
        }
        Kind::Template => {}
    }
    f
}

/// `dependsOn` entries without a kind: Backstage rejects them; usher
/// assumes a component and says so, because a catalog that loads beats one
/// that doesn't.
pub(super) fn relate_forgiving(
    ctx: &mut Ctx,
    f: &mut KindFields,
    relate: &mut impl FnMut(
        &mut Ctx,
        &mut KindFields,
        &'static str,
        &str,
        &str,
        Option<Kind>,
    ) -> Option<EntityRef>,
    rel: &'static str,
    text: &str,
    path: &str,
    default: Option<Kind>,
) {
    if default.is_none() && !text.contains(':') {
        ctx.warn(
            path,
            format!(
                "{} has no kind; usher assumes component:{text} (Backstage requires one: write component:{text} or resource:{text})",
                quote(text)
            ),
        );
        relate(ctx, f, rel, text, path, Some(Kind::Component));
    } else {
        relate(ctx, f, rel, text, path, default);
    }
}

/// A team's usher rotation, declared in its descriptor:
///
/// ```yaml
/// spec:
///   oncall:
///     people: [amara.okafor, jonas.weber]   # in rota order
///     length: weekly                        # daily, weekly, N days
///     handoff: "mon 09:00"                  # HH:MM, with a weekday for weekly rotas
///     timezone: Europe/Berlin               # default UTC
///     start: 2026-01-05                     # a hand-off date to the first person (optional)
/// ```
pub(super) fn read_rotation(ctx: &mut Ctx, spec: &Value, namespace: &str) -> Option<RotationSpec> {
    let value = spec.get("oncall")?;
    if !value.is_object() {
        ctx.error(
            "spec.oncall",
            format!(
                "must be a mapping (people, length, handoff, timezone), not {}",
                type_name(value)
            ),
        );
        return None;
    }
    let people: Vec<String> =
        opt_string_list(ctx, value, "spec.oncall", "people", "a user reference")
            .into_iter()
            .filter_map(|(text, path)| {
                reference(ctx, &text, &path, Some(Kind::User), namespace).map(|r| r.key())
            })
            .collect();
    if people.is_empty() && value.get("people").is_none() {
        ctx.error(
            "spec.oncall.people",
            "is required: list the people of the rotation, in order",
        );
    }
    let length = opt_string(
        ctx,
        value,
        "spec.oncall",
        "length",
        "daily, weekly or N days",
    )
    .unwrap_or_else(|| "weekly".into());
    let length_days = match crate::rotation::parse_length(&length) {
        Ok(d) => d,
        Err(why) => {
            ctx.error("spec.oncall.length", why);
            return None;
        }
    };
    let default_handoff = if length_days % 7 == 0 {
        "mon 09:00"
    } else {
        "09:00"
    };
    let handoff_text = opt_string(
        ctx,
        value,
        "spec.oncall",
        "handoff",
        "HH:MM or \"mon 09:00\"",
    )
    .unwrap_or_else(|| default_handoff.into());
    let (weekday, handoff) = match crate::rotation::parse_handoff(&handoff_text) {
        Ok(h) => h,
        Err(why) => {
            ctx.error("spec.oncall.handoff", why);
            return None;
        }
    };
    let timezone = opt_string(ctx, value, "spec.oncall", "timezone", "an IANA time zone")
        .unwrap_or_else(|| "UTC".into());
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        ctx.error(
            "spec.oncall.timezone",
            format!(
                "{} is not a time zone; use an IANA name such as Europe/Berlin",
                quote(&timezone)
            ),
        );
        return None;
    }
    // A fixed anchor keeps the rota the same on every import.
    let anchor = chrono::NaiveDate::from_ymd_opt(2024, 1, 7).expect("a valid date");
    let start = match value.get("start") {
        Some(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(d) => d,
                Err(_) => {
                    ctx.error(
                        "spec.oncall.start",
                        format!("{} is not a date; write YYYY-MM-DD", quote(&text)),
                    );
                    return None;
                }
            }
        }
        None => match weekday {
            Some(day) => crate::rotation::last_weekday(anchor, day),
            None => anchor,
        },
    };
    (!people.is_empty()).then_some(RotationSpec {
        people,
        length_days,
        handoff,
        timezone,
        start,
    })
}

pub(super) fn read_profile(ctx: &mut Ctx, spec: &Value, f: &mut KindFields) {
    match spec.get("profile") {
        None | Some(Value::Null) => {}
        Some(profile @ Value::Object(_)) => {
            f.display_name = opt_string(
                ctx,
                profile,
                "spec.profile",
                "displayName",
                "a display name",
            );
            f.email = opt_string(ctx, profile, "spec.profile", "email", "an email address");
            let _ = opt_string(ctx, profile, "spec.profile", "picture", "a picture URL");
            if let Some(email) = &f.email
                && !email.contains('@')
            {
                ctx.warn(
                    "spec.profile.email",
                    format!("{} is not an email address", quote(email)),
                );
            }
        }
        Some(other) => ctx.error(
            "spec.profile",
            format!(
                "must be a mapping (displayName, email), not {}",
                type_name(other)
            ),
        ),
    }
}
