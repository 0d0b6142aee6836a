//! `function.yaml`: the function spec, in nuclio's shape (DESIGN §3).
//!
//! ```yaml
//! apiVersion: nuclio.io/v1
//! kind: NuclioFunction
//! metadata:
//!   name: reports
//! spec:
//!   runtime: rust
//!   handler: main
//!   env:
//!     - name: DATA_DIR
//!       value: ./data
//!   dataBindings:
//!     obj:
//!       kind: object            # object | table | stream | generic
//!       driver: fs              # a built-in driver, or a path to a plugin (./libmy.so);
//!                               #   nuclio's `class` is accepted for it
//!       url: ${DATA_DIR}        # where the backend is; `${VAR}` and `${VAR:-default}`
//!       path: reports           # a prefix inside it (a table or topic name for those kinds)
//!       options: {}             # driver options (nuclio's `attributes` too), strings
//!       secret: { env: TOKEN }  # one secret; or `credentials:` with several by name
//!       prefetch: 8             # frames fetched ahead of the caller
//!       timeout: 30s            # per attempt, until the response starts
//!       retries: 3              # extra attempts for retryable errors
//!       processors: []          # the binding's pipeline (see `crate::processors`)
//! ```
//!
//! `${VAR}` is looked up in the host's environment, then in `spec.env`; `$$` is a literal `$`.
//! A secret is `{ env: NAME }`, `{ file: PATH }` (relative to the spec; one trailing newline
//! dropped) or a literal string; it is read when the host starts and never printed. Keys a
//! binding does not know are refused; other unknown keys of nuclio's spec are kept and
//! ignored, so an existing spec loads. Every error names `file:line:column`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bindery_core::{path, DriverInfo, Error, Kind, Options, Secret};

use crate::yaml::{self, Loc, Marked, Node};

mod gateway;
pub use gateway::{GatewaySpec, JwtSpec, Scope, TlsSpec, TokenSpec, OPERATIONS};

/// Frames fetched ahead of the caller unless the binding says otherwise.
pub const DEFAULT_PREFETCH: usize = 8;
/// Time allowed per attempt until a response starts, unless the binding says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra attempts for retryable errors unless the binding says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The most retries a binding may ask for.
pub const MAX_RETRIES: u64 = 100;
/// The largest prefetch window (frames a request may have in flight).
pub const MAX_PREFETCH: u64 = 1 << 16;
/// The trigger kinds known to the runtime.
pub const TRIGGER_KINDS: [&str; 4] = ["http", "stream", "cron", "watch"];
/// nuclio's trigger kinds bindery does not serve (named as such when a spec has one).
pub const NUCLIO_TRIGGER_KINDS: [&str; 12] = [
    "rabbit-mq",
    "kinesis",
    "mqtt",
    "iotCoreMqtt",
    "nats",
    "v3ioStream",
    "eventhub",
    "pubsub",
    "kickstart",
    "poller",
    "azureServiceBus",
    "partitioned",
];
/// nuclio's Kafka trigger: run as `stream` triggers over a `kafka` binding made from its
/// attributes (see [`SpecParser::kafka_cluster`]).
pub const KAFKA_CLUSTER: &str = "kafka-cluster";
/// nuclio's data-binding classes bindery has no driver of.
pub const NUCLIO_BINDING_CLASSES: [&str; 2] = ["v3io", "eventhub"];
/// The port an http trigger listens on without `attributes.port`: nuclio's processor's.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

/// A spec error: where and what.
#[derive(Debug, Clone)]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// Where in it.
    pub loc: Loc,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.loc.line,
            self.loc.col,
            self.message
        )
    }
}

impl std::error::Error for SpecError {}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Error {
        Error::invalid_input(e.to_string())
    }
}

/// A reference to a secret.
#[derive(Debug, Clone)]
pub enum SecretRef {
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file.
    File(PathBuf),
    /// A value written in the spec.
    Value(Secret),
}

/// One data binding of the spec.
#[derive(Debug, Clone)]
pub struct BindingSpec {
    /// Its name (the `name://` of command paths).
    pub name: String,
    /// Where it is in the spec.
    pub loc: Loc,
    /// Its kind.
    pub kind: Kind,
    /// A built-in driver's name or a plugin library's path (resolved against the spec's folder).
    pub driver: String,
    /// Whether `driver` names a plugin library.
    pub plugin: Option<PathBuf>,
    /// Where the backend is.
    pub url: Option<String>,
    /// The path prefix (or full table/topic name) inside it.
    pub path: String,
    /// Driver options.
    pub options: Options,
    /// Secrets by name (`secret` is named `secret`), with where each is referenced.
    pub secrets: BTreeMap<String, (SecretRef, Loc)>,
    /// Frames fetched ahead of the caller.
    pub prefetch: usize,
    /// Time allowed per attempt until the response starts.
    pub timeout: Duration,
    /// Extra attempts for retryable errors.
    pub retries: u32,
    /// Its processors, in order (`processors:`).
    pub processors: crate::processors::Pipeline,
}

/// A trigger of the spec: checked for a known kind and the attributes that kind needs.
#[derive(Debug, Clone)]
pub struct TriggerSpec {
    /// Its name.
    pub name: String,
    /// Where it is in the spec.
    pub loc: Loc,
    /// `http`, `stream`, `cron` or `watch`.
    pub kind: String,
    /// `maxWorkers`.
    pub max_workers: Option<u32>,
    /// `attributes`, as strings; nested mappings are flattened with dots (nuclio's cron
    /// `event: {body: …}` is `event.body`).
    pub attributes: BTreeMap<String, String>,
    /// Where each attribute is, for messages.
    pub attribute_locs: BTreeMap<String, Loc>,
}

impl TriggerSpec {
    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// A cron trigger's schedule: `attributes.schedule`, or `attributes.interval` as
    /// `@every`; the error says what is missing or wrong.
    pub fn schedule(&self) -> Result<crate::schedule::Schedule, String> {
        let text = match (self.attribute("schedule"), self.attribute("interval")) {
            (Some(s), None) => s.to_string(),
            (None, Some(i)) => format!("@every {i}"),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "cron trigger '{}' has both `schedule` and `interval`; keep one",
                    self.name
                ))
            }
            (None, None) => {
                return Err(format!(
                    "cron trigger '{}' needs `attributes.schedule` (such as '*/5 * * * *') or `attributes.interval` (such as 10s)",
                    self.name
                ))
            }
        };
        crate::schedule::Schedule::parse(&text)
    }
}

/// A loaded, checked spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file it came from.
    pub file: PathBuf,
    /// The folder holding it: relative paths in the spec are relative to it.
    pub base_dir: PathBuf,
    /// `metadata.name` (the file's folder name when absent).
    pub name: String,
    /// `spec.runtime`.
    pub runtime: Option<String>,
    /// `spec.handler`.
    pub handler: Option<String>,
    /// `spec.env`, in order.
    pub env: Vec<(String, String)>,
    /// `spec.triggers`, in order.
    pub triggers: Vec<TriggerSpec>,
    /// `spec.dataBindings`, in order: the first is the default binding.
    pub bindings: Vec<BindingSpec>,
    /// Keys bindery reads nothing from (nuclio's `build`, `resources`, `minReplicas`, a
    /// trigger's `url`, …): accepted and ignored; each with where it is, in file order.
    pub ignored: Vec<(Loc, String)>,
    /// `spec.gateway`: how `bindery serve` exposes the bindings over HTTP.
    pub gateway: Option<GatewaySpec>,
}

impl Spec {
    /// Reads and checks a spec file. `drivers` are the built-in drivers it may name.
    pub fn load(file: impl AsRef<Path>, drivers: &[DriverInfo]) -> Result<Spec, SpecError> {
        let file = file.as_ref();
        let text = read_bounded(file, MAX_SPEC_BYTES, "the spec").map_err(|message| SpecError {
            file: file.to_path_buf(),
            loc: Loc::default(),
            message,
        })?;
        Spec::parse(file, &text, drivers)
    }

    /// Checks a spec given as text; `file` is used for messages and relative paths.
    pub fn parse(file: &Path, text: &str, drivers: &[DriverInfo]) -> Result<Spec, SpecError> {
        let p = SpecParser {
            file: file.to_path_buf(),
            env: Vec::new(),
        };
        let root = yaml::parse(text).map_err(|e| p.err(e.loc, format!("YAML syntax: {}", e.message)))?;
        p.spec(&root, drivers)
    }

    /// The binding named `name`, or the first one when `None`.
    pub fn binding(&self, name: Option<&str>) -> Option<&BindingSpec> {
        match name {
            None => self.bindings.first(),
            Some(n) => self.bindings.iter().find(|b| b.name == n),
        }
    }
}

/// The largest spec file read.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;
/// The largest secret file read.
pub const MAX_SECRET_BYTES: u64 = 64 << 10;
/// How deeply `${VAR:-default}` defaults may nest.
const MAX_SUBST_DEPTH: usize = 8;

/// Reads a text file of at most `limit` bytes: only a regular file (a FIFO or device would
/// block or never end), refused with a message naming the limit when larger.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<String, String> {
    use std::io::Read;
    let shown = path.display();
    let md = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if !md.is_file() {
        let kind = if md.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        return Err(format!("cannot read {what} {shown}: it is {kind}"));
    }
    if md.len() > limit {
        return Err(format!(
            "{what} {shown} is {} bytes; at most {limit} are read",
            md.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!("{what} {shown} grew past {limit} bytes while being read"));
    }
    Ok(text)
}

/// Says why a plugin library path cannot be a plugin, if it cannot: absent, a folder, not a
/// regular file, or not a shared library (no ELF or Mach-O magic).
pub fn check_plugin_file(p: &Path) -> Result<(), String> {
    use std::io::Read;
    let shown = p.display();
    let md = match std::fs::metadata(p) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("plugin library '{shown}' does not exist"));
        }
        Err(e) => return Err(format!("plugin library '{shown}' cannot be read: {e}")),
    };
    if md.is_dir() {
        return Err(format!(
            "plugin library '{shown}' is a folder, not a shared library"
        ));
    }
    if !md.is_file() {
        return Err(format!("plugin library '{shown}' is not a regular file"));
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("plugin library '{shown}' cannot be read: {e}"))?;
    const MAGICS: [[u8; 4]; 3] = [*b"\x7fELF", [0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe]];
    if !MAGICS.contains(&magic) {
        return Err(format!(
            "plugin library '{shown}' is not a shared library (build one with `crate-type = [\"cdylib\"]`)"
        ));
    }
    Ok(())
}

struct SpecParser {
    file: PathBuf,
    env: Vec<(String, String)>,
}

type R<T> = Result<T, SpecError>;

fn entries(node: &Marked) -> &[(Marked, Marked)] {
    match &node.node {
        Node::Map(e) => e,
        _ => &[],
    }
}

fn get<'a>(node: &'a Marked, key: &str) -> Option<&'a Marked> {
    entries(node)
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

const BINDING_KEYS: [&str; 15] = [
    "kind",
    "driver",
    "class",
    "url",
    "path",
    "options",
    "attributes",
    "secret",
    "credentials",
    "prefetch",
    "timeout",
    "retries",
    "name",
    "query",
    "processors",
];

impl SpecParser {
    fn err(&self, loc: Loc, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.clone(),
            loc,
            message: message.into(),
        }
    }

    fn base_dir(&self) -> PathBuf {
        match self.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn map<'a>(&self, node: &'a Marked, what: &str) -> R<&'a [(Marked, Marked)]> {
        match &node.node {
            Node::Map(e) => Ok(e),
            _ if node.is_null() => Ok(&[]),
            _ => Err(self.err(
                node.loc,
                format!("{what} must be a mapping, not {}", node.describe()),
            )),
        }
    }

    /// A scalar with `${VAR}` substituted.
    fn string(&self, node: &Marked, what: &str) -> R<String> {
        match &node.node {
            Node::Scalar { value, .. } => self.subst(value, node.loc),
            _ => Err(self.err(
                node.loc,
                format!("{what} must be a string, not {}", node.describe()),
            )),
        }
    }

    /// Substitutes `${VAR}`, `${VAR:-default}` (the default substituted in turn, so
    /// `${A:-${B}}` works) and `$$`. Messages never repeat the value: it may be a secret.
    fn subst(&self, s: &str, loc: Loc) -> R<String> {
        self.subst_at(s, loc, 0)
    }

    fn subst_at(&self, s: &str, loc: Loc, depth: usize) -> R<String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let at = s.len() - rest.len() + i + 1; // 1-based character of the `$`, for messages
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("$$") {
                out.push('$');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${") {
                let end = closing_brace(r)
                    .ok_or_else(|| self.err(loc, format!("unclosed '${{' at character {at} of the value")))?;
                let expr = &r[..end];
                let (name, default) = match expr.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (expr, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(self.err(
                        loc,
                        format!(
                            "the '${{' at character {at} of the value names no variable \
                             (a name is letters, digits and '_': ${{NAME}} or ${{NAME:-default}})"
                        ),
                    ));
                }
                let value = match std::env::var(name)
                    .ok()
                    .or_else(|| self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                {
                    Some(v) => v,
                    None => match default {
                        Some(_) if depth >= MAX_SUBST_DEPTH => {
                            return Err(self.err(
                                loc,
                                format!("defaults nest deeper than {MAX_SUBST_DEPTH} levels in '${{{name}:-…}}'"),
                            ));
                        }
                        Some(d) => self.subst_at(d, loc, depth + 1)?,
                        None => {
                            return Err(self.err(loc, format!(
                                "environment variable {name} is not set (set it, add it to spec.env, or write ${{{name}:-default}})"
                            )))
                        }
                    },
                };
                out.push_str(&value);
                rest = &r[end + 1..];
            } else {
                out.push('$');
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn spec(mut self, root: &Marked, drivers: &[DriverInfo]) -> R<Spec> {
        self.map(root, "the spec")?;
        let metadata = get(root, "metadata");
        let name = match metadata.and_then(|m| get(m, "name")) {
            Some(n) => self.string(n, "metadata.name")?,
            None => self
                .base_dir()
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "function".into()),
        };
        let spec = get(root, "spec").ok_or_else(|| {
            self.err(
                root.loc,
                "the spec has no `spec:` section (a function spec has `spec.dataBindings`)",
            )
        })?;
        self.map(spec, "`spec`")?;
        if let Some(env) = get(spec, "env") {
            self.env = self.env_list(env)?;
        }
        let runtime = get(spec, "runtime")
            .map(|n| self.string(n, "spec.runtime"))
            .transpose()?;
        let handler = get(spec, "handler")
            .map(|n| self.string(n, "spec.handler"))
            .transpose()?;
        let mut triggers = Vec::new();
        if let Some(t) = get(spec, "triggers") {
            for (k, v) in self.map(t, "spec.triggers")? {
                triggers.push(self.trigger(k, v)?);
            }
        }
        let mut bindings: Vec<BindingSpec> = Vec::new();
        if let Some(b) = get(spec, "dataBindings") {
            for (k, v) in self.map(b, "spec.dataBindings")? {
                // A name given twice is a duplicate key, refused by the YAML reader.
                bindings.push(self.binding(k, v, drivers)?);
            }
        }
        let mut expanded = Vec::with_capacity(triggers.len());
        for t in triggers {
            if t.kind != KAFKA_CLUSTER {
                expanded.push(t);
                continue;
            }
            let (binding, streams) = self.kafka_cluster(&t, drivers)?;
            if bindings.iter().any(|b| b.name == binding.name) {
                return Err(self.err(
                    t.loc,
                    format!(
                        "kafka-cluster trigger '{0}' makes a stream binding named '{0}', and the spec has a binding of that name already",
                        t.name
                    ),
                ));
            }
            bindings.push(binding);
            expanded.extend(streams);
        }
        let triggers = expanded;
        self.check_overlaps(&bindings, drivers)?;
        let names: Vec<String> = bindings.iter().map(|b| b.name.clone()).collect();
        let gateway = get(spec, "gateway")
            .map(|g| self.gateway(g, &names))
            .transpose()?;
        for t in &triggers {
            self.check_trigger(t, &bindings)?;
        }
        let mut ignored = Vec::new();
        let mut note = |node: &Marked, prefix: &str, known: &[&str]| {
            for (k, _) in entries(node) {
                let name = k.as_str().unwrap_or("?");
                if !known.contains(&name) {
                    ignored.push((k.loc, format!("{prefix}{name}")));
                }
            }
        };
        note(root, "", &["apiVersion", "kind", "metadata", "spec"]);
        if let Some(m) = metadata {
            note(m, "metadata.", &["name"]);
        }
        note(
            spec,
            "spec.",
            &["runtime", "handler", "env", "triggers", "dataBindings", "gateway"],
        );
        if let Some(t) = get(spec, "triggers") {
            for (k, v) in entries(t) {
                let prefix = format!("spec.triggers.{}.", k.as_str().unwrap_or("?"));
                note(
                    v,
                    &prefix,
                    &[
                        "kind",
                        "maxWorkers",
                        "attributes",
                        "workerAvailabilityTimeoutMilliseconds",
                    ],
                );
            }
        }
        for t in &triggers {
            let known: &[&str] = match t.kind.as_str() {
                "http" => &["port", "host", "maxRequestBodySize", "workerAvailabilityTimeout"],
                "stream" => &["path", "group", "from", "retries", "backoff", "deadLetter"],
                _ => &["schedule", "interval"],
            };
            for (key, loc) in &t.attribute_locs {
                let used = known.contains(&key.as_str()) || (t.kind == "cron" && key.starts_with("event."));
                if !used {
                    ignored.push((*loc, format!("spec.triggers.{}.attributes.{key}", t.name)));
                }
            }
        }
        ignored.sort_by_key(|(l, _)| (l.line, l.col));
        Ok(Spec {
            base_dir: self.base_dir(),
            file: self.file.clone(),
            name,
            runtime,
            handler,
            env: self.env.clone(),
            triggers,
            bindings,
            ignored,
            gateway,
        })
    }

    /// `spec.env`, each value substituted with the entries before it in reach (so a value
    /// can use an earlier one, as a shell's would).
    fn env_list(&mut self, node: &Marked) -> R<Vec<(String, String)>> {
        let pairs: Vec<(&Marked, Option<&Marked>)> = match &node.node {
            // nuclio's shape: a list of {name, value}.
            Node::Seq(items) => items
                .iter()
                .map(|item| {
                    let name = get(item, "name")
                        .ok_or_else(|| self.err(item.loc, "spec.env entries need `name` and `value`"))?;
                    Ok((name, get(item, "value")))
                })
                .collect::<R<_>>()?,
            Node::Map(entries) => entries.iter().map(|(k, v)| (k, Some(v))).collect(),
            _ => return Err(self.err(node.loc, "spec.env must be a list of {name, value}")),
        };
        self.env.clear();
        for (name, value) in pairs {
            let name = self.string(name, "name")?;
            let value = value.map(|v| self.string(v, "value")).transpose()?;
            self.env.push((name, value.unwrap_or_default()));
        }
        Ok(std::mem::take(&mut self.env))
    }

    fn trigger(&self, key: &Marked, node: &Marked) -> R<TriggerSpec> {
        let name = self.string(key, "trigger name")?;
        self.map(node, &format!("trigger '{name}'"))?;
        let kind_node = get(node, "kind").ok_or_else(|| {
            self.err(
                key.loc,
                format!(
                    "trigger '{name}' has no `kind` (one of {})",
                    TRIGGER_KINDS.join(", ")
                ),
            )
        })?;
        let kind = self.string(kind_node, "kind")?;
        if !TRIGGER_KINDS.contains(&kind.as_str()) && kind != KAFKA_CLUSTER {
            let what = not_served(&kind, &NUCLIO_TRIGGER_KINDS, "trigger kind", "trigger kind");
            return Err(self.err(
                kind_node.loc,
                format!(
                    "{what}; bindery serves {}, {KAFKA_CLUSTER}",
                    TRIGGER_KINDS.join(", ")
                ),
            ));
        }
        let max_workers = match get(node, "maxWorkers") {
            Some(n) => {
                let v = self.number(n, "maxWorkers")?;
                if v == 0 || v > 100_000 {
                    return Err(self.err(n.loc, format!("maxWorkers must be 1 to 100000, not {v}")));
                }
                Some(v as u32)
            }
            None => None,
        };
        let mut t = TriggerSpec {
            name,
            loc: key.loc,
            kind,
            max_workers,
            attributes: BTreeMap::new(),
            attribute_locs: BTreeMap::new(),
        };
        if let Some(a) = get(node, "attributes") {
            self.attributes(a, "", &mut t)?;
        }
        // nuclio writes this one beside `maxWorkers`, not under `attributes`.
        let wait = "workerAvailabilityTimeoutMilliseconds";
        if let (Some(v), false) = (get(node, wait), t.attributes.contains_key(wait)) {
            t.attributes.insert(wait.into(), self.string(v, wait)?);
            t.attribute_locs.insert(wait.into(), v.loc);
        }
        Self::nuclio_attributes(&mut t);
        Ok(t)
    }

    /// nuclio's `kafka-cluster` trigger as bindery runs it: a `kafka` stream binding named
    /// after the trigger (`brokers` its url; `sasl.enable`, `sasl.user`, `sasl.password`,
    /// `sasl.mechanism` and `tls.enable` its client settings), and a `stream` trigger per topic
    /// on it, all in one consumer group (`consumerGroup`, default the function's name),
    /// starting at `initialOffset` (earliest or latest) when the group has no checkpoint.
    fn kafka_cluster(&self, t: &TriggerSpec, drivers: &[DriverInfo]) -> R<(BindingSpec, Vec<TriggerSpec>)> {
        let need = |a: &str, what: &str| {
            t.attribute(a).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                self.err(
                    t.loc,
                    format!(
                        "kafka-cluster trigger '{}' needs `attributes.{a}` ({what})",
                        t.name
                    ),
                )
            })
        };
        let brokers = need("brokers", "the bootstrap brokers, a list of host:port")?;
        let topics = need("topics", "the topics to consume, a list")?;
        if !drivers.iter().any(|d| d.name == "kafka") {
            return Err(self.err(
                t.loc,
                format!(
                    "kafka-cluster trigger '{}' runs on the kafka driver, which is not compiled into this program: enable the cargo feature \"kafka\" of bindery",
                    t.name
                ),
            ));
        }
        if !t
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(self.err(
                t.loc,
                format!(
                    "kafka-cluster trigger '{}' names the stream binding it makes: use letters, digits, '_' or '-'",
                    t.name
                ),
            ));
        }
        let truthy = |a: &str| {
            t.attribute(a)
                .is_some_and(|v| matches!(v.trim(), "true" | "True" | "yes" | "1"))
        };
        let mut options = Options::new();
        let mut secrets = BTreeMap::new();
        let tls = truthy("tls.enable");
        if truthy("sasl.enable") {
            let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
            options.insert("security.protocol".into(), protocol.into());
            options.insert(
                "sasl.mechanism".into(),
                t.attribute("sasl.mechanism").unwrap_or("PLAIN").to_string(),
            );
            if let Some(user) = t.attribute("sasl.user") {
                options.insert("sasl.username".into(), user.to_string());
            }
            if let Some(password) = t.attribute("sasl.password") {
                let loc = t.attribute_locs.get("sasl.password").copied().unwrap_or(t.loc);
                secrets.insert(
                    "sasl.password".to_string(),
                    (SecretRef::Value(Secret::new(password)), loc),
                );
            }
        } else if tls {
            options.insert("security.protocol".into(), "SSL".into());
        }
        let binding = BindingSpec {
            name: t.name.clone(),
            loc: t.loc,
            kind: Kind::Stream,
            driver: "kafka".into(),
            plugin: None,
            url: Some(format!("kafka://{brokers}")),
            path: String::new(),
            options,
            secrets,
            prefetch: DEFAULT_PREFETCH,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            processors: crate::processors::Pipeline::default(),
        };
        let topics: Vec<&str> = topics
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let streams = topics
            .iter()
            .map(|topic| {
                let mut attributes = BTreeMap::from([("path".to_string(), format!("{}://{topic}", t.name))]);
                // `consumerGroup` and `initialOffset` are `group` and `from` by now.
                for a in ["group", "from"] {
                    if let Some(v) = t.attribute(a) {
                        attributes.insert(a.into(), v.to_string());
                    }
                }
                TriggerSpec {
                    name: if topics.len() == 1 {
                        t.name.clone()
                    } else {
                        format!("{}/{topic}", t.name)
                    },
                    loc: t.loc,
                    kind: "stream".into(),
                    max_workers: t.max_workers,
                    attributes,
                    attribute_locs: BTreeMap::new(),
                }
            })
            .collect();
        Ok((binding, streams))
    }

    /// nuclio's names for settings bindery has under its own: each becomes bindery's (unless
    /// that is given too).
    fn nuclio_attributes(t: &mut TriggerSpec) {
        // `value` gives bindery's value, or `None` to leave a bad one where it is (refused
        // by `check_trigger` under nuclio's name).
        let mut rename = |from: &str, to: &str, value: &dyn Fn(&str) -> Option<String>| {
            if t.attributes.contains_key(to) {
                return;
            }
            let Some(v) = t.attributes.get(from).and_then(|v| value(v)) else {
                return;
            };
            t.attributes.remove(from);
            t.attributes.insert(to.to_string(), v);
            if let Some(loc) = t.attribute_locs.remove(from) {
                t.attribute_locs.insert(to.to_string(), loc);
            }
        };
        match t.kind.as_str() {
            "http" => rename(
                "workerAvailabilityTimeoutMilliseconds",
                "workerAvailabilityTimeout",
                &|v| v.trim().parse::<u64>().ok().map(|ms| format!("{ms}ms")),
            ),
            "stream" | KAFKA_CLUSTER => {
                rename("consumerGroup", "group", &|v| Some(v.to_string()));
                rename("initialOffset", "from", &|v| Some(v.trim().to_ascii_lowercase()));
            }
            _ => {}
        }
    }

    /// Flattens `attributes` into `prefix.key` strings.
    fn attributes(&self, node: &Marked, prefix: &str, t: &mut TriggerSpec) -> R<()> {
        for (k, v) in self.map(node, "attributes")? {
            let key = format!("{prefix}{}", self.string(k, "attribute")?);
            if matches!(v.node, Node::Map(_)) {
                self.attributes(v, &format!("{key}."), t)?;
            } else if let Node::Seq(items) = &v.node {
                // A list of scalars (nuclio's `brokers`, `topics`): its items joined by commas.
                let items = items
                    .iter()
                    .map(|i| self.string(i, "attribute value"))
                    .collect::<R<Vec<_>>>()?;
                t.attributes.insert(key.clone(), items.join(","));
                t.attribute_locs.insert(key, v.loc);
            } else {
                t.attributes
                    .insert(key.clone(), self.string(v, "attribute value")?);
                t.attribute_locs.insert(key, v.loc);
            }
        }
        Ok(())
    }

    /// Checks what each trigger kind needs, and that the bindings a trigger names exist.
    fn check_trigger(&self, t: &TriggerSpec, bindings: &[BindingSpec]) -> R<()> {
        let at = |a: &str| t.attribute_locs.get(a).copied().unwrap_or(t.loc);
        let need = |a: &str, what: &str| {
            t.attribute(a).ok_or_else(|| {
                self.err(
                    t.loc,
                    format!("{} trigger '{}' needs `attributes.{a}` ({what})", t.kind, t.name),
                )
            })
        };
        let binding_of = |attr: &str, path: &str, kinds: &[Kind]| -> R<()> {
            let (name, _) = path::split_binding(path);
            let found = match name {
                Some(n) => bindings.iter().find(|b| b.name == n),
                None => bindings.first(),
            };
            match found {
                Some(b) if kinds.contains(&b.kind) => Ok(()),
                Some(b) => Err(self.err(
                    at(attr),
                    format!(
                        "trigger '{}': `{attr}` names binding '{}' of kind {}; it must be {} binding",
                        t.name,
                        b.name,
                        b.kind,
                        kinds
                            .iter()
                            .map(|k| format!("{} {k}", if *k == Kind::Object { "an" } else { "a" }))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                )),
                None => Err(self.err(
                    at(attr),
                    format!(
                        "trigger '{}': `{attr}` '{path}' names no binding of this spec; bindings: {}",
                        t.name,
                        bindings
                            .iter()
                            .map(|b| b.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        };
        match t.kind.as_str() {
            "http" => {
                if let Some(port) = t.attribute("port") {
                    if port.trim().parse::<u16>().is_err() {
                        return Err(
                            self.err(at("port"), format!("port must be a number 0-65535, not '{port}'"))
                        );
                    }
                }
                if let Some(w) = t.attribute("workerAvailabilityTimeoutMilliseconds") {
                    return Err(self.err(
                        at("workerAvailabilityTimeoutMilliseconds"),
                        format!("workerAvailabilityTimeoutMilliseconds must be a whole number of milliseconds, not '{w}'"),
                    ));
                }
                if let Some(w) = t.attribute("workerAvailabilityTimeout") {
                    crate::schedule::parse_duration(w)
                        .map_err(|e| self.err(at("workerAvailabilityTimeout"), e))?;
                }
            }
            "stream" | "watch" => {
                if t.kind == "stream" {
                    let p = need("path", "the stream to consume, such as events://orders")?;
                    binding_of("path", p, &[Kind::Stream])?;
                } else {
                    let p = need(
                        "path",
                        "the object prefix or table to watch, such as files://incoming/ or db://users",
                    )?;
                    binding_of("path", p, &[Kind::Object, Kind::Table])?;
                    if let Some(c) = t.attribute("checkpoint") {
                        binding_of("checkpoint", c, &[Kind::Object])?;
                    }
                    if let Some(v) = t.attribute("initial") {
                        if !matches!(v.trim(), "true" | "false") {
                            return Err(
                                self.err(at("initial"), format!("initial must be true or false, not '{v}'"))
                            );
                        }
                    }
                }
                if let Some(dl) = t.attribute("deadLetter") {
                    binding_of("deadLetter", dl, &[Kind::Stream])?;
                }
                if let Some(v) = t.attribute("backoff") {
                    crate::schedule::parse_duration(v).map_err(|e| self.err(at("backoff"), e))?;
                }
                if let Some(v) = t.attribute("retries") {
                    v.trim().parse::<u32>().map_err(|_| {
                        self.err(
                            at("retries"),
                            format!("retries must be a whole number, not '{v}'"),
                        )
                    })?;
                }
            }
            "cron" => {
                // Point at the one schedule attribute given (the trigger when none or both).
                let given: Vec<&str> = ["schedule", "interval"]
                    .into_iter()
                    .filter(|a| t.attribute(a).is_some())
                    .collect();
                let attr = (given.len() == 1).then(|| given[0]);
                t.schedule().map_err(|e| self.err(attr.map_or(t.loc, at), e))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Refuses bindings of drivers that own local files (`DriverInfo::local_url`) whose
    /// folders overlap: one inside another, or the same one under two drivers. Two bindings of
    /// one driver on the same folder are fine (the driver coordinates its own writers).
    fn check_overlaps(&self, bindings: &[BindingSpec], drivers: &[DriverInfo]) -> R<()> {
        let areas: Vec<(&BindingSpec, PathBuf)> = bindings
            .iter()
            .filter(|b| drivers.iter().any(|d| d.name == b.driver && d.local_url))
            .filter_map(|b| {
                let url = b.url.as_deref()?;
                let dir = url.strip_prefix("file://").unwrap_or(url);
                Some((b, normalize(&self.base_dir().join(dir).join(&b.path))))
            })
            .collect();
        for (i, (a, pa)) in areas.iter().enumerate() {
            for (b, pb) in &areas[..i] {
                let nested = pa != pb && (pa.starts_with(pb) || pb.starts_with(pa));
                if nested || (pa == pb && a.driver != b.driver) {
                    let (inner, outer) = if pa.starts_with(pb) {
                        ((a, pa), (b, pb))
                    } else {
                        ((b, pb), (a, pa))
                    };
                    return Err(self.err(
                        a.loc,
                        format!(
                            "binding '{}' ({} at {}) overlaps binding '{}' ({} at {}): one driver's \
                             writes would overwrite or delete the other's files; give each its own folder",
                            inner.0.name,
                            inner.0.driver,
                            inner.1.display(),
                            outer.0.name,
                            outer.0.driver,
                            outer.1.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn number(&self, node: &Marked, what: &str) -> R<u64> {
        let s = self.string(node, what)?;
        s.trim()
            .parse::<u64>()
            .map_err(|_| self.err(node.loc, format!("{what} must be a whole number, not '{s}'")))
    }

    fn duration(&self, node: &Marked, what: &str) -> R<Duration> {
        let s = self.string(node, what)?;
        crate::schedule::parse_duration(&s).map_err(|_| {
            self.err(
                node.loc,
                format!("{what} must be a duration such as 500ms, 30s, 2m or 1h, not '{s}'"),
            )
        })
    }

    fn secret(&self, node: &Marked, what: &str) -> R<SecretRef> {
        match &node.node {
            Node::Scalar { .. } => Ok(SecretRef::Value(Secret::new(self.string(node, what)?))),
            Node::Map(e) if e.len() == 1 => {
                let (k, v) = &e[0];
                match k.as_str() {
                    Some("env") => Ok(SecretRef::Env(self.string(v, "env")?)),
                    Some("file") => Ok(SecretRef::File(self.base_dir().join(self.string(v, "file")?))),
                    _ => Err(self.err(
                        k.loc,
                        format!("{what} must be {{env: NAME}}, {{file: PATH}} or a string"),
                    )),
                }
            }
            _ => Err(self.err(
                node.loc,
                format!("{what} must be {{env: NAME}}, {{file: PATH}} or a string"),
            )),
        }
    }

    fn binding(&self, key: &Marked, node: &Marked, drivers: &[DriverInfo]) -> R<BindingSpec> {
        let name = self.string(key, "binding name")?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(self.err(
                key.loc,
                format!(
                "binding name '{name}' must be letters, digits, '_' or '-' (it is the `name://` of paths)"
            ),
            ));
        }
        let fields = self.map(node, &format!("binding '{name}'"))?;
        for (k, _) in fields {
            let known = k.as_str().is_some_and(|k| BINDING_KEYS.contains(&k));
            if !known {
                return Err(self.err(
                    k.loc,
                    format!(
                        "unknown key '{}' in binding '{name}'; known keys: {}",
                        k.as_str().unwrap_or("?"),
                        BINDING_KEYS.join(", ")
                    ),
                ));
            }
        }
        let driver_node = match (get(node, "driver"), get(node, "class")) {
            (Some(d), None) | (None, Some(d)) => d,
            (Some(_), Some(c)) => {
                return Err(self.err(
                    c.loc,
                    format!("binding '{name}' has both `driver` and `class` (its alias); keep one"),
                ));
            }
            (None, None) => {
                return Err(self.err(
                    key.loc,
                    format!(
                    "binding '{name}' has no `driver`; built-in drivers: {}, or a path to a plugin library",
                    names(drivers)
                ),
                ));
            }
        };
        let driver = self.string(driver_node, "driver")?;
        let looks_like_path = driver.contains('/') || driver.ends_with(".so") || driver.ends_with(".dylib");
        let builtin = drivers.iter().find(|d| d.name == driver);
        let plugin = if builtin.is_some() {
            None
        } else if looks_like_path {
            let p = self.base_dir().join(&driver);
            check_plugin_file(&p).map_err(|m| self.err(driver_node.loc, m))?;
            Some(p)
        } else {
            if let Some((_, feature)) = crate::registry::DRIVER_FEATURES
                .iter()
                .find(|(d, _)| *d == driver)
            {
                return Err(self.err(
                    driver_node.loc,
                    format!(
                        "driver '{driver}' is not compiled into this program: enable the cargo feature \"{feature}\" of bindery (bindery = {{ features = [\"{feature}\"] }}, or \"all\"); drivers compiled in: {}",
                        names(drivers)
                    ),
                ));
            }
            let what = not_served(&driver, &NUCLIO_BINDING_CLASSES, "data-binding class", "driver");
            return Err(self.err(
                driver_node.loc,
                format!(
                    "{what}; built-in drivers: {}; or give a path to a plugin library (./libname.so)",
                    names(drivers)
                ),
            ));
        };
        let kind = match get(node, "kind") {
            Some(k) => {
                let s = self.string(k, "kind")?;
                let kind = Kind::parse(&s).ok_or_else(|| {
                    self.err(
                        k.loc,
                        format!("unknown kind '{s}'; kinds: object, table, stream, generic"),
                    )
                })?;
                if let Some(info) = builtin {
                    if !info.kinds.contains(&kind) {
                        return Err(self.err(
                            k.loc,
                            format!(
                                "driver '{driver}' does not serve kind '{kind}'; it serves: {}",
                                info.kinds
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
                kind
            }
            None => match builtin.map(|i| i.kinds.as_slice()) {
                Some([only]) => *only,
                _ => {
                    return Err(self.err(
                        key.loc,
                        format!("binding '{name}' has no `kind` (object, table, stream or generic)"),
                    ))
                }
            },
        };
        let url = get(node, "url")
            .filter(|u| !u.is_null())
            .map(|u| self.string(u, "url"))
            .transpose()?;
        let path = match get(node, "path").filter(|p| !p.is_null()) {
            Some(p) => {
                let s = self.string(p, "path")?;
                path::validate(&s, true).map_err(|e| self.err(p.loc, e.message().to_string()))?;
                s
            }
            None => String::new(),
        };
        let mut options = Options::new();
        for key in ["attributes", "options"] {
            if let Some(o) = get(node, key) {
                for (k, v) in self.map(o, key)? {
                    let value = match &v.node {
                        Node::Scalar { .. } => self.string(v, "option value")?,
                        _ => return Err(self.err(v.loc, "option values must be strings or numbers")),
                    };
                    options.insert(self.string(k, "option name")?, value);
                }
            }
        }
        let mut secrets = BTreeMap::new();
        if let Some(s) = get(node, "secret").filter(|s| !s.is_null()) {
            secrets.insert("secret".to_string(), (self.secret(s, "secret")?, s.loc));
        }
        if let Some(c) = get(node, "credentials") {
            for (k, v) in self.map(c, "credentials")? {
                let key = self.string(k, "credential name")?;
                secrets.insert(
                    key.clone(),
                    (self.secret(v, &format!("credential '{key}'"))?, v.loc),
                );
            }
        }
        let prefetch = match get(node, "prefetch") {
            Some(n) => match self.number(n, "prefetch")? {
                v @ 1..=MAX_PREFETCH => v as usize,
                v => return Err(self.err(n.loc, format!("prefetch must be 1 to {MAX_PREFETCH}, not {v}"))),
            },
            None => DEFAULT_PREFETCH,
        };
        let timeout = get(node, "timeout")
            .map(|n| self.duration(n, "timeout"))
            .transpose()?
            .unwrap_or(DEFAULT_TIMEOUT);
        let retries = match get(node, "retries") {
            Some(n) => match self.number(n, "retries")? {
                v @ 0..=MAX_RETRIES => v as u32,
                v => return Err(self.err(n.loc, format!("retries must be 0 to {MAX_RETRIES}, not {v}"))),
            },
            None => DEFAULT_RETRIES,
        };
        let processors = match get(node, "processors") {
            Some(n) => crate::processors::parse(n, &name, kind, &self.base_dir())
                .map_err(|(loc, m)| self.err(loc, m))?,
            None => crate::processors::Pipeline::default(),
        };
        Ok(BindingSpec {
            processors,
            name,
            loc: key.loc,
            kind,
            driver,
            plugin,
            url,
            path,
            options,
            secrets,
            prefetch,
            timeout,
            retries,
        })
    }
}

/// A path with `.` and `..` folded away lexically (links are not resolved).
/// How a name bindery does not know is described: as nuclio's (`nuclio trigger kind
/// 'rabbit-mq' is not served by bindery`) when `nuclio` has it, else as unknown.
fn not_served(name: &str, nuclio: &[&str], nuclio_what: &str, what: &str) -> String {
    if nuclio.contains(&name) {
        format!("nuclio {nuclio_what} '{name}' is not served by bindery")
    } else {
        format!("unknown {what} '{name}'")
    }
}

fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// The index of the `}` closing a `${` whose text starts `r`, counting nested `${ … }`.
fn closing_brace(r: &str) -> Option<usize> {
    let bytes = r.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn names(drivers: &[DriverInfo]) -> String {
    drivers
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SecretRef {
    /// The secret's value: the variable's, or the file's without a final newline; the error
    /// names the variable or the file, never the value.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretRef::Value(s) => Ok(s.clone()),
            SecretRef::Env(var) => std::env::var(var)
                .map(Secret::new)
                .map_err(|_| format!("environment variable {var} is not set")),
            SecretRef::File(p) => {
                let mut s = read_bounded(p, MAX_SECRET_BYTES, "the file")?;
                if s.ends_with('\n') {
                    s.pop();
                }
                Ok(Secret::new(s))
            }
        }
    }
}

impl BindingSpec {
    /// Checks that every secret the binding reads from a file can be read (a regular file of
    /// at most [`MAX_SECRET_BYTES`]), without keeping the values: `bindery validate` runs it,
    /// where the environment's secrets may not be set yet.
    pub fn check_secret_files(&self, file: &Path) -> Result<(), SpecError> {
        for (key, (r, loc)) in &self.secrets {
            if let SecretRef::File(p) = r {
                read_bounded(p, MAX_SECRET_BYTES, "the file").map_err(|e| SpecError {
                    file: file.to_path_buf(),
                    loc: *loc,
                    message: format!("secret '{key}' of binding '{}': {e}", self.name),
                })?;
            }
        }
        Ok(())
    }

    /// Reads the binding's secrets. Errors name the binding and where the reference is.
    pub fn resolve_secrets(&self, file: &Path) -> Result<BTreeMap<String, Secret>, SpecError> {
        let mut out = BTreeMap::new();
        for (key, (r, loc)) in &self.secrets {
            let err = |m: String| SpecError {
                file: file.to_path_buf(),
                loc: *loc,
                message: m,
            };
            let value = r
                .resolve()
                .map_err(|e| err(format!("secret '{key}' of binding '{}': {e}", self.name)))?;
            out.insert(key.clone(), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drivers() -> Vec<DriverInfo> {
        crate::Registry::builtin().infos()
    }

    fn parse(text: &str) -> Result<Spec, SpecError> {
        Spec::parse(Path::new("fn/function.yaml"), text, &drivers())
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("the spec must be refused").to_string()
    }

    #[test]
    fn a_gateway_section_is_read_and_its_mistakes_located() {
        let base =
            "spec:\n  dataBindings:\n    files:\n      kind: object\n      driver: memory\n  gateway:\n";
        let ok = parse(&format!(
            "{base}    listen: 0.0.0.0:9000\n    auth:\n      anonymous: [\"files:read\"]\n      tokens:\n        - name: ci\n          sha256: {}\n          scopes: [\"*:write\"]\n      jwt:\n        secret: {{env: JWT}}\n        leeway: 5s\n    limits:\n      bodyBytes: 1000\n",
            "ab".repeat(32)
        ))
        .unwrap();
        let g = ok.gateway.unwrap();
        assert_eq!(g.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(g.anonymous[0].to_string(), "files:read");
        assert_eq!((g.tokens[0].name.as_str(), g.tokens[0].sha256[0]), ("ci", 0xab));
        assert_eq!(g.jwt.unwrap().leeway, Duration::from_secs(5));
        assert_eq!((g.body_bytes, g.json_bytes), (1000, 16 << 20));
        for (text, want) in [
            ("    auth:\n      anonymous: [\"files:rwx\"]\n", "fn/function.yaml:8:19: spec.gateway.auth.anonymous: scope 'files:rwx': unknown operation 'rwx'"),
            ("    auth:\n      anonymous: [\"db:read\"]\n", "names binding 'db', which the spec does not have (bindings: files)"),
            ("    bindings: [nope]\n", "spec.gateway.bindings names 'nope', which is not a binding of the spec"),
            ("    bindings:\n      files: [rwx]\n", "fn/function.yaml:8:15: spec.gateway.bindings.files: unknown operation 'rwx'"),
            ("    bindings:\n      nope: [read]\n", "spec.gateway.bindings names 'nope'"),
            ("    lisen: x\n", "fn/function.yaml:7:5: spec.gateway has no key 'lisen' (keys: listen, bindings, auth, limits, cors, tls)"),
            ("    auth:\n      tokens:\n        - name: ci\n          sha256: abc\n          scopes: []\n", "token 'ci': sha256 must be 64 hex digits"),
            ("    auth:\n      jwt:\n        issuer: x\n", "needs one of `secret` (HS256) and `publicKey`"),
        ] {
            let e = err(&format!("{base}{text}"));
            assert!(e.contains(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn a_nuclio_spec_loads() {
        let spec = parse(
            r#"apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata:
  name: ingest
  labels: { team: data }
spec:
  runtime: python:3.11
  handler: main:handler
  resources: { limits: { cpu: 1 } }
  env:
    - name: ROOT
      value: /srv/data
  triggers:
    web:
      kind: http
      maxWorkers: 4
      attributes:
        port: 8080
    tick:
      kind: cron
      attributes:
        interval: 10s
        event:
          body: tick
          headers: { source: cron }
  dataBindings:
    obj:
      class: fs
      url: ${ROOT}/objects
      attributes:
        fsync: "true"
    cache:
      driver: memory
      kind: object
      prefetch: 2
      timeout: 500ms
      retries: 0
"#,
        )
        .unwrap();
        assert_eq!(spec.name, "ingest");
        assert_eq!(spec.handler.as_deref(), Some("main:handler"));
        assert_eq!(spec.triggers[0].max_workers, Some(4));
        assert_eq!(spec.triggers[0].attributes["port"], "8080");
        assert_eq!(spec.triggers[1].attribute("event.body"), Some("tick"));
        assert_eq!(spec.triggers[1].attribute("event.headers.source"), Some("cron"));
        let obj = &spec.bindings[0];
        assert_eq!(
            (obj.name.as_str(), obj.driver.as_str(), obj.kind),
            ("obj", "fs", Kind::Object)
        );
        assert_eq!(obj.url.as_deref(), Some("/srv/data/objects"));
        assert_eq!(obj.options["fsync"], "true");
        assert_eq!(obj.prefetch, DEFAULT_PREFETCH);
        let cache = &spec.bindings[1];
        assert_eq!(
            (cache.prefetch, cache.timeout, cache.retries),
            (2, Duration::from_millis(500), 0)
        );
        assert_eq!(spec.binding(None).map(|b| b.name.as_str()), Some("obj"));
    }

    #[test]
    fn variables_substitute_with_defaults_and_escapes() {
        std::env::set_var("BINDERY_SPEC_TEST_VAR", "from-env");
        let spec = parse(
            "spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: ${BINDERY_SPEC_TEST_VAR}/${BINDERY_SPEC_UNSET:-dflt}/$$x\n",
        )
        .unwrap();
        assert_eq!(spec.bindings[0].url.as_deref(), Some("from-env/dflt/$x"));
        let e = err("spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: ${BINDERY_SPEC_UNSET}\n");
        assert!(
            e.starts_with("fn/function.yaml:5:12: environment variable BINDERY_SPEC_UNSET is not set"),
            "{e}"
        );
    }

    #[test]
    fn bad_input_is_located_and_explained() {
        let cases = [
            (
                "spec:\n  dataBindings:\n    a:\n      driver: s4\n",
                "4:15: unknown driver 's4'; built-in drivers: memory, fs",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      colour: red\n",
                "5:7: unknown key 'colour' in binding 'a'; known keys: kind",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      class: fs\n",
                "5:14: binding 'a' has both `driver` and `class`",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      kind: table\n      driver: fs\n",
                "4:13: driver 'fs' does not serve kind 'table'; it serves: object",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      kind: blob\n      driver: fs\n",
                "4:13: unknown kind 'blob'",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      path: ../up\n",
                "5:13: invalid path '../up'",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      timeout: soon\n",
                "5:16: timeout must be a duration",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      prefetch: 0\n",
                "prefetch must be 1 to 65536, not 0",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      kind: object\n",
                "3:5: binding 'a' has no `driver`; built-in drivers: memory, fs",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: ./libnone.so\n",
                "4:15: plugin library 'fn/./libnone.so' does not exist",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n    a:\n      driver: memory\n",
                "5:5: YAML syntax: duplicate key 'a' (first at line 3, column 5)",
            ),
            (
                "spec:\n  dataBindings:\n    'a b':\n      driver: fs\n",
                "3:5: binding name 'a b' must be letters",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: carrier-pigeon\n",
                "4:13: unknown trigger kind 'carrier-pigeon'; bindery serves http, stream, cron, watch",
            ),
            (
                "spec:\n  triggers:\n    q:\n      kind: \"rabbit-mq\"\n      url: amqp://h\n",
                "4:13: nuclio trigger kind 'rabbit-mq' is not served by bindery; bindery serves http, stream, cron, watch",
            ),
            (
                "spec:\n  dataBindings:\n    db0:\n      class: v3io\n      url: http://h:1/2\n",
                "4:14: nuclio data-binding class 'v3io' is not served by bindery; built-in drivers:",
            ),
            (
                "spec:\n  triggers:\n    web:\n      kind: http\n      attributes:\n        workerAvailabilityTimeoutMilliseconds: soon\n",
                "6:48: workerAvailabilityTimeoutMilliseconds must be a whole number of milliseconds, not 'soon'",
            ),
            (
                "spec:\n  triggers:\n    web:\n      kind: http\n      attributes: { port: eighty }\n",
                "5:27: port must be a number 0-65535, not 'eighty'",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: stream\n      attributes:\n        path: ev://orders\n  dataBindings:\n    obj:\n      driver: memory\n",
                "6:15: trigger 't': `path` 'ev://orders' names no binding of this spec; bindings: obj",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: stream\n      attributes:\n        path: obj://orders\n  dataBindings:\n    obj:\n      driver: memory\n",
                "6:15: trigger 't': `path` names binding 'obj' of kind object; it must be a stream binding",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: cron\n      attributes:\n        schedule: '61 * * * *'\n",
                "6:19: minute 61 is out of range (0-59)",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: cron\n",
                "3:5: cron trigger 't' needs `attributes.schedule`",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: cron\n      maxWorkers: 0\n      attributes: { interval: 1s }\n",
                "5:19: maxWorkers must be 1 to 100000",
            ),
            ("metadata:\n  name: x\n", "1:1: the spec has no `spec:` section"),
            ("spec:\n  dataBindings: [1, 2\n", "YAML syntax"),
            (
                "spec:\n  dataBindings:\n    a: &x { driver: fs }\n    b: *x\n",
                "4:8: YAML syntax: YAML aliases",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      secret: { vault: x }\n",
                "5:17: secret must be {env: NAME}",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      driver: s3\n",
                "5:7: YAML syntax: duplicate key 'driver' (first at line 4, column 7)",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n---\nspec: {}\n",
                "5:1: YAML syntax: a second YAML document",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      retries: 4294967296\n",
                "5:16: retries must be 0 to 100, not 4294967296",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      prefetch: 99999999999\n",
                "prefetch must be 1 to 65536",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      secret: \"S3CR3T${oops\"\n",
                "unclosed '${' at character 7 of the value",
            ),
            (
                "spec:\n  dataBindings:\n    objects:\n      driver: fs\n      url: ./data\n    events:\n      kind: stream\n      driver: log\n      url: ./data/streams\n",
                "6:5: binding 'events' (log at fn/data/streams) overlaps binding 'objects' (fs at fn/data)",
            ),
            (
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: ./d\n    t:\n      kind: table\n      driver: files\n      url: ./x/../d\n",
                "overlaps binding 'a'",
            ),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.contains(want), "for\n{text}\nwanted '{want}' in:\n{got}");
            assert!(got.starts_with("fn/function.yaml:"), "{got}");
        }
    }

    #[test]
    fn the_secret_literal_is_never_repeated_in_a_message() {
        for bad in ["S3CR3T${oops", "S3CR3T${not-a-name}", "S3CR3T${A:-${B"] {
            let text = format!("spec:\n  dataBindings:\n    a:\n      driver: fs\n      secret: \"{bad}\"\n");
            let got = err(&text);
            assert!(!got.contains("S3CR3T"), "{got}");
        }
    }

    #[test]
    fn defaults_nest_and_env_values_use_earlier_ones() {
        std::env::remove_var("BINDERY_SPEC_UNSET_A");
        std::env::set_var("BINDERY_SPEC_SET_B", "bee");
        let spec = parse(
            "spec:\n  env:\n    - name: ROOT\n      value: /srv\n    - name: DATA\n      value: ${ROOT}/data\n  dataBindings:\n    a:\n      driver: fs\n      url: ${BINDERY_SPEC_UNSET_A:-${BINDERY_SPEC_SET_B}}/${DATA}\n",
        )
        .unwrap();
        assert_eq!(spec.bindings[0].url.as_deref(), Some("bee//srv/data"));
        assert_eq!(spec.env[1], ("DATA".to_string(), "/srv/data".to_string()));
        let deep = format!("{}x{}", "${BINDERY_SPEC_UNSET_A:-".repeat(20), "}".repeat(20));
        let got = err(&format!(
            "spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: \"{deep}\"\n"
        ));
        assert!(got.contains("defaults nest deeper than 8"), "{got}");
    }

    #[test]
    fn nuclio_defaults_spellings_and_ignored_keys() {
        let text = "apiVersion: nuclio.io/v1\nkind: NuclioFunction\nmetadata:\n  name: f\n  namespace: nuclio\n  labels: {a: b}\nspec:\n  runtime: python:3.9\n  handler: main:handler\n  minReplicas: 1\n  build:\n    commands: [pip install x]\n  resources: {limits: {cpu: 1}}\n  triggers:\n    web:\n      kind: http\n      annotations: {x: y}\n      attributes:\n        workerAvailabilityTimeoutMilliseconds: 250\n        maxRequestBodySize: 1024\n        serviceType: NodePort\n    api:\n      kind: http\n      workerAvailabilityTimeoutMilliseconds: 300\n      attributes: {port: 0}\n    orders:\n      kind: stream\n      attributes:\n        path: ev://orders\n        consumerGroup: billing\n        initialOffset: Earliest\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n";
        let spec = parse(text).unwrap();
        let web = &spec.triggers[0];
        // No port: nuclio's 8080, at run time.
        assert_eq!(web.attribute("port"), None);
        assert_eq!(DEFAULT_HTTP_PORT, 8080);
        assert_eq!(web.attribute("workerAvailabilityTimeout"), Some("250ms"));
        assert_eq!(web.attribute("maxRequestBodySize"), Some("1024"));
        assert_eq!(
            spec.triggers[1].attribute("workerAvailabilityTimeout"),
            Some("300ms")
        );
        let orders = &spec.triggers[2];
        assert_eq!(orders.attribute("group"), Some("billing"));
        assert_eq!(orders.attribute("from"), Some("earliest"));
        let ignored: Vec<String> = spec
            .ignored
            .iter()
            .map(|(l, k)| format!("{}:{} {k}", l.line, l.col))
            .collect();
        assert_eq!(
            ignored,
            [
                "5:3 metadata.namespace",
                "6:3 metadata.labels",
                "10:3 spec.minReplicas",
                "11:3 spec.build",
                "13:3 spec.resources",
                "17:7 spec.triggers.web.annotations",
                "21:22 spec.triggers.web.attributes.serviceType",
            ]
        );
    }

    #[test]
    #[cfg(feature = "kafka")]
    fn a_kafka_cluster_trigger_is_stream_triggers_over_a_kafka_binding() {
        let text = "spec:\n  triggers:\n    orders:\n      kind: kafka-cluster\n      maxWorkers: 2\n      attributes:\n        brokers: [b1:9092, \"b2:9092\"]\n        topics:\n          - eu\n          - us\n        consumerGroup: billing\n        initialOffset: Earliest\n        sasl:\n          enable: true\n          user: ana\n          password: s3cret\n          mechanism: SCRAM-SHA-256\n  dataBindings:\n    obj:\n      driver: memory\n";
        let spec = parse(text).unwrap();
        let b = spec.binding(Some("orders")).unwrap();
        assert_eq!((b.kind, b.driver.as_str()), (Kind::Stream, "kafka"));
        assert_eq!(b.url.as_deref(), Some("kafka://b1:9092,b2:9092"));
        assert_eq!(b.options["security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(b.options["sasl.mechanism"], "SCRAM-SHA-256");
        assert_eq!(b.options["sasl.username"], "ana");
        assert!(b.secrets.contains_key("sasl.password"));
        assert_eq!(
            spec.bindings[0].name, "obj",
            "the default binding stays the first"
        );
        let names: Vec<&str> = spec.triggers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders/eu", "orders/us"]);
        for (t, topic) in spec.triggers.iter().zip(["eu", "us"]) {
            assert_eq!(t.kind, "stream");
            assert_eq!(t.attribute("path"), Some(format!("orders://{topic}").as_str()));
            assert_eq!(t.attribute("group"), Some("billing"));
            assert_eq!(t.attribute("from"), Some("earliest"));
            assert_eq!(t.max_workers, Some(2));
        }
        let e = err(
            "spec:\n  triggers:\n    k:\n      kind: kafka-cluster\n      attributes:\n        topics: [a]\n",
        );
        assert!(
            e.contains("3:5: kafka-cluster trigger 'k' needs `attributes.brokers`"),
            "{e}"
        );
    }

    #[test]
    fn a_driver_left_out_of_the_build_names_its_feature() {
        let embedded: Vec<DriverInfo> = drivers().into_iter().filter(|d| d.name != "postgres").collect();
        let text = "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: postgres\n";
        let e = Spec::parse(Path::new("fn/function.yaml"), text, &embedded)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("5:15: driver 'postgres' is not compiled into this program: enable the cargo feature \"postgres\" of bindery"),
            "{e}"
        );
    }

    #[test]
    fn same_driver_same_folder_is_fine_and_separate_folders_too() {
        parse("spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: ./data\n      path: a\n    b:\n      driver: fs\n      url: ./data\n      path: b\n    c:\n      driver: fs\n      url: ./data\n      path: a\n    s:\n      kind: stream\n      driver: log\n      url: ./data/streams\n    t:\n      kind: table\n      driver: sqlite\n      url: ./data/t.db\n      path: users\n    u:\n      kind: table\n      driver: sqlite\n      url: ./data/t.db\n      path: orders\n").unwrap();
    }

    #[test]
    fn spec_secret_and_plugin_files_must_be_regular_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Spec::load(&fifo, &drivers()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b' '; MAX_SPEC_BYTES as usize + 1]).unwrap();
        let e = Spec::load(&big, &drivers()).unwrap_err().to_string();
        assert!(e.contains("at most 1048576"), "{e}");
        let e = Spec::load(dir.path(), &drivers()).unwrap_err().to_string();
        assert!(e.contains("a folder"), "{e}");
        // A secret file that is a FIFO or too large is refused at once, not read forever.
        let file = dir.path().join("function.yaml");
        std::fs::write(dir.path().join("huge"), vec![b'x'; MAX_SECRET_BYTES as usize + 1]).unwrap();
        for (name, want) in [("fifo", "not a regular file"), ("huge", "at most 65536")] {
            let text = format!(
                "spec:\n  dataBindings:\n    a:\n      driver: fs\n      secret: {{ file: {name} }}\n"
            );
            let spec = Spec::parse(&file, &text, &drivers()).unwrap();
            let e = spec.bindings[0].resolve_secrets(&file).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // Plugin paths: a folder, a device, a text file are each named for what they are.
        std::fs::write(dir.path().join("fake.so"), "not a library").unwrap();
        std::fs::create_dir(dir.path().join("dir.so")).unwrap();
        for (driver, want) in [
            ("./dir.so", "is a folder"),
            ("/dev/zero", "not a regular file"),
            ("./fake.so", "is not a shared library"),
        ] {
            let text = format!("spec:\n  dataBindings:\n    a:\n      driver: {driver}\n");
            let e = Spec::parse(&file, &text, &drivers()).unwrap_err().to_string();
            assert!(e.contains(want), "{driver}: {e}");
        }
    }

    #[test]
    fn secrets_come_from_env_files_or_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        std::env::set_var("BINDERY_SPEC_TEST_SECRET", "from-env");
        let file = dir.path().join("function.yaml");
        let spec = Spec::parse(
            &file,
            "spec:\n  dataBindings:\n    a:\n      driver: fs\n      secret: { env: BINDERY_SPEC_TEST_SECRET }\n      credentials:\n        pw: { file: pw }\n        key: literal\n",
            &drivers(),
        )
        .unwrap();
        let s = spec.bindings[0].resolve_secrets(&file).unwrap();
        assert_eq!(s["secret"].expose(), "from-env");
        assert_eq!(s["pw"].expose(), "from-file");
        assert_eq!(s["key"].expose(), "literal");
        assert!(!format!("{s:?}").contains("from-"));
    }
}
