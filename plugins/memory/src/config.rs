//! The memory driver's config: it takes no `url` and no options.

use bindery_core::{BindingConfig, DriverOptions, Result};

use crate::MemoryDriver;

/// A binding's config (nothing to configure; checked so that a stray option is refused).
#[derive(Debug)]
pub(crate) struct Config;

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        DriverOptions::of::<MemoryDriver>(&config.options)?;
        Ok(Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn options_are_refused() {
        let mut c = BindingConfig::new("obj", Kind::Object, None);
        assert!(Config::from_binding(&c).is_ok());
        c.options.insert("size".into(), "1GiB".into());
        let e = Config::from_binding(&c).unwrap_err();
        assert_eq!(
            e.message(),
            "unknown option 'size' of the memory driver; it takes no options"
        );
    }
}
