//! The file formats: which a file is, the columns it holds, and writing a batch as a file.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use bindery_core::{ColumnType, Error, Result, TableSchema};

use crate::error::bad_file;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// A table file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// CSV with a header row (`.csv`).
    Csv,
    /// JSON lines: one object per line (`.jsonl`, `.ndjson`, `.json`).
    Json,
}

impl Format {
    /// The format a name in a spec or option means.
    pub fn parse(name: &str) -> Result<Format> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "parquet" => Format::Parquet,
            "csv" => Format::Csv,
            "jsonl" | "json" | "ndjson" => Format::Json,
            _ => {
                return Err(Error::invalid_input(format!(
                    "unknown file format '{name}' (formats: parquet, csv, jsonl)"
                )))
            }
        })
    }

    /// The format of a file, by its extension.
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" | "pq" => Format::Parquet,
            "csv" => Format::Csv,
            "jsonl" | "ndjson" | "json" => Format::Json,
            _ => return None,
        })
    }

    /// The name (and the extension of the files bindery writes).
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "jsonl",
        }
    }

    /// Refuses a column whose type the format cannot hold, naming it: CSV holds neither
    /// binary nor nested values (Arrow's CSV reader and writer have no text for them).
    pub fn check_schema(self, schema: &TableSchema) -> Result<()> {
        if self != Format::Csv {
            return Ok(());
        }
        for c in &schema.columns {
            if matches!(c.column_type, ColumnType::Binary | ColumnType::FixedBinary(_))
                || c.column_type.is_nested()
            {
                return Err(Error::invalid_input(format!(
                    "column '{}' is {}, which CSV cannot hold; use format parquet or jsonl for this table",
                    c.name, c.column_type
                )));
            }
        }
        Ok(())
    }

    /// The Arrow schema of a file, as its own metadata says (Parquet) or inferred from its
    /// first rows (CSV, JSON lines).
    pub fn infer(self, path: &Path) -> Result<Schema> {
        let what = format!("read the schema of '{}'", path.display());
        let file = File::open(path).map_err(|e| Error::io(e, &what))?;
        match self {
            Format::Parquet => Ok(parquet_metadata(file, path)?.schema().as_ref().clone()),
            Format::Csv => {
                // From every row, so no row later in the file fails to fit; quoted values are
                // text (crate::csv).
                let mut r = BufReader::new(crate::csv::ReadNulls::for_inference(file));
                let (schema, _) = arrow::csv::reader::Format::default()
                    .with_header(true)
                    .with_null_regex(null_regex())
                    .infer_schema(&mut r, None)
                    .map_err(|e| bad_file(path, e))?;
                Ok(schema)
            }
            Format::Json => {
                // From every line; the columns in the order the lines give them.
                let (schema, _) = arrow::json::reader::infer_json_schema(BufReader::new(file), None)
                    .map_err(|e| bad_file(path, e))?;
                let order = self.columns(path)?;
                let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
                fields.sort_by_key(|f| order.iter().position(|n| n == f.name()).unwrap_or(usize::MAX));
                Ok(Schema::new(fields))
            }
        }
    }

    /// The names of the columns a file holds: the Parquet schema's, the CSV header's, the keys
    /// of the first JSON line (bindery writes every column on every line).
    pub fn columns(self, path: &Path) -> Result<Vec<String>> {
        let what = format!("read '{}'", path.display());
        let file = File::open(path).map_err(|e| Error::io(e, &what))?;
        let mut first = String::new();
        match self {
            Format::Parquet => {
                let meta = parquet_metadata(file, path)?;
                return Ok(meta.schema().fields().iter().map(|f| f.name().clone()).collect());
            }
            Format::Csv => {
                let mut r = BufReader::new(file);
                let (schema, _) = arrow::csv::reader::Format::default()
                    .with_header(true)
                    .infer_schema(&mut r, Some(0))
                    .map_err(|e| bad_file(path, e))?;
                return Ok(schema.fields().iter().map(|f| f.name().clone()).collect());
            }
            Format::Json => {
                let mut r = BufReader::new(file);
                while first.trim().is_empty() {
                    first.clear();
                    if r.read_line(&mut first).map_err(|e| Error::io(e, &what))? == 0 {
                        return Ok(Vec::new());
                    }
                }
            }
        }
        let keys: Keys = serde_json::from_str(&first).map_err(|e| bad_file(path, format!("line 1: {e}")))?;
        Ok(keys.0)
    }

    /// Writes a batch as the whole content of `file`, and makes it durable.
    pub fn write(self, file: File, batch: &RecordBatch, path: &Path) -> Result<()> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::unavailable(format!("cannot write the file '{}': {e}", path.display()))
        };
        let file = match self {
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| fail(&e))?;
                w.write(batch).map_err(|e| fail(&e))?;
                w.into_inner().map_err(|e| fail(&e))?
            }
            Format::Csv => {
                // NULL is written as an empty field, an empty string as `""` (crate::csv).
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_null(String::from_utf8_lossy(crate::csv::NULL).into_owned())
                    .build(Vec::new());
                w.write(batch).map_err(|e| fail(&e))?;
                let mut file = file;
                std::io::Write::write_all(&mut file, &crate::csv::for_file(&w.into_inner()))
                    .map_err(|e| fail(&e))?;
                file
            }
            Format::Json => {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(file);
                w.write(batch).map_err(|e| fail(&e))?;
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner()
            }
        };
        file.sync_all().map_err(|e| fail(&e))
    }
}

/// The keys of a JSON object, in the order written (a `serde_json::Map` sorts them).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Keys, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// What Arrow's CSV reader is told is NULL (see [`crate::csv`]).
pub fn null_regex() -> regex::Regex {
    regex::Regex::new(crate::csv::NULL_REGEX).expect("the NULL pattern")
}

/// A Parquet file's metadata (with its Arrow schema).
pub fn parquet_metadata(mut file: File, path: &Path) -> Result<ArrowReaderMetadata> {
    file.rewind()
        .map_err(|e| Error::io(e, &format!("read '{}'", path.display())))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| bad_file(path, e))?;
    // INT96 timestamps (Spark, Impala, Hive) are nanoseconds to Arrow, which holds only the
    // years 1677 to 2262 and wraps others silently (9999-12-31 read as 1816): read as
    // microseconds, bindery's unit, they keep every year (as pyarrow's
    // `coerce_int96_timestamp_unit="us"`).
    let int96: Vec<String> = meta
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .filter(|c| c.physical_type() == parquet::basic::Type::INT96 && c.path().parts().len() == 1)
        .map(|c| c.name().to_string())
        .collect();
    if int96.is_empty() {
        return Ok(meta);
    }
    let fields: Vec<arrow::datatypes::FieldRef> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            arrow::datatypes::DataType::Timestamp(_, zone) if int96.contains(f.name()) => Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(arrow::datatypes::DataType::Timestamp(
                        arrow::datatypes::TimeUnit::Microsecond,
                        zone.clone(),
                    )),
            ),
            _ => f.clone(),
        })
        .collect();
    let hint = Arc::new(Schema::new_with_metadata(
        fields,
        meta.schema().metadata().clone(),
    ));
    ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    )
    .map_err(|e| bad_file(path, e))
}

/// The schema with every field nullable and no metadata: what CSV and JSON readers are given.
pub fn plain(schema: &Schema) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_nullable(true)
                .with_metadata(std::collections::HashMap::<String, String>::new())
        })
        .collect();
    Arc::new(Schema::new(fields))
}
