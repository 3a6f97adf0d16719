//! A synthetic organisation as Backstage YAML, for benchmarks: N services
//! (100,000 by default) owned by ~N/50 teams of ~5 people, grouped in
//! systems and domains, with links, dependencies (a few hubs that many
//! depend on, as in real estates) and realistic gaps — one file per team
//! plus a root Location listing them.
//!
//! Deterministic: the same N and seed give the same files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub services: usize,
    pub seed: u64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            services: 100_000,
            seed: 42,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub root: PathBuf,
    pub files: usize,
    pub services: usize,
    pub teams: usize,
    pub people: usize,
    pub systems: usize,
    pub entities: usize,
    /// Some service names, for lookup benchmarks.
    pub sample_names: Vec<String>,
    /// The most depended-on services.
    pub hubs: Vec<String>,
    /// Services with a PagerDuty service id.
    pub paged: Vec<String>,
}

/// xorshift64*: small, fast and good enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const AREAS: &[&str] = &[
    "payments",
    "billing",
    "checkout",
    "cart",
    "orders",
    "inventory",
    "shipping",
    "returns",
    "pricing",
    "promotions",
    "search",
    "catalog",
    "reviews",
    "recommendations",
    "identity",
    "accounts",
    "sessions",
    "profiles",
    "notifications",
    "messaging",
    "ledger",
    "fraud",
    "risk",
    "compliance",
    "reporting",
    "analytics",
    "warehouse",
    "logistics",
    "fleet",
    "tracking",
    "loyalty",
    "rewards",
    "gift-cards",
    "subscriptions",
    "invoicing",
    "tax",
    "currency",
    "onboarding",
    "support",
    "tickets",
    "chat",
    "media",
    "images",
    "video",
    "content",
    "cms",
    "translations",
    "maps",
    "geo",
    "partners",
    "sellers",
    "marketplace",
    "ads",
    "experiments",
    "flags",
    "metrics",
    "logging",
    "gateway",
    "auth",
];
const ROLES: &[&str] = &[
    "api",
    "service",
    "worker",
    "gateway",
    "scheduler",
    "indexer",
    "consumer",
    "producer",
    "sync",
    "adapter",
    "bff",
    "web",
    "admin",
    "proxy",
    "cache",
    "store",
    "engine",
    "router",
    "exporter",
    "importer",
    "reconciler",
    "validator",
    "notifier",
    "aggregator",
    "batch",
    "stream",
    "connector",
    "resolver",
    "publisher",
    "collector",
];
const FIRST: &[&str] = &[
    "amara", "jonas", "priya", "diego", "hannah", "mei", "oliver", "fatima", "lucas", "sam",
    "chloe", "kwame", "ana", "tom", "rita", "yuki", "omar", "lena", "ivan", "sofia", "noah",
    "aisha", "mateo", "ines", "kai", "zara", "leo", "nina", "ravi", "elena",
];
const LAST: &[&str] = &[
    "okafor",
    "weber",
    "nair",
    "ramirez",
    "schmidt",
    "tanaka",
    "brown",
    "zahra",
    "martin",
    "lindqvist",
    "dubois",
    "mensah",
    "silva",
    "baker",
    "gomez",
    "sato",
    "haddad",
    "fischer",
    "petrov",
    "rossi",
    "kim",
    "khan",
    "lopez",
    "moreau",
    "chen",
    "novak",
    "singh",
    "costa",
    "meyer",
    "ito",
];
const LANGUAGES: &[&str] = &[
    "java",
    "go",
    "python",
    "typescript",
    "kotlin",
    "rust",
    "ruby",
    "scala",
    "c#",
    "php",
];
const LIFECYCLES: &[&str] = &[
    "production",
    "production",
    "production",
    "production",
    "experimental",
    "deprecated",
];

fn service_name(i: usize) -> String {
    let area = AREAS[i % AREAS.len()];
    let role = ROLES[(i / AREAS.len()) % ROLES.len()];
    let round = i / (AREAS.len() * ROLES.len());
    if round == 0 {
        format!("{area}-{role}")
    } else {
        format!("{area}-{role}-{round}")
    }
}

/// Writes the organisation under `dir`; returns what it wrote.
pub fn generate(dir: &Path, spec: &Spec) -> std::io::Result<Generated> {
    std::fs::create_dir_all(dir.join("teams"))?;
    let mut rng = Rng::new(spec.seed);
    let services = spec.services.max(1);
    let teams = (services / 50).max(1);
    let systems = (services / 25).max(1);
    let domains = 20.min(systems);
    let hubs: Vec<usize> = (0..(services / 1000).clamp(1, 100)).collect();
    let mut out = Generated {
        root: dir.join("catalog-info.yaml"),
        services,
        teams,
        systems,
        hubs: hubs.iter().map(|&h| service_name(h)).collect(),
        ..Generated::default()
    };

    let mut root = String::from(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: synthetic-org\n  description: A synthetic organisation for benchmarks\nspec:\n  targets:\n    - ./org.yaml\n",
    );
    let mut org = String::new();
    for d in 0..domains {
        let _ = write!(
            org,
            "---\napiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-{d}\nspec:\n  owner: team-{}\n",
            d % teams
        );
    }
    std::fs::write(dir.join("org.yaml"), &org)?;
    out.entities += domains + 1;

    let mut person = 0usize;
    for t in 0..teams {
        let mut doc = String::new();
        let members = 3 + rng.below(5);
        let member_names: Vec<String> = (0..members)
            .map(|k| format!("{}.{}.{}", rng.pick(FIRST), rng.pick(LAST), person + k))
            .collect();
        let channel = if rng.chance(80) {
            format!("    slack.com/channel-id: C{:08}\n", t)
        } else {
            String::new()
        };
        let _ = write!(
            doc,
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-{t}\n  title: Team {t}\n  annotations:\n{channel}    usher.dev/lead: user:{lead}\nspec:\n  type: team\n  profile:\n    email: team-{t}@example.com\n  children: []\n",
            lead = member_names[0]
        );
        for (k, name) in member_names.iter().enumerate() {
            let inactive = if rng.chance(3) {
                "\n  annotations:\n    usher.dev/active: \"false\""
            } else {
                ""
            };
            let _ = write!(
                doc,
                "---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: {name}{inactive}\nspec:\n  profile:\n    displayName: Person {}\n    email: {name}@example.com\n  memberOf: [team-{t}]\n",
                person + k
            );
        }
        person += members;
        // The team's systems and services.
        let first_system = t * systems / teams;
        let last_system = ((t + 1) * systems / teams).max(first_system + 1);
        for sys in first_system..last_system.min(systems) {
            let _ = write!(
                doc,
                "---\napiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-{sys}\nspec:\n  owner: team-{t}\n  domain: domain-{}\n",
                sys % domains
            );
        }
        let first = t * services / teams;
        let last = (t + 1) * services / teams;
        for i in first..last {
            let name = service_name(i);
            if out.sample_names.len() < 2_000 && rng.chance(10) {
                out.sample_names.push(name.clone());
            }
            let system = first_system + (i - first) % (last_system - first_system).max(1);
            let tier_number = 1 + rng.below(3);
            let tier = if rng.chance(3) {
                String::new()
            } else if tier_number == 1 {
                // Tier-1 services are paged through PagerDuty.
                out.paged.push(name.clone());
                format!("    usher.dev/tier: \"1\"\n    pagerduty.com/service-id: P{i:06}\n")
            } else {
                format!("    usher.dev/tier: \"{tier_number}\"\n")
            };
            let description = if rng.chance(5) {
                String::new()
            } else {
                format!(
                    "  description: The {} of the {} area.\n",
                    name.rsplit('-').next().unwrap_or("service"),
                    name.split('-').next().unwrap_or("")
                )
            };
            let mut links = String::new();
            if !rng.chance(30) {
                let _ = write!(
                    links,
                    "    - url: https://runbooks.example.com/{name}\n      title: Runbook\n"
                );
            }
            if !rng.chance(20) {
                let _ = write!(
                    links,
                    "    - url: https://docs.example.com/{name}\n      title: Docs\n"
                );
            }
            let _ = write!(
                links,
                "    - url: https://grafana.example.com/d/{name}\n      title: Dashboard\n"
            );
            // Dependencies: mostly on hubs and neighbours.
            let mut deps = Vec::new();
            for _ in 0..rng.below(5) {
                let target = if rng.chance(40) {
                    hubs[rng.below(hubs.len())]
                } else {
                    (i + 1 + rng.below(200)) % services
                };
                if target != i {
                    deps.push(format!("component:{}", service_name(target)));
                }
            }
            deps.sort();
            deps.dedup();
            let owner = if rng.chance(1) {
                format!("team-gone-{t}")
            } else {
                format!("team-{t}")
            };
            let _ = write!(
                doc,
                "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n{description}  annotations:\n{tier}    github.com/project-slug: example/{name}\n    backstage.io/source-location: url:https://github.com/example/{name}\n  tags: [{lang}]\n  links:\n{links}spec:\n  type: service\n  lifecycle: {lifecycle}\n  owner: {owner}\n  system: system-{system}\n  dependsOn: [{deps}]\n",
                lang = rng.pick(LANGUAGES),
                lifecycle = rng.pick(LIFECYCLES),
                deps = deps.join(", ")
            );
        }
        let file = format!("teams/team-{t}.yaml");
        std::fs::write(dir.join(&file), doc)?;
        let _ = writeln!(root, "    - ./{file}");
        out.files += 1;
        out.entities += 1 + members + (last_system.min(systems) - first_system) + (last - first);
    }
    out.people = person;
    std::fs::write(&out.root, root)?;
    out.files += 2;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = (0..20_000).map(service_name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 20_000);
    }

    #[test]
    fn deterministic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let spec = Spec {
            services: 200,
            seed: 7,
        };
        generate(a.path(), &spec).unwrap();
        generate(b.path(), &spec).unwrap();
        let read = |d: &Path| std::fs::read_to_string(d.join("teams/team-1.yaml")).unwrap();
        assert_eq!(read(a.path()), read(b.path()));
    }
}
