//! The deploy artefacts in `deploy/`: the Helm chart, rendered as `helm
//! template` would, and the container files checked for what they promise.
//!
//! Neither helm nor a Docker engine can run here, so the chart is rendered
//! with gtmpl-ng (a Rust port of Go's text/template, the engine Helm uses)
//! plus the few Helm functions the chart calls, written below to Helm's
//! documented behaviour. Every rendered document must parse as YAML and be a
//! well-formed Kubernetes object, and the objects must say what the deploy
//! story promises: two replicas, `maxUnavailable: 0`, probes on `/readyz`
//! and `/healthz`, a grace period longer than usher's own shutdown bound, a
//! `usher.toml` that usher accepts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gtmpl_ng::{Context, Func, FuncError, Number, Template, Value};
use serde_json::{Value as Json, json};

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/helm/usher")
}

thread_local! {
    /// `_helpers.tpl`, for `include` (a template function has no other way
    /// to reach the templates being rendered).
    static HELPERS: RefCell<String> = const { RefCell::new(String::new()) };
}

fn generic(message: impl Into<String>) -> FuncError {
    FuncError::Generic(message.into())
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => json!(b),
        Value::String(s) => json!(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i),
            None => json!(n.as_f64()),
        },
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) | Value::Object(m) => {
            Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn from_json(v: &Json) -> Value {
    match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::String(s) => Value::String(s.clone()),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Number(Number::from(i)),
            None => Value::Number(Number::from(n.as_f64().unwrap_or_default())),
        },
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => match to_json(other) {
            Json::String(s) => s,
            j => j.to_string(),
        },
    }
}

/// Helm's (Sprig's) idea of empty, for `default` and `required`.
fn empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Function(_) => false,
    }
}

fn arg(args: &[Value], i: usize, name: &str) -> Result<Value, FuncError> {
    args.get(i)
        .cloned()
        .ok_or_else(|| FuncError::ExactlyXArgs(name.into(), i + 1))
}

fn count(v: &Value) -> Result<usize, FuncError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(|i| i.max(0) as usize)
            .ok_or_else(|| generic("a whole number")),
        other => text(other).parse().map_err(|_| generic("a whole number")),
    }
}

fn indent_by(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    s.split('\n')
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn include(args: &[Value]) -> Result<Value, FuncError> {
    let name = text(&arg(args, 0, "include")?);
    let dot = arg(args, 1, "include")?;
    let helpers = HELPERS.with(|h| h.borrow().clone());
    let rendered = render_text(&helpers, &format!("{{{{ template \"{name}\" . }}}}"), dot)
        .map_err(|e| generic(format!("include {name}: {e}")))?;
    Ok(Value::String(rendered))
}

fn to_yaml(args: &[Value]) -> Result<Value, FuncError> {
    let yaml = serde_yaml_ng::to_string(&to_json(&arg(args, 0, "toYaml")?))
        .map_err(|e| generic(e.to_string()))?;
    Ok(Value::String(yaml.trim_end().to_string()))
}

fn indent(args: &[Value]) -> Result<Value, FuncError> {
    let n = count(&arg(args, 0, "indent")?)?;
    Ok(Value::String(indent_by(n, &text(&arg(args, 1, "indent")?))))
}

fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    let n = count(&arg(args, 0, "nindent")?)?;
    Ok(Value::String(format!(
        "\n{}",
        indent_by(n, &text(&arg(args, 1, "nindent")?))
    )))
}

fn quote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| serde_json::to_string(&text(a)).unwrap_or_default())
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

fn default(args: &[Value]) -> Result<Value, FuncError> {
    let fallback = arg(args, 0, "default")?;
    match args.get(1) {
        Some(v) if !empty(v) => Ok(v.clone()),
        _ => Ok(fallback),
    }
}

fn required(args: &[Value]) -> Result<Value, FuncError> {
    let message = text(&arg(args, 0, "required")?);
    match args.get(1) {
        Some(v) if !empty(v) => Ok(v.clone()),
        _ => Err(generic(message)),
    }
}

fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    let n = count(&arg(args, 0, "trunc")?)?;
    Ok(Value::String(
        text(&arg(args, 1, "trunc")?).chars().take(n).collect(),
    ))
}

fn trim_suffix(args: &[Value]) -> Result<Value, FuncError> {
    let suffix = text(&arg(args, 0, "trimSuffix")?);
    let s = text(&arg(args, 1, "trimSuffix")?);
    Ok(Value::String(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

fn replace(args: &[Value]) -> Result<Value, FuncError> {
    let (old, new) = (
        text(&arg(args, 0, "replace")?),
        text(&arg(args, 1, "replace")?),
    );
    Ok(Value::String(
        text(&arg(args, 2, "replace")?).replace(&old, &new),
    ))
}

fn contains(args: &[Value]) -> Result<Value, FuncError> {
    let needle = text(&arg(args, 0, "contains")?);
    Ok(Value::Bool(
        text(&arg(args, 1, "contains")?).contains(&needle),
    ))
}

fn int(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Number(Number::from(
        count(&arg(args, 0, "int")?)? as i64
    )))
}

fn sha256sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text(&arg(args, 0, "sha256sum")?).as_bytes());
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

const HELM_FUNCTIONS: &[(&str, Func)] = &[
    ("include", include),
    ("toYaml", to_yaml),
    ("indent", indent),
    ("nindent", nindent),
    ("quote", quote),
    ("default", default),
    ("required", required),
    ("trunc", trunc),
    ("trimSuffix", trim_suffix),
    ("replace", replace),
    ("contains", contains),
    ("sha256sum", sha256sum),
    ("int", int),
];

fn render_text(helpers: &str, body: &str, dot: Value) -> Result<String, String> {
    let mut template = Template::default();
    template.add_funcs(HELM_FUNCTIONS);
    template
        .parse(format!("{helpers}{body}"))
        .map_err(|e| e.to_string())?;
    template
        .render(&Context::from(dot))
        .map_err(|e| e.to_string())
}

fn merge(base: &mut Json, over: &Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Json::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn yaml_file(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `helm template usher deploy/helm/usher --namespace ops` with `overrides`
/// merged over values.yaml: each template file's output, by file name.
fn helm_template(overrides: Json) -> Result<Vec<(String, String)>, String> {
    let dir = chart_dir();
    let chart = yaml_file(&dir.join("Chart.yaml"));
    let mut values = yaml_file(&dir.join("values.yaml"));
    // What a release sets: the image it built and pushed.
    merge(
        &mut values,
        &json!({ "image": { "repository": "registry.example.com/platform/usher" } }),
    );
    merge(&mut values, &overrides);
    let dot = from_json(&json!({
        "Values": values,
        "Release": { "Name": "usher", "Namespace": "ops", "Service": "Helm" },
        "Chart": {
            "Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
        },
    }));
    let helpers = std::fs::read_to_string(dir.join("templates/_helpers.tpl")).unwrap();
    HELPERS.with(|h| *h.borrow_mut() = helpers.clone());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "_helpers.tpl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let rendered =
            render_text(&helpers, &body, dot.clone()).map_err(|e| format!("{name}: {e}"))?;
        out.push((name, rendered));
    }
    Ok(out)
}

/// The Kubernetes objects rendered, each checked for the fields every
/// object has.
fn objects(overrides: Json) -> Vec<Json> {
    let mut objects = Vec::new();
    for (file, text) in helm_template(overrides).unwrap() {
        if !file.ends_with(".yaml") {
            continue;
        }
        for doc in text.split("\n---") {
            if doc.trim().is_empty() {
                continue;
            }
            let object: Json = serde_yaml_ng::from_str(doc)
                .unwrap_or_else(|e| panic!("{file} doesn't render to YAML ({e}):\n{doc}"));
            for field in ["apiVersion", "kind"] {
                assert!(object[field].is_string(), "{file}: no {field}:\n{doc}");
            }
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            assert!(
                !name.is_empty()
                    && name.len() <= 63
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{file}: metadata.name '{name}' isn't a DNS label"
            );
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/instance"], "usher",
                "{file}: labels"
            );
            objects.push(object);
        }
    }
    objects
}

fn of_kind<'a>(objects: &'a [Json], kind: &str) -> Option<&'a Json> {
    objects.iter().find(|o| o["kind"] == kind)
}

#[test]
fn the_chart_renders_a_rolling_two_replica_deployment_with_probes() {
    let objects = objects(json!({}));
    let mut kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ],
        "optional parts stay off by default"
    );
    let deployment = of_kind(&objects, "Deployment").unwrap();
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let selector = &spec["selector"]["matchLabels"];
    let pod_labels = spec["template"]["metadata"]["labels"].as_object().unwrap();
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "the selector selects the pods");
    }
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/platform/usher:0.1.0"
    );
    // Without an image, the chart says what to set rather than pull one
    // that doesn't exist.
    let err = helm_template(json!({ "image": { "repository": "" } })).unwrap_err();
    assert!(err.contains("image.repository"), "{err}");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    for (probe, path) in [
        ("startupProbe", "/readyz"),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let env = container["env"].as_array().unwrap();
    let database = env.iter().find(|e| e["name"] == "DATABASE_URL").unwrap();
    assert_eq!(
        database["valueFrom"]["secretKeyRef"]["name"],
        "usher-database"
    );
    assert!(
        env.iter()
            .any(|e| e["name"] == "USHER_LISTEN" && e["value"] == "0.0.0.0:8080")
    );
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        "usher-secrets"
    );
    assert!(container["resources"]["requests"]["memory"].is_string());
    // The ConfigMap's usher.toml is one usher accepts, and its shutdown
    // (drain, then the bound) ends before Kubernetes' grace period does.
    let config_map = of_kind(&objects, "ConfigMap").unwrap();
    let toml = config_map["data"]["usher.toml"].as_str().unwrap();
    let config = usher::config::Config::from_toml(toml).unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        config.serve.drain_ms / 1000 + config.serve.shutdown_secs < grace,
        "drain {} ms + shutdown {} s must end before the {grace} s grace period",
        config.serve.drain_ms,
        config.serve.shutdown_secs
    );
    let service = of_kind(&objects, "Service").unwrap();
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let pdb = of_kind(&objects, "PodDisruptionBudget").unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
}

#[test]
fn the_chart_s_optional_parts_render_when_asked() {
    let objects = objects(json!({
        "ingress": { "enabled": true, "className": "nginx", "host": "usher.acme.example" },
        "serviceMonitor": { "enabled": true, "labels": { "release": "prom" } },
        "extraEnv": [{ "name": "RUST_LOG", "value": "usher=debug" }],
        "podDisruptionBudget": { "enabled": false },
    }));
    assert!(of_kind(&objects, "PodDisruptionBudget").is_none());
    // One replica: no budget that would block every node drain.
    let single = self::objects(json!({ "replicaCount": 1 }));
    assert!(of_kind(&single, "PodDisruptionBudget").is_none());
    let service = of_kind(&objects, "Service").unwrap();
    let ingress = of_kind(&objects, "Ingress").unwrap();
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(ingress["spec"]["tls"][0]["hosts"][0], "usher.acme.example");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "usher.acme.example");
    let paths: Vec<&str> = rule["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["backend"]["service"]["name"], service["metadata"]["name"]);
            p["path"].as_str().unwrap()
        })
        .collect();
    assert_eq!(paths, ["/slack", "/discord"], "only the chat endpoints");
    let monitor = of_kind(&objects, "ServiceMonitor").unwrap();
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    let deployment = of_kind(&objects, "Deployment").unwrap();
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(env.iter().any(|e| e["name"] == "RUST_LOG"));
}

#[test]
fn the_chart_refuses_to_render_without_a_database_secret() {
    let err = helm_template(json!({ "database": { "existingSecret": "" } })).unwrap_err();
    assert!(err.contains("DATABASE_URL"), "{err}");
}

#[test]
fn the_container_files_build_what_the_readme_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    for needed in [
        "cargo build --profile dist --locked",
        "USER nonroot",
        "HEALTHCHECK",
        "org.opencontainers.image.source",
        "COPY migrations",
        "ENTRYPOINT [\"/usr/local/bin/usher\"]",
    ] {
        assert!(dockerfile.contains(needed), "the Dockerfile lacks {needed}");
    }
    // The build context leaves out what would make it huge or leak state.
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for path in ["target/", ".usher/", ".git/", "**/*.env"] {
        assert!(ignored.lines().any(|l| l.trim() == path), "{path}");
    }
    let compose = yaml_file(&root.join("deploy/compose.yaml"));
    let usher = &compose["services"]["usher"];
    assert_eq!(
        usher["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let context = root
        .join("deploy")
        .join(usher["build"]["context"].as_str().unwrap());
    assert!(
        context
            .join(usher["build"]["dockerfile"].as_str().unwrap())
            .exists()
    );
    assert!(
        usher["environment"]["DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("@postgres:5432/")
    );
    assert!(compose["volumes"]["pgdata"].is_null() || compose["volumes"]["pgdata"].is_object());
    assert!(
        compose["services"]["postgres"]["volumes"][0]
            .as_str()
            .unwrap()
            .starts_with("pgdata:")
    );
}
