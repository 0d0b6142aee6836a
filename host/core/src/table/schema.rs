//! A table's schema: typed columns, a primary key, defaults and read-only columns.
//!
//! On the wire and in results it is an Arrow [`Schema`] whose fields carry bindery's
//! metadata (`bindery.default`, `bindery.read_only`, `bindery.json`) and whose metadata names
//! the key (`bindery.key`); [`TableSchema`] is the same thing typed.
//!
//! Written as text (`create(…).schema("…")`, the CLI) it is a comma-separated list of
//! `name type [NOT NULL] [DEFAULT literal] [READ ONLY]`; types are `bool`, `int32`,
//! `int8`, `int16`, `int64` (`int`, `integer`, `bigint`), `uint8` … `uint64`, `float16`,
//! `float32`, `float64` (`float`, `double`, `real`), `decimal(precision, scale)`, `string`
//! (`text`, `varchar`), `binary` (`bytes`, `blob`), `binary(n)` (exactly n bytes),
//! `timestamp` (microseconds, UTC; `timestamp(ns)`, `timestamp(ms, 'Europe/Paris')`,
//! `timestamp(us, none)` without a zone), `date`, `time` (`time(ns)`), `json` (text holding a
//! JSON document), and the nested `list<T>`, `struct<name T, …>` and `map<K, V>`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use arrow::datatypes::TimeUnit;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::filter::{json_value, Value};

const DEFAULT: &str = "bindery.default";
const READ_ONLY: &str = "bindery.read_only";
const JSON: &str = "bindery.json";
const KEY: &str = "bindery.key";
const SCHEMA_VERSION: &str = "bindery.schema_version";
const SCHEMA_TIME: &str = "bindery.schema_time_ms";
/// On a field of an unsupported column: the Arrow type it has (its data type is `Null`).
const UNSUPPORTED: &str = "bindery.unsupported";

/// The time zone of `timestamp` columns: UTC, written as an offset (which Arrow parses
/// without a time-zone database).
pub const UTC: &str = "+00:00";

/// A column's type: the Arrow types bindery tables use.
///
/// Every type maps to one Arrow type ([`ColumnType::data_type`]) and back
/// ([`ColumnType::of_field`]); Arrow types with the same values (`LargeUtf8`, `Utf8View`,
/// `LargeBinary`, `LargeList`, `Date64`, dictionaries) are read as the plain one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `bool`
    Bool,
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint8`
    UInt8,
    /// `uint16`
    UInt16,
    /// `uint32`
    UInt32,
    /// `uint64`
    UInt64,
    /// `float16`
    Float16,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `decimal(precision, scale)`: an exact number of at most 38 digits, `scale` of them
    /// after the point (Arrow's `Decimal128`).
    Decimal {
        /// Digits in all, 1 to 38.
        precision: u8,
        /// Digits after the point (negative: that many zeros before it), at most `precision`.
        scale: i8,
    },
    /// `string` (UTF-8)
    String,
    /// `binary`
    Binary,
    /// `binary(n)`: exactly `n` bytes.
    FixedBinary(i32),
    /// `timestamp(unit, zone)`: a count of `unit`s since the Unix epoch, in `zone` (an offset
    /// such as `+00:00` or a zone name), or without a zone (`timestamp(us, none)`: a wall-clock
    /// time, as PostgreSQL's `timestamp without time zone`). Plain `timestamp` is microseconds
    /// in UTC.
    Timestamp {
        /// The unit of its values.
        unit: TimeUnit,
        /// The zone, or none.
        zone: Option<String>,
    },
    /// `date`: days since the Unix epoch.
    Date,
    /// `time(unit)`: the time of day (plain `time`: microseconds).
    Time(TimeUnit),
    /// `json`: text holding a JSON document.
    Json,
    /// `list<T>`: a list of values of one type.
    List(Box<ColumnType>),
    /// `struct<name T, …>`: named fields.
    Struct(Vec<(String, ColumnType)>),
    /// `map<K, V>`: keys (never null) to values.
    Map(Box<ColumnType>, Box<ColumnType>),
    /// A column of an Arrow type bindery has no column type for (a duration, an interval, a
    /// union, …), found in data made elsewhere. It can be left out of a read with `select`;
    /// reading or writing it is refused naming the column and its type.
    Unsupported(String),
}

/// The names of the scalar types, for messages.
const SCALARS: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "decimal(p, s)",
    "string",
    "binary",
    "binary(n)",
    "timestamp[(unit[, zone])]",
    "date",
    "time[(unit)]",
    "json",
    "list<T>",
    "struct<name T, …>",
    "map<K, V>",
];

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

fn parse_unit(word: &str) -> std::result::Result<TimeUnit, String> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "s" | "second" | "seconds" => TimeUnit::Second,
        "ms" | "millisecond" | "milliseconds" => TimeUnit::Millisecond,
        "us" | "microsecond" | "microseconds" => TimeUnit::Microsecond,
        "ns" | "nanosecond" | "nanoseconds" => TimeUnit::Nanosecond,
        _ => return Err(format!("'{word}' is not a time unit (s, ms, us, ns)")),
    })
}

/// Reads a type from its text form, one piece at a time.
struct TypeParser<'a> {
    text: &'a str,
    at: usize,
}

impl TypeParser<'_> {
    fn skip_space(&mut self) {
        while self.text[self.at..].starts_with(char::is_whitespace) {
            self.at += self.text[self.at..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.text[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, after: &str) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' {after}"))
        }
    }

    /// A word (letters, digits, `_`, `+`, `-`, `:`, `/`, `.`), a quoted string, or a quoted
    /// name, unquoted.
    fn word(&mut self) -> std::result::Result<String, String> {
        self.skip_space();
        let rest = &self.text[self.at..];
        if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let mut out = String::new();
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == q {
                    if chars.peek().is_some_and(|(_, n)| *n == q) {
                        chars.next();
                        out.push(q);
                        continue;
                    }
                    self.at += i + 1;
                    return Ok(out);
                }
                out.push(c);
            }
            return Err(format!("unclosed {q}"));
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || "_+-:/.".contains(c)))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(match rest.chars().next() {
                Some(c) => format!("unexpected '{c}'"),
                None => "a type is missing".into(),
            });
        }
        self.at += len;
        Ok(rest[..len].to_string())
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> std::result::Result<T, String> {
        let w = self.word()?;
        w.parse().map_err(|_| format!("'{w}' is not a valid {what}"))
    }

    fn column_type(&mut self) -> std::result::Result<ColumnType, String> {
        let name = self.word()?;
        let lower = name.to_ascii_lowercase();
        let simple = match lower.as_str() {
            "bool" | "boolean" => Some(ColumnType::Bool),
            "int8" | "tinyint" => Some(ColumnType::Int8),
            "int16" | "smallint" | "int2" => Some(ColumnType::Int16),
            "int32" | "int4" => Some(ColumnType::Int32),
            "int64" | "int" | "integer" | "bigint" => Some(ColumnType::Int64),
            "uint8" => Some(ColumnType::UInt8),
            "uint16" => Some(ColumnType::UInt16),
            "uint32" => Some(ColumnType::UInt32),
            "uint64" => Some(ColumnType::UInt64),
            "float16" | "halffloat" => Some(ColumnType::Float16),
            "float32" | "float4" => Some(ColumnType::Float32),
            "float64" | "float" | "double" | "real" | "float8" => Some(ColumnType::Float64),
            "string" | "text" | "varchar" | "utf8" => Some(ColumnType::String),
            "bytes" | "blob" | "bytea" => Some(ColumnType::Binary),
            "date" => Some(ColumnType::Date),
            "json" | "jsonb" => Some(ColumnType::Json),
            _ => None,
        };
        if let Some(t) = simple {
            return Ok(t);
        }
        match lower.as_str() {
            "binary" => {
                if !self.eat('(') {
                    return Ok(ColumnType::Binary);
                }
                let n: i32 = self.number("byte count")?;
                if n < 1 {
                    return Err(format!("binary({n}): the size must be at least 1"));
                }
                self.expect(')', "after binary's size")?;
                Ok(ColumnType::FixedBinary(n))
            }
            "decimal" | "numeric" => {
                self.expect('(', "after decimal: decimal(precision, scale)")?;
                let precision: u8 = self.number("precision")?;
                let scale: i8 = if self.eat(',') { self.number("scale")? } else { 0 };
                self.expect(')', "after decimal's precision and scale")?;
                if !(1..=38).contains(&precision) {
                    return Err(format!(
                        "decimal({precision}, {scale}): the precision must be 1 to 38"
                    ));
                }
                if scale as i16 > precision as i16 {
                    return Err(format!(
                        "decimal({precision}, {scale}): the scale may not exceed the precision"
                    ));
                }
                Ok(ColumnType::Decimal { precision, scale })
            }
            "time" => {
                if !self.eat('(') {
                    return Ok(ColumnType::Time(TimeUnit::Microsecond));
                }
                let unit = parse_unit(&self.word()?)?;
                self.expect(')', "after time's unit")?;
                Ok(ColumnType::Time(unit))
            }
            "timestamp" | "timestamptz" | "datetime" => {
                let (mut unit, mut zone) = (TimeUnit::Microsecond, Some(UTC.to_string()));
                if self.eat('(') {
                    unit = parse_unit(&self.word()?)?;
                    if self.eat(',') {
                        let z = self.word()?;
                        zone = match z.to_ascii_lowercase().as_str() {
                            "none" => None,
                            _ => {
                                z.parse::<arrow::array::timezone::Tz>().map_err(|e| {
                                    format!("'{z}' is not a time zone (an offset such as '+02:00', a zone name, or none): {e}")
                                })?;
                                Some(z)
                            }
                        };
                    }
                    self.expect(')', "after timestamp's unit and zone")?;
                }
                Ok(ColumnType::Timestamp { unit, zone })
            }
            "list" | "array" => {
                self.expect('<', "after list: list<T>")?;
                let item = self.column_type()?;
                self.expect('>', "closing list<T>")?;
                Ok(ColumnType::List(Box::new(item)))
            }
            "map" => {
                self.expect('<', "after map: map<K, V>")?;
                let key = self.column_type()?;
                self.expect(',', "between map's key and value types")?;
                let value = self.column_type()?;
                self.expect('>', "closing map<K, V>")?;
                Ok(ColumnType::Map(Box::new(key), Box::new(value)))
            }
            "struct" => {
                self.expect('<', "after struct: struct<name T, …>")?;
                let mut fields: Vec<(String, ColumnType)> = Vec::new();
                loop {
                    let name = self.word()?;
                    if fields.iter().any(|(n, _)| *n == name) {
                        return Err(format!("struct field '{name}' is declared twice"));
                    }
                    let ty = self.column_type()?;
                    fields.push((name, ty));
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect('>', "closing struct<…>")?;
                Ok(ColumnType::Struct(fields))
            }
            _ => Err(format!("unknown type '{name}' (types: {})", SCALARS.join(", "))),
        }
    }
}

impl ColumnType {
    /// Plain `timestamp`: microseconds, UTC.
    pub fn timestamp() -> ColumnType {
        ColumnType::Timestamp {
            unit: TimeUnit::Microsecond,
            zone: Some(UTC.to_string()),
        }
    }

    /// Parses a type from its text form (case-insensitive, with the usual SQL aliases):
    /// `int64`, `decimal(10, 2)`, `timestamp(ns, 'Europe/Paris')`, `list<struct<a int64, b
    /// string>>`, ….
    ///
    /// ```
    /// use bindery_core::table::ColumnType;
    /// let t = ColumnType::parse_text("map<string, list<decimal(9, 2)>>").unwrap();
    /// assert_eq!(t.to_string(), "map<string, list<decimal(9, 2)>>");
    /// assert!(ColumnType::parse_text("decimal(40, 2)").unwrap_err().contains("1 to 38"));
    /// ```
    pub fn parse_text(text: &str) -> std::result::Result<ColumnType, String> {
        let mut p = TypeParser { text, at: 0 };
        let t = p.column_type()?;
        p.skip_space();
        if p.at < text.len() {
            return Err(format!("unexpected '{}' after the type", &text[p.at..]));
        }
        t.check_nested()?;
        Ok(t)
    }

    /// Parses a type name; `None` when it is not one.
    pub fn parse(name: &str) -> Option<ColumnType> {
        ColumnType::parse_text(name).ok()
    }

    /// `json` keeps its meaning only at the top of a column (inside a list or struct it
    /// would read back as `string`).
    fn check_nested(&self) -> std::result::Result<(), String> {
        let inner: Vec<&ColumnType> = match self {
            ColumnType::List(t) => vec![t],
            ColumnType::Map(k, v) => vec![k, v],
            ColumnType::Struct(fields) => fields.iter().map(|(_, t)| t).collect(),
            _ => return Ok(()),
        };
        for t in inner {
            if *t == ColumnType::Json {
                return Err(format!(
                    "json cannot be nested in {}: use string there, or make the whole column json",
                    self.family()
                ));
            }
            if let ColumnType::Map(k, _) = self {
                if k.is_nested() {
                    return Err("a map's keys must be of a scalar type".into());
                }
            }
            t.check_nested()?;
        }
        Ok(())
    }

    /// The name of the type's family (`decimal` for `decimal(9, 2)`), for messages.
    pub fn family(&self) -> &'static str {
        match self {
            ColumnType::Decimal { .. } => "decimal",
            ColumnType::FixedBinary(_) => "binary(n)",
            ColumnType::Timestamp { .. } => "timestamp",
            ColumnType::Time(_) => "time",
            ColumnType::List(_) => "list",
            ColumnType::Struct(_) => "struct",
            ColumnType::Map(..) => "map",
            ColumnType::Unsupported(_) => "unsupported",
            other => other.scalar_name(),
        }
    }

    fn scalar_name(&self) -> &'static str {
        match self {
            ColumnType::Bool => "bool",
            ColumnType::Int8 => "int8",
            ColumnType::Int16 => "int16",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::UInt8 => "uint8",
            ColumnType::UInt16 => "uint16",
            ColumnType::UInt32 => "uint32",
            ColumnType::UInt64 => "uint64",
            ColumnType::Float16 => "float16",
            ColumnType::Float32 => "float32",
            ColumnType::Float64 => "float64",
            ColumnType::String => "string",
            ColumnType::Binary => "binary",
            ColumnType::Date => "date",
            ColumnType::Json => "json",
            _ => "",
        }
    }

    /// Whether values are lists, structs or maps.
    pub fn is_nested(&self) -> bool {
        matches!(
            self,
            ColumnType::List(_) | ColumnType::Struct(_) | ColumnType::Map(..)
        )
    }

    /// Whether the type is one of the first ten bindery had (bool, int32, int64, float32,
    /// float64, string, binary, microsecond UTC timestamp, date, json): the types every
    /// driver stores and SQL backends compare as bindery does.
    pub fn is_basic(&self) -> bool {
        match self {
            ColumnType::Bool
            | ColumnType::Int32
            | ColumnType::Int64
            | ColumnType::Float32
            | ColumnType::Float64
            | ColumnType::String
            | ColumnType::Binary
            | ColumnType::Date
            | ColumnType::Json => true,
            ColumnType::Timestamp { .. } => *self == ColumnType::timestamp(),
            _ => false,
        }
    }

    /// Whether this is an integer type every value of which an `int64` holds (the signed
    /// ones, and the unsigned up to `uint32`).
    pub fn fits_i64(&self) -> bool {
        matches!(
            self,
            ColumnType::Int8
                | ColumnType::Int16
                | ColumnType::Int32
                | ColumnType::Int64
                | ColumnType::UInt8
                | ColumnType::UInt16
                | ColumnType::UInt32
        )
    }

    /// The Arrow type values of this type have.
    pub fn data_type(&self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int8 => DataType::Int8,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::UInt8 => DataType::UInt8,
            ColumnType::UInt16 => DataType::UInt16,
            ColumnType::UInt32 => DataType::UInt32,
            ColumnType::UInt64 => DataType::UInt64,
            ColumnType::Float16 => DataType::Float16,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            ColumnType::String | ColumnType::Json => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
            ColumnType::FixedBinary(n) => DataType::FixedSizeBinary(*n),
            ColumnType::Timestamp { unit, zone } => {
                DataType::Timestamp(*unit, zone.as_deref().map(Arc::from))
            }
            ColumnType::Date => DataType::Date32,
            ColumnType::Time(unit @ (TimeUnit::Second | TimeUnit::Millisecond)) => DataType::Time32(*unit),
            ColumnType::Time(unit) => DataType::Time64(*unit),
            ColumnType::List(item) => DataType::List(Arc::new(Field::new("item", item.data_type(), true))),
            ColumnType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|(n, t)| Field::new(n, t.data_type(), true))
                    .collect(),
            ),
            ColumnType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(
                        vec![
                            Field::new("key", k.data_type(), false),
                            Field::new("value", v.data_type(), true),
                        ]
                        .into(),
                    ),
                    false,
                )),
                false,
            ),
            ColumnType::Unsupported(_) => DataType::Null,
        }
    }

    /// The column type of an Arrow type; `Unsupported` (naming it) for one bindery has no
    /// column type for.
    pub fn of_data_type(t: &DataType) -> ColumnType {
        match t {
            DataType::Boolean => ColumnType::Bool,
            DataType::Int8 => ColumnType::Int8,
            DataType::Int16 => ColumnType::Int16,
            DataType::Int32 => ColumnType::Int32,
            DataType::Int64 => ColumnType::Int64,
            DataType::UInt8 => ColumnType::UInt8,
            DataType::UInt16 => ColumnType::UInt16,
            DataType::UInt32 => ColumnType::UInt32,
            DataType::UInt64 => ColumnType::UInt64,
            DataType::Float16 => ColumnType::Float16,
            DataType::Float32 => ColumnType::Float32,
            DataType::Float64 => ColumnType::Float64,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                ColumnType::Decimal {
                    precision: *p,
                    scale: *s,
                }
            }
            DataType::Decimal256(p, s) if *p <= 38 => ColumnType::Decimal {
                precision: *p,
                scale: *s,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ColumnType::Binary,
            DataType::FixedSizeBinary(n) => ColumnType::FixedBinary(*n),
            DataType::Timestamp(unit, zone) => ColumnType::Timestamp {
                unit: *unit,
                zone: zone.as_deref().map(str::to_string),
            },
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            DataType::Time32(unit) | DataType::Time64(unit) => ColumnType::Time(*unit),
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                match ColumnType::of_data_type(f.data_type()) {
                    ColumnType::Unsupported(_) => ColumnType::Unsupported(t.to_string()),
                    item => ColumnType::List(Box::new(item)),
                }
            }
            DataType::Struct(fields) => {
                let mut out = Vec::new();
                for f in fields {
                    match ColumnType::of_data_type(f.data_type()) {
                        ColumnType::Unsupported(_) => return ColumnType::Unsupported(t.to_string()),
                        ty => out.push((f.name().clone(), ty)),
                    }
                }
                ColumnType::Struct(out)
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => {
                    match (
                        ColumnType::of_data_type(kv[0].data_type()),
                        ColumnType::of_data_type(kv[1].data_type()),
                    ) {
                        (ColumnType::Unsupported(_), _) | (_, ColumnType::Unsupported(_)) => {
                            ColumnType::Unsupported(t.to_string())
                        }
                        (k, v) => ColumnType::Map(Box::new(k), Box::new(v)),
                    }
                }
                _ => ColumnType::Unsupported(t.to_string()),
            },
            DataType::Dictionary(_, values) => ColumnType::of_data_type(values),
            other => ColumnType::Unsupported(other.to_string()),
        }
    }

    /// The column type of an Arrow field (a `json` column is a UTF-8 field marked
    /// `bindery.json`).
    pub fn of_field(field: &Field) -> ColumnType {
        if let Some(t) = field.metadata().get(UNSUPPORTED) {
            return ColumnType::Unsupported(t.clone());
        }
        match ColumnType::of_data_type(field.data_type()) {
            ColumnType::String if field.metadata().contains_key(JSON) => ColumnType::Json,
            t => t,
        }
    }

    /// `Err` naming the column when values of this type cannot be read or written.
    pub fn check_supported(&self, column: &str) -> Result<()> {
        match self {
            ColumnType::Unsupported(t) => Err(Error::invalid_input(format!(
                "column '{column}' has Arrow type {t}, which bindery tables do not support (types: {}); leave it out with select",
                SCALARS.join(", ")
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            ColumnType::FixedBinary(n) => write!(f, "binary({n})"),
            ColumnType::Timestamp { unit, zone } => {
                if *self == ColumnType::timestamp() {
                    return f.write_str("timestamp");
                }
                write!(f, "timestamp({}", unit_name(*unit))?;
                match zone.as_deref() {
                    None => f.write_str(", none)"),
                    Some(UTC) => f.write_str(")"),
                    Some(z) => write!(f, ", '{}')", z.replace('\'', "''")),
                }
            }
            ColumnType::Time(TimeUnit::Microsecond) => f.write_str("time"),
            ColumnType::Time(unit) => write!(f, "time({})", unit_name(*unit)),
            ColumnType::List(item) => write!(f, "list<{item}>"),
            ColumnType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            ColumnType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} {t}", quote_name(name))?;
                }
                f.write_str(">")
            }
            ColumnType::Unsupported(t) => write!(f, "unsupported({t})"),
            other => f.write_str(other.scalar_name()),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether it may hold `NULL` (or be left out of a new row without a default).
    pub nullable: bool,
    /// The value a new row (or, after `alter`, an existing one) gets when none is given.
    pub default: Option<Value>,
    /// Whether the value is fixed once the row exists.
    pub read_only: bool,
}

impl Column {
    /// A nullable column without a default.
    pub fn new(name: impl Into<String>, column_type: ColumnType) -> Column {
        Column {
            name: name.into(),
            column_type,
            nullable: true,
            default: None,
            read_only: false,
        }
    }

    /// Whether a new row must give the column a value.
    pub fn required(&self) -> bool {
        !self.nullable && self.default.is_none()
    }

    /// The column as an Arrow field, with bindery's metadata.
    pub fn to_field(&self) -> Field {
        let mut meta = HashMap::new();
        if let Some(d) = &self.default {
            meta.insert(DEFAULT.to_string(), value_json(d).to_string());
        }
        if self.read_only {
            meta.insert(READ_ONLY.to_string(), "true".to_string());
        }
        if self.column_type == ColumnType::Json {
            meta.insert(JSON.to_string(), "true".to_string());
        }
        if let ColumnType::Unsupported(t) = &self.column_type {
            meta.insert(UNSUPPORTED.to_string(), t.clone());
        }
        Field::new(&self.name, self.column_type.data_type(), self.nullable).with_metadata(meta)
    }

    /// The column an Arrow field describes (of type [`ColumnType::Unsupported`] when bindery
    /// has no column type for the field's).
    pub fn from_field(field: &Field) -> Result<Column> {
        let column_type = ColumnType::of_field(field);
        let default = match field.metadata().get(DEFAULT) {
            Some(text) => Some(json_value(&serde_json::from_str(text).map_err(|e| {
                Error::invalid_input(format!("column '{}': bad default {text}: {e}", field.name()))
            })?)),
            None => None,
        };
        Ok(Column {
            name: field.name().clone(),
            column_type,
            nullable: field.is_nullable(),
            default,
            read_only: field.metadata().get(READ_ONLY).is_some_and(|v| v == "true"),
        })
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", quote_name(&self.name), self.column_type)?;
        if !self.nullable {
            f.write_str(" NOT NULL")?;
        }
        if let Some(d) = &self.default {
            write!(f, " DEFAULT {}", literal_text(d))?;
        }
        if self.read_only {
            f.write_str(" READ ONLY")?;
        }
        Ok(())
    }
}

/// A table's columns and primary key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableSchema {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The primary key: the partition key, then the sorting key if there is one. Empty for a
    /// table without a key (files), which can only be appended to.
    pub key: Vec<String>,
    /// Which version of the table's schema this is, from a driver that keeps their history
    /// (`None`: the driver keeps none, or bindery did not make the table).
    pub version: Option<SchemaVersion>,
}

/// A version of a table's schema: its `create` is version 1, each `alter` adds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersion {
    /// 1, 2, …
    pub number: u64,
    /// When the `create` or `alter` that made it was committed (`None`: not known).
    pub time: Option<std::time::SystemTime>,
}

impl SchemaVersion {
    /// Version `number`, made at `time_ms` (milliseconds since the Unix epoch) where known.
    pub fn at(number: u64, time_ms: Option<i64>) -> SchemaVersion {
        let time = time_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
        SchemaVersion { number, time }
    }

    /// The time in milliseconds since the Unix epoch, where known.
    pub fn time_ms(&self) -> Option<i64> {
        let d = self.time?.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(d.as_millis()).ok()
    }
}

/// The milliseconds since the Unix epoch now: when a driver records a schema version.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The message of asking for a schema version a table does not have (`InvalidInput`).
pub fn no_such_schema_version(table: &str, asked: u64, current: Option<u64>) -> Error {
    match current {
        Some(n) => Error::invalid_input(format!(
            "table '{table}' has no schema version {asked}: its versions are 1 to {n}"
        )),
        None => Error::invalid_input(format!(
            "table '{table}' has no schema history (bindery did not make it, or made it before \
             it kept one): ask for its schema without a version"
        )),
    }
}

impl TableSchema {
    /// A schema as a driver stores it beside a table: the columns as [`TableSchema::parse`]
    /// reads them, and the key's column names joined by commas (see [`TableSchema::stored_key`]).
    pub fn from_stored(columns: &str, key: &str) -> Result<TableSchema> {
        let mut schema = TableSchema::parse(columns)?;
        schema.key = key
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
        Ok(schema)
    }

    /// The key's column names joined by commas, as [`TableSchema::from_stored`] reads them.
    pub fn stored_key(&self) -> String {
        self.key.join(",")
    }

    /// Parses the text form: `name type [NOT NULL] [DEFAULT literal] [READ ONLY], …`.
    ///
    /// ```
    /// use bindery_core::table::{ColumnType, TableSchema};
    /// let s = TableSchema::parse("user string NOT NULL, age int64 DEFAULT 0, created timestamp READ ONLY")
    ///     .unwrap();
    /// assert_eq!(s.columns[1].column_type, ColumnType::Int64);
    /// assert!(s.columns[2].read_only);
    /// ```
    pub fn parse(text: &str) -> Result<TableSchema> {
        let mut columns: Vec<Column> = Vec::new();
        for part in split_top_level(text) {
            let column = parse_column(part.trim())
                .map_err(|why| Error::invalid_input(format!("invalid schema at '{}': {why}", part.trim())))?;
            if columns.iter().any(|c| c.name == column.name) {
                return Err(Error::invalid_input(format!(
                    "invalid schema: column '{}' is declared twice",
                    column.name
                )));
            }
            columns.push(column);
        }
        if columns.is_empty() {
            return Err(Error::invalid_input("invalid schema: it declares no column"));
        }
        Ok(TableSchema {
            columns,
            key: Vec::new(),
            version: None,
        })
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A column by name, or `InvalidInput` naming it and the columns there are.
    pub fn expect_column(&self, name: &str, table: &str) -> Result<&Column> {
        self.column(name).ok_or_else(|| {
            Error::invalid_input(format!(
                "table '{table}' has no column '{name}' (columns: {})",
                self.names().join(", ")
            ))
        })
    }

    /// The column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Sets the primary key; checks the columns exist, and makes them `NOT NULL`.
    pub fn with_key(mut self, partition_key: &str, sorting_key: Option<&str>) -> Result<TableSchema> {
        let mut key = vec![partition_key.to_string()];
        key.extend(sorting_key.map(str::to_string));
        for k in &key {
            let column = self.columns.iter_mut().find(|c| c.name == *k).ok_or_else(|| {
                Error::invalid_input(format!(
                    "the primary key names column '{k}', which the schema does not declare"
                ))
            })?;
            if column.column_type == ColumnType::Json || column.column_type.is_nested() {
                return Err(Error::invalid_input(format!(
                    "column '{k}' is {}, which cannot be part of a primary key",
                    column.column_type
                )));
            }
            column.nullable = false;
        }
        self.key = key;
        Ok(self)
    }

    /// Checks the schema is one a table can have: a key when there is one names columns.
    pub fn check(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::invalid_input("a table needs at least one column"));
        }
        for k in &self.key {
            self.expect_column(k, "")?;
        }
        for c in &self.columns {
            c.column_type.check_supported(&c.name)?;
            if let Some(d) = &c.default {
                crate::table::compute::literal_array(d, &c.column_type, &c.name)?;
            }
        }
        Ok(())
    }

    /// The schema as Arrow's, with bindery's metadata.
    pub fn to_arrow(&self) -> SchemaRef {
        let fields: Vec<Field> = self.columns.iter().map(Column::to_field).collect();
        let mut meta = HashMap::new();
        if !self.key.is_empty() {
            meta.insert(KEY.to_string(), self.key.join(","));
        }
        if let Some(v) = &self.version {
            meta.insert(SCHEMA_VERSION.to_string(), v.number.to_string());
            if let Some(ms) = v.time_ms() {
                meta.insert(SCHEMA_TIME.to_string(), ms.to_string());
            }
        }
        Arc::new(Schema::new_with_metadata(fields, meta))
    }

    /// The schema an Arrow one describes.
    pub fn from_arrow(schema: &Schema) -> Result<TableSchema> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Column::from_field(f))
            .collect::<Result<Vec<_>>>()?;
        let key = schema
            .metadata()
            .get(KEY)
            .map(|k| k.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let meta = schema.metadata();
        let version = meta
            .get(SCHEMA_VERSION)
            .and_then(|n| n.parse().ok())
            .map(|n| SchemaVersion::at(n, meta.get(SCHEMA_TIME).and_then(|t| t.parse().ok())));
        Ok(TableSchema {
            columns,
            key,
            version,
        })
    }
}

impl fmt::Display for TableSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

fn quote_name(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A literal as the schema's text form writes it.
pub fn literal_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// A literal as JSON.
pub fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(x) => (*x).into(),
        Value::Str(s) => s.clone().into(),
    }
}

/// Splits on commas outside quotes and brackets (`decimal(9, 2)`, `map<K, V>`).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote, mut depth) = (0, None, 0usize);
    for (i, c) in text.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('(' | '<', None) => depth += 1,
            (')' | '>', None) => depth = depth.saturating_sub(1),
            (',', None) if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Splits a column declaration into words, keeping quoted ones and bracketed types
/// (`decimal(9, 2)`, `struct<a int64, b string>`) whole.
fn words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '\'' || c == '"' {
            word.push(c);
            chars.next();
            loop {
                match chars.next() {
                    Some(x) if x == c && chars.peek() == Some(&c) => {
                        word.push(c);
                        chars.next();
                    }
                    Some(x) if x == c => break,
                    Some(x) => word.push(x),
                    None => return Err(format!("unclosed {c}")),
                }
            }
            word.push(c);
        } else {
            let mut depth = 0usize;
            let mut quote = None;
            while let Some(&x) = chars.peek() {
                match (x, quote) {
                    (x, None) if x.is_whitespace() && depth == 0 => break,
                    ('\'', None) => quote = Some(x),
                    ('\'', Some(_)) => quote = None,
                    ('(' | '<', None) => depth += 1,
                    (')' | '>', None) => depth = depth.saturating_sub(1),
                    _ => {}
                }
                word.push(x);
                chars.next();
            }
        }
        // `decimal (9, 2)`: a bracket after a space still belongs to the type.
        if out.len() == 2 && (word.starts_with('(') || word.starts_with('<')) {
            out[1].push_str(&word);
        } else {
            out.push(word);
        }
    }
    Ok(out)
}

fn unquote(word: &str, q: char) -> Option<String> {
    let inner = word.strip_prefix(q)?.strip_suffix(q)?;
    Some(inner.replace(&format!("{q}{q}"), &q.to_string()))
}

/// Parses a literal as the text form writes it (`12`, `1.5`, `'text'`, `TRUE`, `NULL`).
pub fn parse_literal(word: &str) -> std::result::Result<Value, String> {
    if let Some(s) = unquote(word, '\'') {
        return Ok(Value::Str(s));
    }
    match word.to_ascii_uppercase().as_str() {
        "NULL" => return Ok(Value::Null),
        "TRUE" => return Ok(Value::Bool(true)),
        "FALSE" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(i) = word.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    word.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| format!("'{word}' is not a literal (a number, 'text', TRUE, FALSE or NULL)"))
}

fn parse_column(text: &str) -> std::result::Result<Column, String> {
    let w = words(text)?;
    let (name, ty) = match w.as_slice() {
        [name, ty, ..] => (name, ty),
        _ => return Err("give a name and a type".into()),
    };
    let name = unquote(name, '"').unwrap_or_else(|| name.clone());
    let column_type = ColumnType::parse_text(ty)?;
    let mut column = Column::new(name, column_type);
    let mut rest = w[2..].iter().map(String::as_str);
    while let Some(word) = rest.next() {
        match word.to_ascii_uppercase().as_str() {
            "NOT" if rest.next().is_some_and(|n| n.eq_ignore_ascii_case("NULL")) => column.nullable = false,
            "NULL" => column.nullable = true,
            "DEFAULT" => {
                let lit = rest.next().ok_or("DEFAULT needs a value")?;
                column.default = Some(parse_literal(lit)?);
            }
            "READ" if rest.next().is_some_and(|n| n.eq_ignore_ascii_case("ONLY")) => column.read_only = true,
            "READONLY" | "READ_ONLY" => column.read_only = true,
            _ => {
                return Err(format!(
                    "unexpected '{word}' (after the type: NOT NULL, DEFAULT literal, READ ONLY)"
                ))
            }
        }
    }
    Ok(column)
}

/// How a table may change under `alter`: only backward-compatible changes, so that every
/// reader and writer of the old schema keeps working.
///
/// Given the current schema and the wanted one, returns the columns to add. Refused, naming
/// the column and the reason: removing a column, changing its type, nullability, default,
/// read-only flag or place in the key, and adding a `NOT NULL` column without a default.
pub fn plan_alter(current: &TableSchema, wanted: &TableSchema, table: &str) -> Result<Vec<Column>> {
    let refuse = |column: &str, why: String| {
        Err(Error::invalid_input(format!(
            "alter of table '{table}' refused: column '{column}' {why}; only adding columns (nullable, or with a default) is allowed"
        )))
    };
    for old in &current.columns {
        let Some(new) = wanted.column(&old.name) else {
            return refuse(&old.name, "would be removed".into());
        };
        if new.column_type != old.column_type {
            return refuse(
                &old.name,
                format!(
                    "would change type from {} to {}",
                    old.column_type, new.column_type
                ),
            );
        }
        if new.nullable != old.nullable && !current.key.contains(&old.name) {
            let to = if new.nullable { "nullable" } else { "NOT NULL" };
            return refuse(&old.name, format!("would become {to}"));
        }
        if new.default != old.default {
            return refuse(&old.name, "would change its default".into());
        }
        if new.read_only != old.read_only {
            return refuse(&old.name, "would change whether it is read-only".into());
        }
    }
    if !wanted.key.is_empty() && wanted.key != current.key {
        let column = wanted.key.first().cloned().unwrap_or_default();
        return refuse(&column, "would change the primary key".into());
    }
    let mut added = Vec::new();
    for new in &wanted.columns {
        if current.column(&new.name).is_some() {
            continue;
        }
        if new.required() {
            return refuse(
                &new.name,
                "is NOT NULL without a default, so existing rows would have no value".into(),
            );
        }
        added.push(new.clone());
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_through_arrow() {
        let s = TableSchema::parse(
            "user string NOT NULL, age int DEFAULT 0, \"odd, name\" text DEFAULT 'a,b', doc json, created timestamp READ ONLY",
        )
        .unwrap()
        .with_key("user", None)
        .unwrap();
        assert_eq!(s.names(), ["user", "age", "odd, name", "doc", "created"]);
        assert_eq!(s.columns[2].default, Some(Value::Str("a,b".into())));
        let back = TableSchema::from_arrow(&s.to_arrow()).unwrap();
        assert_eq!(back, s);
        assert_eq!(TableSchema::parse(&s.to_string()).unwrap().columns, s.columns);
    }

    #[test]
    fn every_type_round_trips_through_its_text_and_arrow() {
        let types = [
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
            "decimal(9, 2)",
            "decimal(38, -3)",
            "string",
            "binary",
            "binary(16)",
            "timestamp",
            "timestamp(ns)",
            "timestamp(ms, none)",
            "timestamp(s, 'Europe/Paris')",
            "date",
            "time(ms)",
            "time(ns)",
            "json",
            "list<int64>",
            "list<list<string>>",
            "map<string, float64>",
            "struct<a int32, \"b c\" list<timestamp(ns, none)>>",
        ];
        for text in types {
            let ty = ColumnType::parse_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                ColumnType::parse_text(&ty.to_string()).unwrap(),
                ty,
                "{text} -> {ty}"
            );
            let field = Column::new("c", ty.clone()).to_field();
            assert_eq!(ColumnType::of_field(&field), ty, "{text} through Arrow");
        }
        // The spellings the seeds and other tools use.
        assert_eq!(ColumnType::parse("timestamp").unwrap(), ColumnType::timestamp());
        assert_eq!(
            ColumnType::parse("timestamp(us, none)").unwrap().data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
    }

    #[test]
    fn bad_types_say_why() {
        for (text, want) in [
            ("decimal(39, 2)", "precision"),
            ("decimal(x, 2)", "precision"),
            ("timestamp(fortnight)", "unit"),
            ("list<json>", "json"),
            ("map<list<int64>, int64>", "key"),
            ("list<int64", "list"),
            ("struct<a>", "unexpected '>'"),
        ] {
            let e = ColumnType::parse_text(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = TableSchema::parse("k list<int64>")
            .unwrap()
            .with_key("k", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'k'"), "{e}");
    }

    #[test]
    fn foreign_arrow_types_are_unsupported_not_refused() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(
                "i",
                DataType::Interval(arrow::datatypes::IntervalUnit::DayTime),
                true,
            ),
        ]);
        let t = TableSchema::from_arrow(&schema).unwrap();
        assert!(matches!(t.columns[1].column_type, ColumnType::Unsupported(_)));
        // Through Arrow (a schema crossing the layers or the ABI) it keeps its type's name.
        let back = TableSchema::from_arrow(&t.to_arrow()).unwrap();
        assert_eq!(back.columns[1].column_type, t.columns[1].column_type);
        let e = t.columns[1]
            .column_type
            .check_supported("i")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'i'") && e.contains("select"), "{e}");
    }

    #[test]
    fn bad_schemas_name_what_is_wrong() {
        let e = TableSchema::parse("a int, b strin").unwrap_err().to_string();
        assert!(
            e.contains("unknown type 'strin'") && e.contains("at 'b strin'"),
            "{e}"
        );
        let e = TableSchema::parse("a int, a text").unwrap_err().to_string();
        assert!(e.contains("'a' is declared twice"), "{e}");
        let e = TableSchema::parse("a int DEFAULT").unwrap_err().to_string();
        assert!(e.contains("DEFAULT needs a value"), "{e}");
        let e = TableSchema::parse("a int PRIMARY").unwrap_err().to_string();
        assert!(e.contains("unexpected 'PRIMARY'"), "{e}");
        let e = TableSchema::parse("a int")
            .unwrap()
            .with_key("b", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'b'"), "{e}");
    }

    #[test]
    fn alter_allows_only_compatible_changes() {
        let cur = TableSchema::parse("id int NOT NULL, name text")
            .unwrap()
            .with_key("id", None)
            .unwrap();
        let add = TableSchema::parse("id int NOT NULL, name text, score int NOT NULL DEFAULT 0, note text")
            .unwrap();
        let added = plan_alter(&cur, &add, "t").unwrap();
        assert_eq!(
            added.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["score", "note"]
        );
        for (wanted, words) in [
            ("id int NOT NULL", "'name' would be removed"),
            (
                "id int NOT NULL, name int",
                "'name' would change type from string to int64",
            ),
            (
                "id int NOT NULL, name text NOT NULL",
                "'name' would become NOT NULL",
            ),
            (
                "id int NOT NULL, name text, x int NOT NULL",
                "'x' is NOT NULL without a default",
            ),
            (
                "id int NOT NULL, name text DEFAULT 'a'",
                "'name' would change its default",
            ),
        ] {
            let e = plan_alter(&cur, &TableSchema::parse(wanted).unwrap(), "t").unwrap_err();
            assert!(e.to_string().contains(words), "{wanted}: {e}");
        }
    }
}
