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

/// Frames fetched ahead of the caller unless the binding says otherwise.
pub const DEFAULT_PREFETCH: usize = 8;
/// Time allowed per attempt until a response starts, unless the binding says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra attempts for retryable errors unless the binding says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The trigger kinds known to the runtime.
pub const TRIGGER_KINDS: [&str; 3] = ["http", "stream", "cron"];

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
}

/// A trigger of the spec: checked for a known kind and the attributes that kind needs.
#[derive(Debug, Clone)]
pub struct TriggerSpec {
    /// Its name.
    pub name: String,
    /// Where it is in the spec.
    pub loc: Loc,
    /// `http`, `stream` or `cron`.
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
}

impl Spec {
    /// Reads and checks a spec file. `drivers` are the built-in drivers it may name.
    pub fn load(file: impl AsRef<Path>, drivers: &[DriverInfo]) -> Result<Spec, SpecError> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|e| SpecError {
            file: file.to_path_buf(),
            loc: Loc::default(),
            message: format!("cannot read the spec: {e}"),
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

const BINDING_KEYS: [&str; 14] = [
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

    fn subst(&self, s: &str, loc: Loc) -> R<String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("$$") {
                out.push('$');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${") {
                let end = r
                    .find('}')
                    .ok_or_else(|| self.err(loc, format!("unclosed '${{' in '{s}'")))?;
                let expr = &r[..end];
                let (name, default) = match expr.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (expr, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(self.err(loc, format!("'${{{expr}}}' is not a variable name")));
                }
                let value = std::env::var(name)
                    .ok()
                    .or_else(|| self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                    .or(default.map(str::to_string))
                    .ok_or_else(|| {
                        self.err(loc, format!(
                            "environment variable {name} is not set (set it, add it to spec.env, or write ${{{name}:-default}})"
                        ))
                    })?;
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
                let binding = self.binding(k, v, drivers)?;
                if bindings.iter().any(|o| o.name == binding.name) {
                    return Err(self.err(k.loc, format!("binding '{}' is defined twice", binding.name)));
                }
                bindings.push(binding);
            }
        }
        for t in &triggers {
            self.check_trigger(t, &bindings)?;
        }
        Ok(Spec {
            base_dir: self.base_dir(),
            file: self.file.clone(),
            name,
            runtime,
            handler,
            env: self.env.clone(),
            triggers,
            bindings,
        })
    }

    fn env_list(&self, node: &Marked) -> R<Vec<(String, String)>> {
        let mut out = Vec::new();
        match &node.node {
            // nuclio's shape: a list of {name, value}.
            Node::Seq(items) => {
                for item in items {
                    let name = get(item, "name")
                        .ok_or_else(|| self.err(item.loc, "spec.env entries need `name` and `value`"))?;
                    let value = get(item, "value").map(|v| self.string(v, "value")).transpose()?;
                    out.push((self.string(name, "name")?, value.unwrap_or_default()));
                }
            }
            Node::Map(entries) => {
                for (k, v) in entries {
                    out.push((self.string(k, "name")?, self.string(v, "value")?));
                }
            }
            _ => return Err(self.err(node.loc, "spec.env must be a list of {name, value}")),
        }
        Ok(out)
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
        if !TRIGGER_KINDS.contains(&kind.as_str()) {
            return Err(self.err(
                kind_node.loc,
                format!(
                    "unknown trigger kind '{kind}'; known kinds: {}",
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
        Ok(t)
    }

    /// Flattens `attributes` into `prefix.key` strings.
    fn attributes(&self, node: &Marked, prefix: &str, t: &mut TriggerSpec) -> R<()> {
        for (k, v) in self.map(node, "attributes")? {
            let key = format!("{prefix}{}", self.string(k, "attribute")?);
            if matches!(v.node, Node::Map(_)) {
                self.attributes(v, &format!("{key}."), t)?;
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
        let stream_binding = |attr: &str, path: &str| -> R<()> {
            let (name, _) = path::split_binding(path);
            let found = match name {
                Some(n) => bindings.iter().find(|b| b.name == n),
                None => bindings.first(),
            };
            match found {
                Some(b) if b.kind == Kind::Stream => Ok(()),
                Some(b) => Err(self.err(
                    at(attr),
                    format!(
                        "trigger '{}': `{attr}` names binding '{}' of kind {}; it must be a stream binding",
                        t.name, b.name, b.kind
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
                let port = need("port", "the port to listen on, 0 for any free one")?;
                if port.trim().parse::<u16>().is_err() {
                    return Err(self.err(at("port"), format!("port must be a number 0-65535, not '{port}'")));
                }
            }
            "stream" => {
                let p = need("path", "the stream to consume, such as events://orders")?;
                stream_binding("path", p)?;
                if let Some(dl) = t.attribute("deadLetter") {
                    stream_binding("deadLetter", dl)?;
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
            if !p.is_file() {
                return Err(self.err(
                    driver_node.loc,
                    format!("plugin library '{}' does not exist", p.display()),
                ));
            }
            Some(p)
        } else {
            return Err(self.err(driver_node.loc, format!(
                "unknown driver '{driver}'; built-in drivers: {}; or give a path to a plugin library (./libname.so)",
                names(drivers)
            )));
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
                0 => return Err(self.err(n.loc, "prefetch must be at least 1")),
                v => v as usize,
            },
            None => DEFAULT_PREFETCH,
        };
        let timeout = get(node, "timeout")
            .map(|n| self.duration(n, "timeout"))
            .transpose()?
            .unwrap_or(DEFAULT_TIMEOUT);
        let retries = get(node, "retries")
            .map(|n| self.number(n, "retries").map(|v| v as u32))
            .transpose()?
            .unwrap_or(DEFAULT_RETRIES);
        Ok(BindingSpec {
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

fn names(drivers: &[DriverInfo]) -> String {
    drivers
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl BindingSpec {
    /// Reads the binding's secrets. Errors name the binding and where the reference is.
    pub fn resolve_secrets(&self, file: &Path) -> Result<BTreeMap<String, Secret>, SpecError> {
        let mut out = BTreeMap::new();
        for (key, (r, loc)) in &self.secrets {
            let err = |m: String| SpecError {
                file: file.to_path_buf(),
                loc: *loc,
                message: m,
            };
            let value = match r {
                SecretRef::Value(s) => s.clone(),
                SecretRef::Env(var) => Secret::new(std::env::var(var).map_err(|_| {
                    err(format!(
                        "secret '{key}' of binding '{}': environment variable {var} is not set",
                        self.name
                    ))
                })?),
                SecretRef::File(p) => {
                    let mut s = std::fs::read_to_string(p).map_err(|e| {
                        err(format!(
                            "secret '{key}' of binding '{}': cannot read {}: {e}",
                            self.name,
                            p.display()
                        ))
                    })?;
                    if s.ends_with('\n') {
                        s.pop();
                    }
                    Secret::new(s)
                }
            };
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
                "prefetch must be at least 1",
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
                "5:5: binding 'a' is defined twice",
            ),
            (
                "spec:\n  dataBindings:\n    'a b':\n      driver: fs\n",
                "3:5: binding name 'a b' must be letters",
            ),
            (
                "spec:\n  triggers:\n    t:\n      kind: carrier-pigeon\n",
                "4:13: unknown trigger kind 'carrier-pigeon'; known kinds: http, stream, cron",
            ),
            (
                "spec:\n  triggers:\n    web:\n      kind: http\n",
                "3:5: http trigger 'web' needs `attributes.port`",
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
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.contains(want), "for\n{text}\nwanted '{want}' in:\n{got}");
            assert!(got.starts_with("fn/function.yaml:"), "{got}");
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
