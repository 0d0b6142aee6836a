//! The postgres driver's config: `url` is a connection string; the password comes from the
//! binding's secret; options size the pool and name the CA that signs the server's certificate.

use bindery_core::Connect;
use std::path::PathBuf;
use std::str::FromStr;

use bindery_core::{BindingConfig, DriverOptions, Error, Result};

use crate::Postgres;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    ("pool.size", "connections kept open (default 4)"),
    (
        "tls.ca_file",
        "a PEM file of the CA that must sign the server's certificate (relative to the spec)",
    ),
    (
        "watch.retention",
        "changes the change table of watched tables keeps for resuming watchers (default 100000)",
    ),
];

/// A binding's config.
pub(crate) struct Config {
    /// The connection's settings, the password included.
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) pool_size: usize,
    pub(crate) ca_file: Option<PathBuf>,
    /// Changes the change table keeps.
    pub(crate) watch_retention: u64,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<Postgres>(&config.options)?;
        let pool_size = match o.parse::<usize>("pool.size", "a whole number above 0")? {
            Some(0) => return Err(o.invalid("pool.size", "0", "a whole number above 0")),
            size => size.unwrap_or(4),
        };
        let url = config.url(
            Postgres::NAME,
            "a connection string, postgres://user@host:port/db",
        )?;
        let mut pg = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::invalid_input(format!("the postgres url is not a connection string: {e}")))?;
        if let Some(secret) = config
            .secrets
            .get("password")
            .or_else(|| config.secrets.get("secret"))
        {
            pg.password(secret.expose().as_bytes());
        }
        pg.application_name("bindery");
        Ok(Config {
            pg,
            pool_size,
            ca_file: o.get("tls.ca_file").map(|f| config.base_dir.join(f)),
            watch_retention: match o.parse::<u64>("watch.retention", "a number of changes above 0")? {
                Some(0) => return Err(o.invalid("watch.retention", "0", "a number of changes above 0")),
                n => n.unwrap_or(100_000),
            },
        })
    }
}

/// The TLS connector for `sslmode=prefer|require` (the URL's `?sslmode=`; tokio-postgres
/// defaults to `prefer`): with `tls.ca_file` the server's certificate must be signed by that CA
/// and name the host; without it the connection is encrypted but the certificate is not checked
/// (libpq's `require`). `sslmode=disable` connects in plain TCP.
pub(crate) fn tls_connector(
    pg: &tokio_postgres::Config,
    ca_file: Option<&std::path::Path>,
) -> Result<Option<postgres_native_tls::MakeTlsConnector>> {
    if pg.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        return Ok(None);
    }
    let mut builder = native_tls::TlsConnector::builder();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::io(e, &format!("read tls.ca_file '{}'", path.display())))?;
            let ca = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Error::invalid_input(format!(
                    "tls.ca_file '{}' is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder.add_root_certificate(ca);
        }
        None => {
            builder.danger_accept_invalid_certs(true);
        }
    }
    let connector = builder
        .build()
        .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")))?;
    Ok(Some(postgres_native_tls::MakeTlsConnector::new(connector)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::{Kind, Secret};

    fn config(url: &str, options: &[(&str, &str)]) -> Result<Config> {
        let mut c = BindingConfig::new("db", Kind::Table, Some(url.into()));
        c.options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.secrets.insert("secret".into(), Secret::new("pw"));
        Config::from_binding(&c)
    }

    #[test]
    fn the_url_options_and_secret_make_the_connection() {
        let c = config(
            "postgres://app@db:5433/shop",
            &[("pool.size", "8"), ("tls.ca_file", "ca.pem")],
        )
        .unwrap();
        assert_eq!((c.pool_size, c.ca_file), (8, Some(PathBuf::from("./ca.pem"))));
        assert_eq!(c.pg.get_user(), Some("app"));
        assert_eq!(c.pg.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.pg.get_dbname(), Some("shop"));
        for (url, options, says) in [
            (
                "postgres://a@h/d",
                &[("pool.size", "0")][..],
                "'0' is not a whole number above 0",
            ),
            (
                "postgres://a@h/d",
                &[("pool.size", "many")][..],
                "'many' is not a whole number above 0",
            ),
            (
                "postgres://a@h/d",
                &[("pool", "1")][..],
                "unknown option 'pool' of the postgres driver",
            ),
            ("postgres://a@h:notaport/d", &[][..], "not a connection string"),
        ] {
            let e = config(url, options).err().unwrap();
            assert!(e.message().contains(says), "{url} {options:?}: {e}");
        }
    }
}
