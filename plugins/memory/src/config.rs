//! The memory driver's config: it takes no `url`; options say how many revisions of each
//! object it keeps and who writes them.

use bindery_core::{BindingConfig, DriverOptions, Options, Result, Signature};

use crate::MemoryDriver;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "versions",
        "revisions kept of each object, for versions, reads at a revision, revert and diff \
         (default 100; 0: none, and the binding has no versioning)",
    ),
    (
        "author",
        "the author of revisions whose request names none, `Name <email>` (default `bindery <bindery@localhost>`)",
    ),
];

/// Revisions kept of each object by default.
const DEFAULT_VERSIONS: usize = 100;

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// Revisions kept of each object (0: versioning off).
    pub(crate) versions: usize,
    /// The defaults of a revision's signature (`author`).
    pub(crate) defaults: Options,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<MemoryDriver>(&config.options)?;
        let versions = o
            .parse::<usize>("versions", "a number of revisions")?
            .unwrap_or(DEFAULT_VERSIONS);
        Ok(Config {
            versions,
            defaults: Signature::defaults(o.get("author"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn options_are_checked() {
        let mut c = BindingConfig::new("obj", Kind::Object, None);
        assert_eq!(Config::from_binding(&c).unwrap().versions, 100);
        c.options.insert("size".into(), "1GiB".into());
        let e = Config::from_binding(&c).unwrap_err();
        assert!(
            e.message()
                .starts_with("unknown option 'size' of the memory driver"),
            "{e}"
        );
        c.options.clear();
        c.options.insert("versions".into(), "many".into());
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("a number of revisions"));
        c.options.insert("versions".into(), "0".into());
        c.options.insert("author".into(), "Ada <ada@example.com>".into());
        let config = Config::from_binding(&c).unwrap();
        assert_eq!(config.versions, 0);
        assert_eq!(config.defaults["author"], "Ada <ada@example.com>");
        c.options.insert("author".into(), "<nobody>".into());
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("the name is empty"));
    }
}
