//! `bindery table`: read, write, create, drop, alter, describe and watch tables on a table
//! binding.
//!
//! Reads print an aligned table on a terminal and CSV in a pipe, or what `--format` asks:
//! `table`, `csv`, `json` (one object per line) or `arrow` (an Arrow IPC stream). CSV, JSON
//! and Arrow stream batch by batch; `table` gathers the rows first (it is for people).
//! Writes take JSON objects as arguments or one per line on standard input, or an Arrow IPC
//! stream with `--format arrow`, so `bindery table read … --format arrow | bindery table
//! write … --format arrow` copies a table.

use std::io::{self, BufRead, IsTerminal, Write as _};
use std::sync::Arc;

use bindery::arrow::array::RecordBatch;
use bindery::Value;
use bindery_core::table::schema::parse_literal;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args)]
pub struct TableArgs {
    #[command(flatten)]
    spec: crate::SpecArg,
    #[command(subcommand)]
    op: Op,
}

/// How rows are printed or read.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// An aligned table (the default on a terminal).
    Table,
    /// CSV with a header row (the default in a pipe).
    Csv,
    /// One JSON object per line.
    Json,
    /// An Arrow IPC stream.
    Arrow,
}

#[derive(Subcommand)]
enum Op {
    /// Prints rows (all, those of --key, or those passing --where).
    Read {
        /// `binding://table`.
        path: String,
        /// Only the row of this key (repeatable); a composite key's values are comma
        /// separated.
        #[arg(short, long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Only rows passing this filter, e.g. "age > 30 AND addr = 'NY'".
        #[arg(short, long = "where", value_name = "FILTER", allow_hyphen_values = true)]
        filter: Option<String>,
        /// Only these columns, in this order (comma separated).
        #[arg(short, long, value_delimiter = ',')]
        select: Vec<String>,
        /// A read-only query in the driver's own language instead.
        #[arg(long)]
        sql: Option<String>,
        /// At most this many rows.
        #[arg(short = 'n', long)]
        limit: Option<u64>,
        /// Only part P of N disjoint parts, as P/N (0-based).
        #[arg(long, value_name = "P/N")]
        partition: Option<String>,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Writes the ITEMs given (JSON objects), or those on standard input; or, with --set,
    /// updates the rows of --key.
    Write {
        /// `binding://table`.
        path: String,
        /// JSON objects, one per row; without any, read from standard input.
        items: Vec<String>,
        /// Standard input's format: json (one object per line) or arrow (an IPC stream).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write only if this condition holds for every row touched (else nothing is written).
        #[arg(short, long, value_name = "FILTER")]
        condition: Option<String>,
        /// An update expression for the rows of --key, e.g. "count = count + :inc".
        #[arg(long, value_name = "EXPR", requires = "keys")]
        set: Option<String>,
        /// A value for the expression: NAME=LITERAL (repeatable), e.g. inc=1 or who='ann'.
        #[arg(short, long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// The rows --set updates (repeatable; a composite key's values comma separated).
        #[arg(short, long = "key", value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Creates a table.
    Create {
        /// `binding://table`.
        path: String,
        /// The columns: "user string NOT NULL, age int64 DEFAULT 0, created timestamp READ ONLY".
        #[arg(long)]
        schema: String,
        /// The primary key: the partition key, and optionally the sorting key (comma separated).
        #[arg(long, value_name = "COLUMN[,COLUMN]")]
        key: Option<String>,
        /// A driver option KEY=VALUE (repeatable), e.g. format=csv for files.
        #[arg(short, long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Drops a table and its rows.
    Drop {
        /// `binding://table`.
        path: String,
    },
    /// Adds columns (existing rows get each column's default); nothing else may change.
    Alter {
        /// `binding://table`.
        path: String,
        /// A column to add: "level int64 NOT NULL DEFAULT 3" (repeatable).
        #[arg(long = "add-column", value_name = "COLUMN")]
        add: Vec<String>,
        /// The whole schema wanted (columns it adds are added).
        #[arg(long, conflicts_with = "add")]
        schema: Option<String>,
    },
    /// Prints a table's schema and key, after a line naming its version and when it was made
    /// where the driver keeps them (`-- version 2, made 2026-12-03 16:20:01.123 UTC`).
    Schema {
        /// `binding://table`.
        path: String,
        /// An older version of the schema: 1 is what `create` made, each `alter` adds one.
        #[arg(long, value_name = "N")]
        version: Option<u64>,
    },
    /// Prints every change to a table's rows as it happens, a line each (`KIND KEY ROW`),
    /// until interrupted: also changes made by other programs.
    Watch {
        /// `binding://table`.
        path: String,
        #[command(flatten)]
        how: crate::watch::WatchArgs,
    },
}

pub fn run(args: TableArgs) -> Result<(), String> {
    let ctx = args.spec.open()?;
    let fail = |e: bindery::Error| e.to_string();
    let tables = ctx.table();
    match args.op {
        Op::Read {
            path,
            keys,
            filter,
            select,
            sql,
            limit,
            partition,
            format,
        } => {
            let mut read = tables.read(&path);
            for k in &keys {
                read = read.key(key_values(k));
            }
            if let Some(f) = &filter {
                read = read.where_(f);
            }
            if !select.is_empty() {
                read = read.select(select);
            }
            if let Some(q) = sql {
                read = read.sql(q);
            }
            if let Some(n) = limit {
                read = read.limit(n);
            }
            if let Some(p) = &partition {
                let (part, parts) = parse_partition(p)?;
                read = read.partition(part, parts);
            }
            let format = format.unwrap_or(if io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Csv
            });
            print_rows(read.load(), format)?;
        }
        Op::Write {
            path,
            items,
            format,
            condition,
            set,
            params,
            keys,
        } => {
            let mut write = tables.write(&path);
            if let Some(expr) = &set {
                let params = params
                    .iter()
                    .map(|p| {
                        let (name, value) = p
                            .split_once('=')
                            .ok_or_else(|| format!("--param '{p}' is not NAME=VALUE"))?;
                        Ok((name.to_string(), literal(value)))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                write = write
                    .to_keys(keys.iter().map(|k| key_values(k)))
                    .with_expression(expr, params);
            } else if !keys.is_empty() {
                return Err("--key on write names the rows --set updates; give --set too".into());
            } else if format == Format::Arrow {
                write = write.with_batches(read_arrow(io::stdin().lock())?);
            } else if matches!(format, Format::Table | Format::Csv) {
                return Err("write reads json (one object per line) or arrow; not csv or table".into());
            } else {
                let items = if items.is_empty() {
                    read_json_lines(io::stdin().lock())?
                } else {
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, t)| json_item(t, &format!("item {i}")))
                        .collect::<Result<_, _>>()?
                };
                write = write.with_items(items);
            }
            if let Some(c) = &condition {
                write = write.condition(c);
            }
            let n = write.do_().map_err(fail)?;
            eprintln!("wrote {n} row(s) to {path}");
        }
        Op::Create {
            path,
            schema,
            key,
            options,
        } => {
            let mut create = tables.create(&path).schema(&schema);
            if let Some(k) = &key {
                let mut parts = k.split(',').map(str::trim);
                let partition = parts.next().unwrap_or_default();
                create = create.primary_key(partition, parts.next());
            }
            for o in &options {
                let (k, v) = o
                    .split_once('=')
                    .ok_or_else(|| format!("--option '{o}' is not KEY=VALUE"))?;
                create = create.option(k, v);
            }
            create.do_().map_err(fail)?;
            eprintln!("created {path}");
        }
        Op::Drop { path } => {
            tables.drop(&path).do_().map_err(fail)?;
            eprintln!("dropped {path}");
        }
        Op::Alter { path, add, schema } => {
            if add.is_empty() && schema.is_none() {
                return Err("alter needs --add-column COLUMN or --schema SCHEMA".into());
            }
            let mut alter = tables.alter(&path);
            for c in &add {
                alter = alter.add_column(c);
            }
            if let Some(s) = &schema {
                alter = alter.schema(s);
            }
            alter.do_().map_err(fail)?;
            eprintln!("altered {path}");
        }
        Op::Schema { path, version } => {
            let mut req = tables.schema(&path);
            if let Some(n) = version {
                req = req.version(n);
            }
            let schema = req.do_().map_err(fail)?;
            if let Some(v) = &schema.version {
                let made = v
                    .time_ms()
                    .and_then(arrow::array::temporal_conversions::timestamp_ms_to_datetime)
                    .map_or_else(|| "at a time not known".to_string(), |t| format!("{t} UTC"));
                println!("-- version {}, made {made}", v.number);
            }
            for c in &schema.columns {
                println!("{c}");
            }
            if !schema.key.is_empty() {
                println!("PRIMARY KEY ({})", schema.key.join(", "));
            }
        }
        Op::Watch { path, how } => crate::watch::print(tables.watch(&path), how)?,
    }
    Ok(())
}

/// A literal as the filter language writes it (`1`, `2.5`, `'text'`, `true`, `null`); any
/// other word is a string.
fn literal(text: &str) -> Value {
    parse_literal(text.trim()).unwrap_or_else(|_| Value::Str(text.to_string()))
}

/// A key's values: comma separated literals.
fn key_values(text: &str) -> Vec<Value> {
    text.split(',').map(literal).collect()
}

fn parse_partition(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--partition '{text}' is not P/N (part P of N parts, 0-based)");
    let (p, n) = text.split_once('/').ok_or_else(bad)?;
    Ok((
        p.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    ))
}

fn json_item(text: &str, what: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

fn read_json_lines(input: impl BufRead) -> Result<Vec<serde_json::Value>, String> {
    let mut items = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read standard input: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(json_item(&line, &format!("line {} of standard input", i + 1))?);
    }
    Ok(items)
}

fn read_arrow(input: impl io::Read) -> Result<Vec<RecordBatch>, String> {
    let read = || {
        let reader = arrow::ipc::reader::StreamReader::try_new(input, None)
            .map_err(|e| format!("standard input is not an Arrow IPC stream: {e}"))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("standard input is not an Arrow IPC stream: {e}"))
    };
    // arrow-ipc 60 panics on some malformed streams (buffer offsets past the message, found
    // by the `ipc_write` fuzz target) instead of answering an error: such input is refused
    // the same way, without a panic message.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|_| {
        Err("standard input is not a well-formed Arrow IPC stream (a buffer lies outside its message)".into())
    })
}

/// JSON output of floats: finite ones as numbers, the others as text.
#[derive(Debug)]
struct NonFiniteAsText;

struct FloatText<'a>(&'a dyn arrow::array::Array);

impl arrow::json::writer::Encoder for FloatText<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        use arrow::array::AsArray;
        let v = match self.0.data_type() {
            arrow::datatypes::DataType::Float32 => {
                self.0.as_primitive::<arrow::datatypes::Float32Type>().value(idx) as f64
            }
            _ => self.0.as_primitive::<arrow::datatypes::Float64Type>().value(idx),
        };
        let text = match v {
            v if v.is_nan() => "\"NaN\"".to_string(),
            v if v == f64::INFINITY => "\"Infinity\"".to_string(),
            v if v == f64::NEG_INFINITY => "\"-Infinity\"".to_string(),
            // Debug: the shortest text that reads back as the same float (`1e300`, `0.1`).
            v => format!("{v:?}"),
        };
        out.extend_from_slice(text.as_bytes());
    }
}

impl arrow::json::writer::EncoderFactory for NonFiniteAsText {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a arrow::datatypes::FieldRef,
        array: &'a dyn arrow::array::Array,
        _options: &'a arrow::json::writer::EncoderOptions,
    ) -> Result<Option<arrow::json::writer::NullableEncoder<'a>>, arrow::error::ArrowError> {
        use arrow::datatypes::DataType;
        if !matches!(array.data_type(), DataType::Float32 | DataType::Float64) {
            return Ok(None);
        }
        Ok(Some(arrow::json::writer::NullableEncoder::new(
            Box::new(FloatText(array)),
            array.nulls().cloned(),
        )))
    }
}

/// A batch whose list, struct and map columns are replaced by their values' JSON text (CSV
/// has no other text for them).
fn nested_as_json(batch: RecordBatch) -> Result<RecordBatch, String> {
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    if !batch.schema().fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if !f.data_type().is_nested() {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
            continue;
        }
        let values =
            StringArray::from(bindery_core::table::build::json_texts(c.as_ref()).map_err(|e| e.to_string())?);
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        columns.push(Arc::new(values) as arrow::array::ArrayRef);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

fn print_rows(mut reader: bindery::TableReader, format: Format) -> Result<(), String> {
    let schema = reader.schema().map_err(|e| e.to_string())?;
    let stdout = io::stdout();
    let out = io::BufWriter::new(stdout.lock());
    let broken = |e: &dyn std::fmt::Display| format!("cannot write the rows: {e}");
    match format {
        Format::Table => {
            let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let batches = if batches.is_empty() {
                vec![RecordBatch::new_empty(schema)]
            } else {
                batches
            };
            let table = arrow::util::pretty::pretty_format_batches(&batches).map_err(|e| broken(&e))?;
            let mut out = out;
            writeln!(out, "{table}").map_err(|e| broken(&e))?;
            writeln!(out, "{rows} row(s)").map_err(|e| broken(&e))?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            let mut any = false;
            for b in reader {
                w.write(&nested_as_json(b.map_err(|e| e.to_string())?)?)
                    .map_err(|e| broken(&e))?;
                any = true;
            }
            if !any {
                // Still the header, so a consumer knows the columns.
                w.write(&nested_as_json(RecordBatch::new_empty(schema))?)
                    .map_err(|e| broken(&e))?;
            }
        }
        Format::Json => {
            // Every column on every line (`null` included), and NaN and the infinities as the
            // strings "NaN", "Infinity", "-Infinity" (protobuf's JSON mapping), which JSON
            // numbers cannot hold.
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .with_encoder_factory(Arc::new(NonFiniteAsText))
                .build::<_, arrow::json::writer::LineDelimited>(out);
            for b in reader {
                w.write(&b.map_err(|e| e.to_string())?).map_err(|e| broken(&e))?;
            }
            w.finish().map_err(|e| broken(&e))?;
        }
        Format::Arrow => {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(out, &schema).map_err(|e| broken(&e))?;
            for b in reader {
                w.write(&b.map_err(|e| e.to_string())?).map_err(|e| broken(&e))?;
            }
            w.finish().map_err(|e| broken(&e))?;
        }
    }
    Ok(())
}
