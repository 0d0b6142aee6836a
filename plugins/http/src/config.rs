//! The http driver's config: the base URL, the headers sent with every request (the
//! authorization made from the binding's secret among them), and how statuses are answered.

use bindery_core::{BindingConfig, DriverOptions, Error, Result};
use hyper::header::{HeaderName, HeaderValue};

use crate::HttpDriver;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "auth",
        "how the secret is sent: bearer (the default with a secret), basic, or header:NAME",
    ),
    (
        "errors",
        "status (default): a status of 400 or more is an error; none: every status is answered",
    ),
    ("header.NAME", "a header sent with every request"),
];

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The base URL, without a trailing `/`.
    pub(crate) base: String,
    /// Headers sent with every request, authentication included.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether a status of 400 or more is an error.
    pub(crate) errors: bool,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<HttpDriver>(&config.options)?;
        let url = config.url.clone().ok_or_else(|| {
            Error::invalid_input("the http driver needs `url`, the endpoint's base URL (https://host/path)")
        })?;
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("https://") && !base.starts_with("http://") {
            return Err(Error::invalid_input(format!(
                "url '{}' must start with http:// or https://",
                bindery_core::path::redact_url(&url)
            )));
        }
        let mut headers = o
            .family("header.")
            .map(|(name, v)| header(name, v))
            .collect::<Result<Vec<_>>>()?;
        let errors = o
            .choice("errors", &[("status", true), ("none", false)])?
            .unwrap_or(true);
        if let Some(h) = authorization(config, o.get("auth"))? {
            headers.push(h);
        }
        Ok(Config {
            base,
            headers,
            errors,
        })
    }
}

pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_input(format!("'{name}' is not an HTTP header name")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input(format!("the value of header '{name}' is not valid in HTTP")))?;
    Ok((n, v))
}

fn authorization(config: &BindingConfig, auth: Option<&str>) -> Result<Option<(HeaderName, HeaderValue)>> {
    let secret = config.secrets.get("secret").map(|s| s.expose().to_string());
    let secret_header = |name: &str, value: String| {
        let mut h = header(name, &value)
            .map_err(|_| Error::invalid_input("the secret is not valid in an HTTP header"))?;
        h.1.set_sensitive(true);
        Ok(Some(h))
    };
    match (auth, secret) {
        (None, None) => Ok(None),
        (None | Some("bearer"), Some(s)) => secret_header("authorization", format!("Bearer {s}")),
        (Some("bearer"), None) => Err(Error::invalid_input("auth: bearer needs the binding's `secret`")),
        (Some("basic"), secret) => {
            let pair = match (
                config.secrets.get("username"),
                config.secrets.get("password"),
                secret,
            ) {
                (Some(u), Some(p), _) => format!("{}:{}", u.expose(), p.expose()),
                (_, _, Some(s)) if s.contains(':') => s,
                _ => return Err(Error::invalid_input(
                    "auth: basic needs credentials `username` and `password`, or a secret 'user:password'",
                )),
            };
            secret_header("authorization", format!("Basic {}", base64(pair.as_bytes())))
        }
        (Some(a), Some(s)) if a.starts_with("header:") => secret_header(&a["header:".len()..], s),
        (Some(a), None) if a.starts_with("header:") => Err(Error::invalid_input(format!(
            "auth: {a} needs the binding's `secret`"
        ))),
        (Some(a), _) => Err(Error::invalid_input(format!(
            "unknown auth '{a}'; use bearer, basic or header:NAME"
        ))),
    }
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::{Kind, Secret};

    fn config(options: &[(&str, &str)], secret: Option<&str>) -> Result<Config> {
        let mut c = BindingConfig::new("api", Kind::Generic, Some("https://api.example.com/v1/".into()));
        c.options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(s) = secret {
            c.secrets.insert("secret".into(), Secret::new(s.to_string()));
        }
        Config::from_binding(&c)
    }

    #[test]
    fn base64_is_rfc_4648() {
        assert_eq!(base64(b"ana:s3cret"), "YW5hOnMzY3JldA==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn options_make_headers_and_the_secret_its_authorization() {
        let c = config(
            &[("header.accept", "application/json"), ("errors", "none")],
            Some("tok"),
        )
        .unwrap();
        assert_eq!(c.base, "https://api.example.com/v1");
        assert!(!c.errors);
        let shown: Vec<(String, String)> = c
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            shown,
            [
                ("accept".to_string(), "application/json".to_string()),
                ("authorization".to_string(), "Bearer tok".to_string())
            ]
        );
        assert!(c.headers[1].1.is_sensitive());
        let c = config(&[("auth", "basic")], Some("ana:s3cret")).unwrap();
        assert_eq!(c.headers[0].1.to_str().unwrap(), "Basic YW5hOnMzY3JldA==");
        for (options, says) in [
            (
                &[("errors", "sometimes")][..],
                "'sometimes' is not one of status, none",
            ),
            (&[("auth", "bearer")][..], "needs the binding's `secret`"),
            (&[("header.bad name", "x")][..], "is not an HTTP header name"),
            (
                &[("timeout", "1s")][..],
                "unknown option 'timeout' of the http driver",
            ),
        ] {
            let e = config(options, None).unwrap_err();
            assert!(e.message().contains(says), "{options:?}: {e}");
        }
    }
}
