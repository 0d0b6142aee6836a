//! `spec.gateway`: how `bindery serve` puts the spec's bindings on HTTP: where it listens,
//! which bindings it exposes, who may do what (scopes), and its limits.
//!
//! ```yaml
//! spec:
//!   gateway:
//!     listen: 127.0.0.1:8080
//!     bindings: [files, db0]            # exposed; default: every binding; or, with the
//!                                        # operations each is exposed for:
//!                                        # bindings: {files: [read], db0: [read, write]}
//!     auth:
//!       anonymous: ["files:read"]       # scopes granted without a token; default: none
//!       tokens:                          # static API tokens, stored hashed
//!         - name: ci
//!           sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//!           scopes: ["files:read", "files:write"]
//!       jwt:
//!         secret: {env: JWT_SECRET}      # HS256; or publicKey: a PEM file (RS256 or ES256) or a JWKS
//!         issuer: https://login.example.com
//!         audience: bindery
//!         scopeClaim: scope              # a space-separated string or a list
//!         leeway: 30s
//!     limits:
//!       bodyBytes: 5368709120            # an object PUT; default 5 GiB
//!       jsonBytes: 16777216              # a table or stream request's JSON body; default 16 MiB
//!       headerTimeout: 10s
//!     tls:                               # HTTPS (rustls); default: plain HTTP
//!       cert: tls/cert.pem               # the chain, leaf first
//!       key: tls/key.pem
//!     cors:
//!       origins: ["https://app.example.com"]
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::{entries, get, SecretRef, SpecParser, R};
use crate::yaml::{Loc, Marked, Node};

/// The operations a scope grants.
pub const OPERATIONS: &[&str] = &["read", "write", "delete", "publish", "consume", "call", "admin"];

/// `spec.gateway`.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    /// Where the section is.
    pub loc: Loc,
    /// `listen`: the address to listen on (`--listen` wins; default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// `bindings`: the names exposed (`None`: every binding).
    pub bindings: Option<Vec<String>>,
    /// `bindings` as a mapping: the operations each binding is exposed for (a binding not in
    /// it: every operation).
    pub operations: std::collections::BTreeMap<String, Vec<String>>,
    /// `auth.anonymous`: scopes granted to a request without a token.
    pub anonymous: Vec<Scope>,
    /// `auth.tokens`: static API tokens.
    pub tokens: Vec<TokenSpec>,
    /// `auth.jwt`.
    pub jwt: Option<JwtSpec>,
    /// `limits.bodyBytes`: the largest object body taken (413 above it).
    pub body_bytes: u64,
    /// `limits.jsonBytes`: the largest JSON (or NDJSON, Arrow) body of a table write, a
    /// publish or a call.
    pub json_bytes: u64,
    /// `limits.headerTimeout`: a client slower than this to send its headers is cut off.
    pub header_timeout: Duration,
    /// `cors.origins`: origins a browser may call from (`*`: any).
    pub cors_origins: Vec<String>,
    /// `tls`: serve HTTPS with this certificate chain and key (PEM files, relative to the
    /// spec); `None`: plain HTTP.
    pub tls: Option<TlsSpec>,
}

/// `spec.gateway.tls`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    /// `cert`: the certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// `key`: the private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for GatewaySpec {
    /// The gateway of a spec without a `gateway` section: every binding, no auth (so
    /// loopback only), the default limits.
    fn default() -> GatewaySpec {
        GatewaySpec {
            loc: Loc::default(),
            listen: None,
            bindings: None,
            operations: Default::default(),
            anonymous: Vec::new(),
            tokens: Vec::new(),
            jwt: None,
            body_bytes: 5 << 30,
            json_bytes: 16 << 20,
            header_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            tls: None,
        }
    }
}

/// A scope: `binding:operation`, either side `*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    /// A binding's name, or `*`.
    pub binding: String,
    /// One of [`OPERATIONS`], or `*`.
    pub operation: String,
}

impl Scope {
    /// Parses `binding:operation`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let Some((binding, operation)) = text.split_once(':') else {
            return Err(format!(
                "scope '{text}' is not BINDING:OPERATION (such as 'files:read' or '*:read')"
            ));
        };
        if binding.is_empty() {
            return Err(format!("scope '{text}' names no binding (use '*' for every one)"));
        }
        if operation != "*" && !OPERATIONS.contains(&operation) {
            return Err(format!(
                "scope '{text}': unknown operation '{operation}' (operations: {}, or *)",
                OPERATIONS.join(", ")
            ));
        }
        Ok(Scope {
            binding: binding.to_string(),
            operation: operation.to_string(),
        })
    }

    /// Whether this scope allows `operation` on `binding`.
    pub fn allows(&self, binding: &str, operation: &str) -> bool {
        (self.binding == "*" || self.binding == binding)
            && (self.operation == "*" || self.operation == operation)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.binding, self.operation)
    }
}

/// A static API token: its name (for logs), the SHA-256 of its value, and its scopes.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// Its name.
    pub name: String,
    /// The SHA-256 of the token, as 32 bytes.
    pub sha256: [u8; 32],
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// `auth.jwt`: how bearer JWTs are checked.
#[derive(Debug, Clone)]
pub struct JwtSpec {
    /// Where the section is.
    pub loc: Loc,
    /// `secret`: an HS256 key.
    pub secret: Option<SecretRef>,
    /// `publicKey`: a PEM file with an RS256 or ES256 public key, or a JWKS file (JSON).
    pub public_key: Option<PathBuf>,
    /// `issuer`: the `iss` a token must have.
    pub issuer: Option<String>,
    /// `audience`: the `aud` a token must have.
    pub audience: Option<String>,
    /// `scopeClaim`: the claim holding the scopes (default `scope`).
    pub scope_claim: String,
    /// `leeway`: the clock skew allowed on `exp` and `nbf` (default 30 s).
    pub leeway: Duration,
}

impl SpecParser {
    /// Reads `spec.gateway`; `bindings` are the spec's binding names.
    pub(super) fn gateway(&self, node: &Marked, bindings: &[String]) -> R<GatewaySpec> {
        self.known(
            node,
            "spec.gateway",
            &["listen", "bindings", "auth", "limits", "cors", "tls"],
        )?;
        let listen = get(node, "listen")
            .map(|n| self.string(n, "spec.gateway.listen"))
            .transpose()?;
        let mut operations = std::collections::BTreeMap::new();
        let exposed = get(node, "bindings")
            .map(|n| {
                let names = match &n.node {
                    Node::Map(entries) => {
                        let mut names = Vec::new();
                        for (k, v) in entries {
                            let name = self.string(k, "a binding's name")?;
                            let what = format!("spec.gateway.bindings.{name}");
                            let mut ops = Vec::new();
                            for (op, loc) in self.strings(v, &what)? {
                                if !OPERATIONS.contains(&op.as_str()) {
                                    return Err(self.err(
                                        loc,
                                        format!("{what}: unknown operation '{op}' (operations: {})", OPERATIONS.join(", ")),
                                    ));
                                }
                                ops.push(op);
                            }
                            operations.insert(name.clone(), ops);
                            names.push((name, k.loc));
                        }
                        names
                    }
                    _ => self.strings(n, "spec.gateway.bindings")?,
                };
                for (name, loc) in &names {
                    if !bindings.contains(name) {
                        return Err(self.err(
                            *loc,
                            format!(
                                "spec.gateway.bindings names '{name}', which is not a binding of the spec (bindings: {})",
                                bindings.join(", ")
                            ),
                        ));
                    }
                }
                Ok(names.into_iter().map(|(n, _)| n).collect())
            })
            .transpose()?;
        let mut spec = GatewaySpec {
            loc: node.loc,
            listen,
            bindings: exposed,
            operations,
            ..GatewaySpec::default()
        };
        if let Some(auth) = get(node, "auth") {
            self.known(auth, "spec.gateway.auth", &["anonymous", "tokens", "jwt"])?;
            if let Some(a) = get(auth, "anonymous") {
                spec.anonymous = self.scopes(a, "spec.gateway.auth.anonymous", bindings)?;
            }
            if let Some(t) = get(auth, "tokens") {
                spec.tokens = self.tokens(t, bindings)?;
            }
            if let Some(j) = get(auth, "jwt") {
                spec.jwt = Some(self.jwt(j)?);
            }
        }
        if let Some(limits) = get(node, "limits") {
            self.known(
                limits,
                "spec.gateway.limits",
                &["bodyBytes", "jsonBytes", "headerTimeout"],
            )?;
            if let Some(n) = get(limits, "bodyBytes") {
                spec.body_bytes = self.number(n, "spec.gateway.limits.bodyBytes")?;
            }
            if let Some(n) = get(limits, "jsonBytes") {
                spec.json_bytes = self.number(n, "spec.gateway.limits.jsonBytes")?;
            }
            if let Some(n) = get(limits, "headerTimeout") {
                spec.header_timeout = self.duration(n, "spec.gateway.limits.headerTimeout")?;
            }
        }
        if let Some(tls) = get(node, "tls") {
            self.known(tls, "spec.gateway.tls", &["cert", "key"])?;
            let file = |key: &str| -> R<PathBuf> {
                let what = format!("spec.gateway.tls.{key}");
                let n = get(tls, key)
                    .ok_or_else(|| self.err(tls.loc, format!("{what} is missing (a PEM file)")))?;
                Ok(self.base_dir().join(self.string(n, &what)?))
            };
            spec.tls = Some(TlsSpec {
                cert: file("cert")?,
                key: file("key")?,
            });
        }
        if let Some(cors) = get(node, "cors") {
            self.known(cors, "spec.gateway.cors", &["origins"])?;
            if let Some(o) = get(cors, "origins") {
                spec.cors_origins = self
                    .strings(o, "spec.gateway.cors.origins")?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
            }
        }
        Ok(spec)
    }

    /// Refuses a key of `node` not in `known`, naming the ones there are.
    fn known(&self, node: &Marked, what: &str, known: &[&str]) -> R<()> {
        self.map(node, what)?;
        for (k, _) in entries(node) {
            let name = k.as_str().unwrap_or("?");
            if !known.contains(&name) {
                return Err(self.err(
                    k.loc,
                    format!("{what} has no key '{name}' (keys: {})", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// A list of strings, each with where it is.
    fn strings(&self, node: &Marked, what: &str) -> R<Vec<(String, Loc)>> {
        match &node.node {
            Node::Seq(items) => items.iter().map(|i| Ok((self.string(i, what)?, i.loc))).collect(),
            _ => Err(self.err(
                node.loc,
                format!("{what} must be a list, not {}", node.describe()),
            )),
        }
    }

    fn scopes(&self, node: &Marked, what: &str, bindings: &[String]) -> R<Vec<Scope>> {
        let mut out = BTreeSet::new();
        for (text, loc) in self.strings(node, what)? {
            let scope = Scope::parse(&text).map_err(|m| self.err(loc, format!("{what}: {m}")))?;
            if scope.binding != "*" && !bindings.contains(&scope.binding) {
                return Err(self.err(
                    loc,
                    format!(
                        "{what}: scope '{text}' names binding '{}', which the spec does not have (bindings: {})",
                        scope.binding,
                        bindings.join(", ")
                    ),
                ));
            }
            out.insert(scope);
        }
        Ok(out.into_iter().collect())
    }

    fn tokens(&self, node: &Marked, bindings: &[String]) -> R<Vec<TokenSpec>> {
        let Node::Seq(items) = &node.node else {
            return Err(self.err(
                node.loc,
                format!("spec.gateway.auth.tokens must be a list, not {}", node.describe()),
            ));
        };
        let mut out: Vec<TokenSpec> = Vec::new();
        for item in items {
            let what = "spec.gateway.auth.tokens entry";
            self.known(item, what, &["name", "sha256", "scopes"])?;
            let need = |key: &str| {
                get(item, key).ok_or_else(|| {
                    self.err(
                        item.loc,
                        format!("{what} needs `name`, `sha256` and `scopes`; it has no `{key}`"),
                    )
                })
            };
            let name = self.string(need("name")?, "a token's name")?;
            let hash_node = need("sha256")?;
            let hex = self.string(hash_node, "a token's sha256")?;
            let sha256 = parse_sha256(hex.trim()).ok_or_else(|| {
                self.err(
                    hash_node.loc,
                    format!(
                        "token '{name}': sha256 must be 64 hex digits (the SHA-256 of the token: `printf %s TOKEN | sha256sum`), not {} characters",
                        hex.trim().len()
                    ),
                )
            })?;
            if out.iter().any(|t| t.name == name) {
                return Err(self.err(item.loc, format!("token '{name}' is named twice")));
            }
            let scopes = self.scopes(need("scopes")?, &format!("token '{name}'"), bindings)?;
            out.push(TokenSpec { name, sha256, scopes });
        }
        Ok(out)
    }

    fn jwt(&self, node: &Marked) -> R<JwtSpec> {
        let what = "spec.gateway.auth.jwt";
        self.known(
            node,
            what,
            &[
                "secret",
                "publicKey",
                "issuer",
                "audience",
                "scopeClaim",
                "leeway",
            ],
        )?;
        let secret = get(node, "secret")
            .map(|n| self.secret(n, "spec.gateway.auth.jwt.secret"))
            .transpose()?;
        let public_key = get(node, "publicKey")
            .map(|n| {
                self.string(n, "spec.gateway.auth.jwt.publicKey")
                    .map(|p| self.base_dir().join(p))
            })
            .transpose()?;
        if secret.is_some() == public_key.is_some() {
            return Err(self.err(
                node.loc,
                format!("{what} needs one of `secret` (HS256) and `publicKey` (a PEM file, RS256 or ES256, or a JWKS file)"),
            ));
        }
        let text = |key: &str| {
            get(node, key)
                .map(|n| self.string(n, &format!("{what}.{key}")))
                .transpose()
        };
        Ok(JwtSpec {
            loc: node.loc,
            secret,
            public_key,
            issuer: text("issuer")?,
            audience: text("audience")?,
            scope_claim: text("scopeClaim")?.unwrap_or_else(|| "scope".into()),
            leeway: get(node, "leeway")
                .map(|n| self.duration(n, "spec.gateway.auth.jwt.leeway"))
                .transpose()?
                .unwrap_or(Duration::from_secs(30)),
        })
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_match() {
        let s = Scope::parse("files:read").unwrap();
        assert!(s.allows("files", "read") && !s.allows("files", "write") && !s.allows("db", "read"));
        assert!(Scope::parse("*:read").unwrap().allows("db", "read"));
        assert!(Scope::parse("db:*").unwrap().allows("db", "admin"));
        assert!(Scope::parse("files").unwrap_err().contains("BINDING:OPERATION"));
        assert!(Scope::parse("files:rwx")
            .unwrap_err()
            .contains("unknown operation 'rwx'"));
        assert!(Scope::parse(":read").unwrap_err().contains("names no binding"));
    }

    #[test]
    fn a_sha256_is_64_hex_digits() {
        let h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(parse_sha256(h).unwrap()[0], 0x9f);
        assert!(parse_sha256(&h[1..]).is_none());
        assert!(parse_sha256(&h.replace('9', "x")).is_none());
    }
}
