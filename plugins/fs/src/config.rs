//! The fs driver's config: `url` is the folder that holds the objects; no options.

use bindery_core::Connect;
use std::path::PathBuf;

use bindery_core::{BindingConfig, DriverOptions, Error, Result};

use crate::FsDriver;

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The folder that holds the objects (`url`, relative to the spec's folder).
    pub(crate) root: PathBuf,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        DriverOptions::of::<FsDriver>(&config.options)?;
        let url = config.url(FsDriver::NAME, "the directory that holds the objects")?;
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.is_empty() {
            return Err(Error::invalid_input("the fs driver's `url` is empty"));
        }
        Ok(Config {
            root: config.base_dir.join(PathBuf::from(dir)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn the_url_is_a_folder_relative_to_the_spec() {
        let mut c = BindingConfig::new("obj", Kind::Object, Some("file://data".into()));
        c.base_dir = PathBuf::from("/srv/fn");
        assert_eq!(
            Config::from_binding(&c).unwrap().root,
            PathBuf::from("/srv/fn/data")
        );
        c.url = Some(String::new());
        assert!(Config::from_binding(&c).unwrap_err().message().contains("empty"));
        c.url = None;
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("needs `url`"));
        c.url = Some("data".into());
        c.options.insert("mode".into(), "0600".into());
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .starts_with("unknown option 'mode'"));
    }
}
