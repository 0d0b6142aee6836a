//! The sqlite driver's config: `url` is the database file (created if missing); options
//! set how table watches keep and look for changes.

use bindery_core::Connect;
use std::path::PathBuf;

use bindery_core::{BindingConfig, DriverOptions, Result};

use crate::watch::Settings;
use crate::Sqlite;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "watch.retention",
        "changes the change log of watched tables keeps for resuming watchers (default 100000)",
    ),
    (
        "watch.interval_ms",
        "how often a watch looks for commits by other programs, 1 to 10000 (default 10)",
    ),
];

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The database file (`url`, relative to the spec's folder).
    pub(crate) file: PathBuf,
    /// How table watches keep and look for changes.
    pub(crate) watch: Settings,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<Sqlite>(&config.options)?;
        let mut watch = Settings::default();
        if let Some(n) = o.parse::<u64>("watch.retention", "a number of changes")? {
            if n == 0 {
                return Err(o.invalid("watch.retention", "0", "at least 1 change"));
            }
            watch.retention = n;
        }
        if let Some(ms) = o.parse::<u64>("watch.interval_ms", "a number of milliseconds")? {
            if !(1..=10_000).contains(&ms) {
                return Err(o.invalid("watch.interval_ms", &ms.to_string(), "1 to 10000 milliseconds"));
            }
            watch.interval = std::time::Duration::from_millis(ms);
        }
        Ok(Config {
            file: config.local_path(Sqlite::NAME, "the database file (created if missing)")?,
            watch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn the_url_is_the_database_file_and_options_are_refused() {
        let mut c = BindingConfig::new("db", Kind::Table, Some("file://app.db".into()));
        assert_eq!(Config::from_binding(&c).unwrap().file, PathBuf::from("./app.db"));
        c.options.insert("journal".into(), "wal".into());
        let e = Config::from_binding(&c).unwrap_err();
        assert_eq!(
            e.message(),
            "unknown option 'journal' of the sqlite driver; it takes watch.retention, watch.interval_ms (`bindery plugins` describes each)"
        );
        c.options.clear();
        c.options.insert("watch.interval_ms".into(), "0".into());
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("1 to 10000"));
        c.options.insert("watch.interval_ms".into(), "50".into());
        c.options.insert("watch.retention".into(), "10".into());
        let w = Config::from_binding(&c).unwrap().watch;
        assert_eq!((w.retention, w.interval.as_millis()), (10, 50));
        c.url = None;
        c.options.clear();
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("needs `url`"));
    }
}
