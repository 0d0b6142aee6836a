//! The git driver's config: `url` is the repository's folder; options name the branch and the
//! default author.

use bindery_core::Connect;
use std::path::PathBuf;

use bindery_core::{BindingConfig, DriverOptions, Error, Options, Result, Signature};

use crate::GitDriver;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "branch",
        "the branch every put and delete commits to (default `main`)",
    ),
    (
        "author",
        "the author (and committer) of commits whose request names none, `Name <email>` \
         (default `bindery <bindery@localhost>`)",
    ),
    (
        "watch.interval_ms",
        "how often a watched branch is looked at for commits made by others (default 500)",
    ),
];

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The repository's folder (`url`, relative to the spec's folder).
    pub(crate) dir: PathBuf,
    /// The branch.
    pub(crate) branch: String,
    /// The defaults of a commit's signature (`author`).
    pub(crate) defaults: Options,
    /// How often a watched branch is looked at.
    pub(crate) watch_interval: std::time::Duration,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<GitDriver>(&config.options)?;
        let url = config.url(GitDriver::NAME, "the folder of the git repository")?;
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.is_empty() {
            return Err(Error::invalid_input("the git driver's `url` is empty"));
        }
        let branch = o.get("branch").unwrap_or("main").trim().to_string();
        let ms = o
            .parse::<u64>("watch.interval_ms", "a number of milliseconds")?
            .unwrap_or(500);
        if !(10..=3_600_000).contains(&ms) {
            return Err(o.invalid("watch.interval_ms", &ms.to_string(), "10 to 3600000 milliseconds"));
        }
        Ok(Config {
            dir: config.base_dir.join(PathBuf::from(dir)),
            branch,
            defaults: Signature::defaults(o.get("author"))?,
            watch_interval: std::time::Duration::from_millis(ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn url_branch_and_author() {
        let mut c = BindingConfig::new("docs", Kind::Object, Some("./repo".into()));
        c.base_dir = PathBuf::from("/srv/fn");
        let config = Config::from_binding(&c).unwrap();
        assert_eq!(config.dir, PathBuf::from("/srv/fn/./repo"));
        assert_eq!(config.branch, "main");
        c.options.insert("branch".into(), "data".into());
        c.options.insert("author".into(), "Ada <ada@example.com>".into());
        let config = Config::from_binding(&c).unwrap();
        assert_eq!(config.branch, "data");
        assert_eq!(config.defaults["author"], "Ada <ada@example.com>");
        c.options.insert("author".into(), "<x>".into());
        assert!(Config::from_binding(&c).unwrap_err().message().contains("author"));
        c.options.clear();
        c.options.insert("brunch".into(), "x".into());
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .starts_with("unknown option 'brunch'"));
        c.url = None;
        c.options.clear();
        assert!(Config::from_binding(&c)
            .unwrap_err()
            .message()
            .contains("needs `url`"));
    }
}
