//! Who may do what: scopes `binding:operation` (`files:read`, `db0:write`, `*:read`), the
//! operations being read, write, delete, publish, consume, call and admin.
//!
//! A request's scopes come from its `Authorization: Bearer` token: a static API token of the
//! spec (compared by its SHA-256, so the spec holds no token), or a JWT checked with the
//! spec's key (HS256 secret, an RS256 / ES256 public key, or a JWKS file whose keys tokens
//! name by `kid`; `exp` required, `nbf`, `iss` and
//! `aud` checked with the spec's leeway; scopes in the spec's claim, a space-separated string
//! or a list). A request without a token has the spec's anonymous scopes. A bad token is 401
//! with `WWW-Authenticate`, a missing scope 401 (no token) or 403 (a token without it);
//! neither reaches a driver. Tokens are never logged.
//!
//! A spec without any auth (no tokens, JWT or anonymous scopes) gives every scope to anyone,
//! and is refused on an address beyond loopback.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bindery_runtime::spec::{GatewaySpec, JwtSpec, Scope, TokenSpec};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::problem::Problem;
use crate::Shared;

const CHALLENGE: &str = "Bearer realm=\"bindery\"";

/// The gateway's means of telling who calls.
pub(crate) struct Auth {
    anonymous: Vec<Scope>,
    tokens: Vec<TokenSpec>,
    jwt: Option<Jwt>,
}

struct Jwt {
    /// The keys a token may be signed with: each with its `kid` (from a JWKS) and the
    /// validation of its own algorithm.
    keys: Vec<(Option<String>, DecodingKey, Validation)>,
    claim: String,
}

impl Jwt {
    /// The key a token names by `kid`; a token without one: the only key, or the keys of
    /// its algorithm.
    fn verify(&self, token: &str) -> Result<serde_json::Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| jwt_error(&e))?;
        if let Some(want) = &header.kid {
            let named = self.keys.iter().all(|(k, _, _)| k.is_some());
            if named
                && !self
                    .keys
                    .iter()
                    .any(|(k, _, _)| k.as_deref() == Some(want.as_str()))
            {
                return Err(format!("no key of the gateway's JWKS has the kid '{want}'"));
            }
        }
        let mut last = "no key of the gateway is for its algorithm".to_string();
        for (kid, key, validation) in &self.keys {
            let fits = match (&header.kid, kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => self.keys.len() == 1,
                (None, _) => self.keys.len() == 1 || validation.algorithms.contains(&header.alg),
            };
            if !fits {
                continue;
            }
            match jsonwebtoken::decode::<serde_json::Value>(token, key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = jwt_error(&e),
            }
        }
        Err(last)
    }
}

/// What a request may do.
#[derive(Clone, Debug)]
pub struct Grant {
    scopes: Vec<Scope>,
    /// The token's name or the JWT's subject (`None`: no token).
    who: Option<String>,
}

impl Grant {
    /// Ok when the request may do `operation` on `binding`.
    pub fn require(&self, binding: &str, operation: &str) -> Result<(), Problem> {
        if self.scopes.iter().any(|s| s.allows(binding, operation)) {
            return Ok(());
        }
        let scope = format!("{binding}:{operation}");
        Err(match &self.who {
            None => Problem::unauthorized(
                format!("this needs a token with the scope '{scope}' (Authorization: Bearer …)"),
                CHALLENGE,
            ),
            Some(who) => Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                format!("{who} lacks the scope '{scope}'"),
            ),
        })
    }
}

impl Auth {
    /// The spec's auth; `loopback`: whether the gateway listens on loopback only.
    pub(crate) fn from_spec(g: &GatewaySpec, loopback: bool) -> Result<Auth, String> {
        let none = g.tokens.is_empty() && g.jwt.is_none() && g.anonymous.is_empty();
        if none && !loopback {
            return Err(
                "a gateway listening beyond loopback needs spec.gateway.auth (tokens, jwt, or anonymous scopes); \
                 without it only 127.0.0.1 or ::1 is allowed"
                    .into(),
            );
        }
        let anonymous = if none {
            vec![Scope::parse("*:*").expect("a valid scope")]
        } else {
            g.anonymous.clone()
        };
        Ok(Auth {
            anonymous,
            tokens: g.tokens.clone(),
            jwt: g.jwt.as_ref().map(jwt).transpose()?,
        })
    }

    /// The grant of a request's `Authorization` header.
    fn grant(&self, authorization: Option<&str>) -> Result<Grant, Problem> {
        let Some(value) = authorization else {
            return Ok(Grant {
                scopes: self.anonymous.clone(),
                who: None,
            });
        };
        let bad = |why: &str| {
            Problem::unauthorized(
                format!("the bearer token was refused: {why}"),
                format!("{CHALLENGE}, error=\"invalid_token\""),
            )
        };
        let token = match value.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim(),
            _ => return Err(bad("the Authorization header must be `Bearer TOKEN`")),
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        if let Some(t) = self.tokens.iter().find(|t| t.sha256[..] == *digest.as_ref()) {
            return Ok(Grant {
                scopes: t.scopes.clone(),
                who: Some(format!("token '{}'", t.name)),
            });
        }
        let Some(jwt) = &self.jwt else {
            return Err(bad("no such API token"));
        };
        if token.split('.').count() != 3 {
            return Err(bad("no such API token, and not a JWT"));
        }
        let claims = jwt.verify(token).map_err(|why| bad(&why))?;
        let scopes = match claims.get(&jwt.claim) {
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(serde_json::Value::Array(a)) => {
                a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
            }
            _ => Vec::new(),
        };
        // Scopes of other services (`openid`, `email`) are not ours: skipped.
        let scopes = scopes.iter().filter_map(|s| Scope::parse(s).ok()).collect();
        let subject = claims.get("sub").and_then(|s| s.as_str()).unwrap_or("?");
        Ok(Grant {
            scopes,
            who: Some(format!("the token of '{subject}'")),
        })
    }
}

fn jwt_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "it has expired".into(),
        K::ImmatureSignature => "it is not valid yet (nbf)".into(),
        K::InvalidAudience => "wrong audience (aud)".into(),
        K::InvalidIssuer => "wrong issuer (iss)".into(),
        K::InvalidSignature => "bad signature".into(),
        K::InvalidAlgorithm => "its algorithm is not the one the key is for".into(),
        K::MissingRequiredClaim(c) => format!("it has no `{c}` claim"),
        _ => "not a valid JWT".into(),
    }
}

fn jwt(spec: &JwtSpec) -> Result<Jwt, String> {
    let keys = match (&spec.secret, &spec.public_key) {
        (Some(secret), _) => {
            let s = secret
                .resolve()
                .map_err(|e| format!("spec.gateway.auth.jwt.secret: {e}"))?;
            vec![(
                None,
                DecodingKey::from_secret(s.expose().as_bytes()),
                Algorithm::HS256,
            )]
        }
        (None, Some(file)) => {
            let bytes = std::fs::read(file).map_err(|e| {
                format!(
                    "spec.gateway.auth.jwt.publicKey: cannot read '{}': {e}",
                    file.display()
                )
            })?;
            if bytes.trim_ascii_start().starts_with(b"{") {
                jwks(&bytes, file)?
            } else {
                vec![pem_key(&bytes, file)?]
            }
        }
        (None, None) => return Err("spec.gateway.auth.jwt needs `secret` or `publicKey`".into()),
    };
    Ok(Jwt {
        keys: keys
            .into_iter()
            .map(|(kid, key, alg)| (kid, key, validation(spec, alg)))
            .collect(),
        claim: spec.scope_claim.clone(),
    })
}

/// An RS256 or ES256 public key in PEM.
fn pem_key(pem: &[u8], file: &std::path::Path) -> Result<(Option<String>, DecodingKey, Algorithm), String> {
    if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
        return Ok((None, k, Algorithm::RS256));
    }
    let k = DecodingKey::from_ec_pem(pem).map_err(|_| {
        format!(
            "spec.gateway.auth.jwt.publicKey: '{}' holds no RSA or EC (P-256) public key in PEM, and is not a JWKS",
            file.display()
        )
    })?;
    Ok((None, k, Algorithm::ES256))
}

/// The public keys of a JWKS (RFC 7517): RSA keys for RS256 (or the `alg` they name), EC
/// P-256 keys for ES256. A shared secret (`oct`) or another curve is refused, naming it.
fn jwks(
    bytes: &[u8],
    file: &std::path::Path,
) -> Result<Vec<(Option<String>, DecodingKey, Algorithm)>, String> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
    let what = format!("spec.gateway.auth.jwt.publicKey: the JWKS '{}'", file.display());
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("{what} is not a JWKS: {e}"))?;
    if set.keys.is_empty() {
        return Err(format!("{what} has no keys"));
    }
    set.keys
        .iter()
        .enumerate()
        .map(|(i, jwk)| {
            let kid = jwk.common.key_id.clone();
            let name = kid.clone().unwrap_or_else(|| format!("number {}", i + 1));
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
                    None | Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                    Some(KeyAlgorithm::RS384) => Algorithm::RS384,
                    Some(KeyAlgorithm::RS512) => Algorithm::RS512,
                    Some(other) => {
                        return Err(format!(
                            "{what}: key {name} is RSA for {other:?}; the gateway takes RS256, RS384 or RS512"
                        ))
                    }
                },
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
                AlgorithmParameters::EllipticCurve(p) => {
                    return Err(format!("{what}: key {name} is on curve {:?}; only P-256 (ES256) is taken", p.curve))
                }
                AlgorithmParameters::OctetKey(_) => {
                    return Err(format!("{what}: key {name} is a shared secret (kty oct); give it as jwt.secret, not in a JWKS of public keys"))
                }
                AlgorithmParameters::OctetKeyPair(_) => {
                    return Err(format!("{what}: key {name} is an OKP (EdDSA) key, which the gateway does not take"))
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{what}: key {name}: {e}"))?;
            Ok((kid, key, alg))
        })
        .collect()
}

/// The checks of a token signed with `alg`: only that algorithm (a token signed `none`, or
/// HS256 with an RSA key's public bytes as the secret, is refused), `exp` required, `nbf`,
/// `iss` and `aud` as the spec says, with its leeway.
fn validation(spec: &JwtSpec, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = spec.leeway.as_secs();
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    match &spec.issuer {
        Some(i) => validation.set_issuer(&[i]),
        None => validation.iss = None,
    }
    match &spec.audience {
        Some(a) => validation.set_audience(&[a]),
        None => validation.validate_aud = false,
    }
    validation
}

/// Middleware: tells who calls; a bad token ends the request here with 401.
pub(crate) async fn authenticate(State(g): State<Shared>, mut req: Request, next: Next) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    match g.auth.grant(authorization) {
        Ok(grant) => {
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        Err(p) => p.into_response(),
    }
}
