//! A table's schema: typed columns, a primary key, defaults and read-only columns.
//!
//! On the wire and in results it is an Arrow [`Schema`] whose fields carry bindery's
//! metadata (`bindery.default`, `bindery.read_only`, `bindery.json`) and whose metadata names
//! the key (`bindery.key`); [`TableSchema`] is the same thing typed.
//!
//! Written as text (`create(…).schema("…")`, the CLI) it is a comma-separated list of
//! `name type [NOT NULL] [DEFAULT literal] [READ ONLY]`; types are `bool`, `int32`,
//! `int64` (`int`, `integer`, `bigint`), `float32`, `float64` (`float`, `double`, `real`),
//! `string` (`text`, `varchar`), `binary` (`bytes`, `blob`), `timestamp` (microseconds,
//! UTC), `date` and `json` (text holding a JSON document).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::filter::{json_value, Value};

const DEFAULT: &str = "bindery.default";
const READ_ONLY: &str = "bindery.read_only";
const JSON: &str = "bindery.json";
const KEY: &str = "bindery.key";

/// The time zone of `timestamp` columns: UTC, written as an offset (which Arrow parses
/// without a time-zone database).
pub const UTC: &str = "+00:00";

/// A column's type: the Arrow types bindery tables use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `bool`
    Bool,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `string` (UTF-8)
    String,
    /// `binary`
    Binary,
    /// `timestamp`: microseconds since the Unix epoch, UTC.
    Timestamp,
    /// `date`: days since the Unix epoch.
    Date,
    /// `json`: text holding a JSON document.
    Json,
}

impl ColumnType {
    /// Every type, by its name.
    pub const NAMES: &'static [&'static str] = &[
        "bool",
        "int32",
        "int64",
        "float32",
        "float64",
        "string",
        "binary",
        "timestamp",
        "date",
        "json",
    ];

    /// Parses a type name (case-insensitive, with the usual SQL aliases).
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "bool" | "boolean" => ColumnType::Bool,
            "int32" | "int4" => ColumnType::Int32,
            "int64" | "int" | "integer" | "bigint" | "int8" => ColumnType::Int64,
            "float32" | "float4" => ColumnType::Float32,
            "float64" | "float" | "double" | "real" | "float8" => ColumnType::Float64,
            "string" | "text" | "varchar" | "utf8" => ColumnType::String,
            "binary" | "bytes" | "blob" | "bytea" => ColumnType::Binary,
            "timestamp" | "timestamptz" | "datetime" => ColumnType::Timestamp,
            "date" => ColumnType::Date,
            "json" | "jsonb" => ColumnType::Json,
            _ => return None,
        })
    }

    /// The type's name.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Bool => "bool",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float32 => "float32",
            ColumnType::Float64 => "float64",
            ColumnType::String => "string",
            ColumnType::Binary => "binary",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
            ColumnType::Json => "json",
        }
    }

    /// The Arrow type values of this type have.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::String | ColumnType::Json => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            ColumnType::Date => DataType::Date32,
        }
    }

    /// The column type of an Arrow field, if bindery has one for it (a `json` column is a
    /// UTF-8 field marked `bindery.json`).
    pub fn of_field(field: &Field) -> Option<ColumnType> {
        Some(match field.data_type() {
            DataType::Boolean => ColumnType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
                ColumnType::Int32
            }
            DataType::Int64 | DataType::UInt32 => ColumnType::Int64,
            DataType::Float16 | DataType::Float32 => ColumnType::Float32,
            DataType::Float64 => ColumnType::Float64,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if field.metadata().contains_key(JSON) =>
            {
                ColumnType::Json
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ColumnType::Binary,
            DataType::Timestamp(..) => ColumnType::Timestamp,
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            _ => return None,
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
        Field::new(&self.name, self.column_type.data_type(), self.nullable).with_metadata(meta)
    }

    /// The column an Arrow field describes; `InvalidInput` for a type bindery has no column
    /// type for.
    pub fn from_field(field: &Field) -> Result<Column> {
        let column_type = ColumnType::of_field(field).ok_or_else(|| {
            Error::invalid_input(format!(
                "column '{}' has type {}, which bindery tables do not support (types: {})",
                field.name(),
                field.data_type(),
                ColumnType::NAMES.join(", ")
            ))
        })?;
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
}

impl TableSchema {
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
            if column.column_type == ColumnType::Json {
                return Err(Error::invalid_input(format!(
                    "column '{k}' is json, which cannot be part of a primary key"
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
            if let Some(d) = &c.default {
                crate::table::compute::literal_array(d, c.column_type, &c.name)?;
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
        Ok(TableSchema { columns, key })
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

/// Splits on commas outside quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in text.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (',', None) => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Splits a column declaration into words, keeping quoted ones whole.
fn words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
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
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() {
                    break;
                }
                word.push(x);
                chars.next();
            }
        }
        out.push(word);
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
    let column_type = ColumnType::parse(ty)
        .ok_or_else(|| format!("unknown type '{ty}' (types: {})", ColumnType::NAMES.join(", ")))?;
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
