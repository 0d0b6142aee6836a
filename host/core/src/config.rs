//! A driver's options: documented once, checked once.
//!
//! Each driver lists the options it takes as [`OptionDoc`]s in its [`DriverInfo`] (so
//! `bindery plugins` prints them) and reads a binding's options through [`DriverOptions`],
//! which refuses every key the list does not name, with one message for every driver:
//!
//! ```
//! use bindery_core::{config::DriverOptions, option_docs, Options};
//!
//! let docs = option_docs(&[
//!     ("segment.bytes", "bytes per segment file (default 64 MiB)"),
//!     ("header.NAME", "an HTTP header sent with every request"),
//! ]);
//! let mut options = Options::new();
//! options.insert("segment.bytes".into(), "1024".into());
//! options.insert("header.x-api-key".into(), "k".into());
//! let o = DriverOptions::check("log", &docs, &options).unwrap();
//! assert_eq!(o.parse::<u64>("segment.bytes", "a number of bytes").unwrap(), Some(1024));
//! assert_eq!(o.family("header.").collect::<Vec<_>>(), [("x-api-key", "k")]);
//!
//! options.insert("colour".into(), "red".into());
//! let e = DriverOptions::check("log", &docs, &options).unwrap_err();
//! assert!(e.message().starts_with("unknown option 'colour' of the log driver"));
//! ```
//!
//! [`DriverInfo`]: crate::DriverInfo

use std::str::FromStr;

use crate::{Error, Options, Result};

/// One option a driver takes, for `bindery plugins` and for the check of a binding's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDoc {
    /// The key. One ending in `.NAME` (`header.NAME`) stands for every key with that prefix.
    pub key: String,
    /// What it does, its values and its default, in a line.
    pub help: String,
}

impl OptionDoc {
    /// The prefix of a family of keys (`header.` for `header.NAME`), or `None`.
    fn family(&self) -> Option<&str> {
        self.key.strip_suffix("NAME")
    }

    fn takes(&self, key: &str) -> bool {
        match self.family() {
            Some(prefix) => key.len() > prefix.len() && key.starts_with(prefix),
            None => self.key == key,
        }
    }
}

/// The docs of a driver's options from `(key, help)` pairs.
pub fn option_docs(list: &[(&str, &str)]) -> Vec<OptionDoc> {
    list.iter()
        .map(|(key, help)| OptionDoc {
            key: key.to_string(),
            help: help.to_string(),
        })
        .collect()
}

/// A binding's options, every key checked against the driver's [`OptionDoc`]s.
#[derive(Debug, Clone, Copy)]
pub struct DriverOptions<'a> {
    driver: &'a str,
    options: &'a Options,
}

impl<'a> DriverOptions<'a> {
    /// Checks `options` against the options driver `D` documents (see [`Self::check`]).
    pub fn of<D: crate::driver::Connect>(options: &'a Options) -> Result<Self> {
        Self::check(D::NAME, &option_docs(D::OPTIONS), options)
    }

    /// Checks every key of `options` against `docs`: a key no doc names is refused with
    /// `InvalidInput`, naming the key, the driver and the keys it takes.
    pub fn check(driver: &'a str, docs: &[OptionDoc], options: &'a Options) -> Result<Self> {
        if let Some(unknown) = options.keys().find(|k| !docs.iter().any(|d| d.takes(k))) {
            let takes = if docs.is_empty() {
                "it takes no options".to_string()
            } else {
                let keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
                format!("it takes {} (`bindery plugins` describes each)", keys.join(", "))
            };
            return Err(Error::invalid_input(format!(
                "unknown option '{unknown}' of the {driver} driver; {takes}"
            )));
        }
        Ok(DriverOptions { driver, options })
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options.get(key).map(String::as_str)
    }

    /// The value of `key` parsed as a `T`; a value that does not parse is refused, saying
    /// what was expected (`what`: "a number of bytes", "true or false").
    pub fn parse<T: FromStr>(&self, key: &str, what: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| v.trim().parse().map_err(|_| self.invalid(key, v, what)))
            .transpose()
    }

    /// The value of `key`, which must be one of `choices` (given as `(value, meaning)`).
    pub fn choice<T: Copy>(&self, key: &str, choices: &[(&str, T)]) -> Result<Option<T>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match choices.iter().find(|(name, _)| *name == v.trim()) {
            Some((_, value)) => Ok(Some(*value)),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                Err(self.invalid(key, v, &format!("one of {}", names.join(", "))))
            }
        }
    }

    /// The value of `key` as a size in bytes: a whole number, optionally with a unit (`B`,
    /// `KiB`, `MiB`, `GiB`; `K`/`KB`, `M`/`MB`, `G`/`GB` mean the same powers of two).
    pub fn size(&self, key: &str) -> Result<Option<u64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match parse_size(v) {
            Some(n) => Ok(Some(n)),
            None => Err(self.invalid(key, v, SIZE_FORM)),
        }
    }

    /// The keys of a family (`header.` for `header.NAME`) without the prefix, with their values.
    pub fn family(&self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.options
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|name| (name, v.as_str())))
    }

    /// The error for a value of `key` that is not `what` was expected.
    pub fn invalid(&self, key: &str, value: &str, what: &str) -> Error {
        Error::invalid_input(format!(
            "option '{key}' of the {} driver: '{value}' is not {what}",
            self.driver
        ))
    }
}

/// What [`parse_size`] takes, for messages.
pub const SIZE_FORM: &str = "a size (bytes, or a number with KiB, MiB or GiB)";

/// A size in bytes: a whole number, optionally with a unit (`B`, `KiB`, `MiB`, `GiB`;
/// `K`/`KB`, `M`/`MB`, `G`/`GB` mean the same powers of two); `None` if `text` is not one.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    num.parse::<u64>().ok().map(|n| n.saturating_mul(1 << shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_keys_are_refused_with_the_keys_the_driver_takes() {
        let docs = option_docs(&[("format", "parquet or csv"), ("header.NAME", "a header")]);
        let o = options(&[("header.", "empty name")]);
        let e = DriverOptions::check("files", &docs, &o).unwrap_err();
        assert_eq!(
            e.message(),
            "unknown option 'header.' of the files driver; it takes format, header.NAME (`bindery plugins` describes each)"
        );
        let e = DriverOptions::check("sqlite", &[], &options(&[("x", "1")])).unwrap_err();
        assert!(e.message().ends_with("; it takes no options"), "{e}");
        assert!(DriverOptions::check("files", &docs, &options(&[("header.a", "1")])).is_ok());
    }

    #[test]
    fn values_that_do_not_parse_say_what_was_expected() {
        let o = options(&[("n", "lots"), ("mode", "maybe")]);
        let docs = option_docs(&[("n", ""), ("mode", "")]);
        let o = DriverOptions::check("s3", &docs, &o).unwrap();
        let e = o.parse::<u32>("n", "a number").unwrap_err();
        assert_eq!(e.message(), "option 'n' of the s3 driver: 'lots' is not a number");
        let e = o.choice("mode", &[("on", true), ("off", false)]).unwrap_err();
        assert!(e.message().ends_with("'maybe' is not one of on, off"), "{e}");
        assert_eq!(o.parse::<u32>("absent", "a number").unwrap(), None);
        let sizes = options(&[
            ("a", "8MiB"),
            ("b", "512"),
            ("c", "2 gb"),
            ("d", "1.5MiB"),
            ("e", "MiB"),
        ]);
        let docs = option_docs(&[("a", ""), ("b", ""), ("c", ""), ("d", ""), ("e", "")]);
        let o = DriverOptions::check("s3", &docs, &sizes).unwrap();
        assert_eq!(o.size("a").unwrap(), Some(8 << 20));
        assert_eq!(o.size("b").unwrap(), Some(512));
        assert_eq!(o.size("c").unwrap(), Some(2 << 30));
        for bad in ["d", "e"] {
            assert!(
                o.size(bad).unwrap_err().message().contains("is not a size"),
                "{bad}"
            );
        }
    }
}
