//! The files driver's config: `url` is the folder holding the tables; `format` the format new
//! tables are written in (also an option of `create`, for one table).

use bindery_core::Connect;
use std::path::PathBuf;

use bindery_core::{BindingConfig, DriverOptions, Options, Result};

use crate::format::Format;
use crate::Files;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[(
    "format",
    "the format new tables are written in: parquet (default), csv or jsonl",
)];

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The folder holding the tables (`url`, relative to the spec's folder).
    pub(crate) root: PathBuf,
    pub(crate) format: Format,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let format = format_option(&config.options)?.unwrap_or(Format::Parquet);
        Ok(Config {
            root: config.local_path(Files::NAME, "the folder holding the tables")?,
            format,
        })
    }
}

/// The `format` of a binding's or a `create`'s options, which may hold only it.
pub(crate) fn format_option(options: &Options) -> Result<Option<Format>> {
    let o = DriverOptions::of::<Files>(options)?;
    o.get("format").map(Format::parse).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    #[test]
    fn the_format_is_the_one_option() {
        let mut c = BindingConfig::new("lake", Kind::Table, Some("./lake".into()));
        let d = Config::from_binding(&c).unwrap();
        assert_eq!((d.root, d.format), (PathBuf::from("././lake"), Format::Parquet));
        c.options.insert("format".into(), "csv".into());
        assert_eq!(Config::from_binding(&c).unwrap().format, Format::Csv);
        c.options.insert("compression".into(), "zstd".into());
        let e = Config::from_binding(&c).unwrap_err();
        assert_eq!(
            e.message(),
            "unknown option 'compression' of the files driver; it takes format (`bindery plugins` describes each)"
        );
    }
}
