//! The sqlite driver's config: `url` is the database file (created if missing); no options.

use bindery_core::Connect;
use std::path::PathBuf;

use bindery_core::{BindingConfig, DriverOptions, Result};

use crate::Sqlite;

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The database file (`url`, relative to the spec's folder).
    pub(crate) file: PathBuf,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        DriverOptions::of::<Sqlite>(&config.options)?;
        Ok(Config {
            file: config.local_path(Sqlite::NAME, "the database file (created if missing)")?,
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
            "unknown option 'journal' of the sqlite driver; it takes no options"
        );
        c.url = None;
        c.options.clear();
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("needs `url`"));
    }
}
