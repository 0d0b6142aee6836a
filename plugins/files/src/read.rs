//! Reads: the files of a table planned into units (a Parquet file's row groups, or a whole
//! CSV or JSON-lines file), read on a blocking thread into batches of the table's schema,
//! filtered, projected and limited, and handed over a bounded channel (the reader runs
//! ahead by two batches).
//!
//! - **Projection**: only the columns selected or filtered on are decoded (Parquet column
//!   chunks, CSV fields; JSON-lines objects keep only those fields).
//! - **Filter**: row groups whose statistics rule the filter out are skipped (see
//!   [`crate::prune`]); every row read is then filtered with Arrow compute.
//! - **Partition** `(part, parts)`: with at least `parts` units, part `p` reads units
//!   `p, p + parts, …`; with fewer, every part reads every unit and keeps rows
//!   `p, p + parts, …` of each.
//! - **Schema evolution**: a column a file lacks (added to the table after the file was
//!   written) reads as the column's default; a column of another type in a file not written
//!   by bindery is cast to the table's type (an impossible cast is an error naming the file).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use bindery_core::filter::Expr;
use bindery_core::table::compute::{default_array, mask, project_schema};
use bindery_core::{Column, ColumnType, Error, OpRead, Result, TableRead, TableSchema};
use futures::StreamExt;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::ProjectionMask;

use crate::error::bad_file;
use crate::format::{parquet_metadata, plain, Format};
use crate::prune::{prunable, RowGroupStats};

type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>>;

/// Rows per batch.
pub const BATCH_ROWS: usize = 8192;

/// Part of a table one reader reads: a file, or some row groups of a Parquet file.
struct Unit {
    path: PathBuf,
    format: Format,
    /// For Parquet: the file's metadata and the row groups to read.
    parquet: Option<(ArrowReaderMetadata, Vec<usize>)>,
}

/// A planned read.
pub struct Plan {
    table: String,
    schema: TableSchema,
    /// The table columns decoded: those selected and those filtered on, in table order.
    needed: Vec<usize>,
    needed_schema: SchemaRef,
    /// Which of `needed` the answer has, in its order.
    out: Vec<usize>,
    out_schema: SchemaRef,
    filter: Option<Expr>,
    limit: Option<u64>,
    /// Keep rows `i` with `i % .1 == .0` of each unit.
    modulo: Option<(u32, u32)>,
    units: Vec<Unit>,
}

/// The data files of a table, in name order: every file under `dir` whose name does not
/// begin with `_` or `.`; `InvalidInput` naming a file of no known format.
/// A folder below `dir` that holds another table's description, if any.
pub fn nested_table(dir: &Path) -> Option<PathBuf> {
    let mut todo = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = todo.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if path.join(crate::table::META).is_file() {
                return Some(path);
            }
            if depth < 32 {
                todo.push((path, depth + 1));
            }
        }
    }
    None
}

pub fn data_files(dir: &Path, table: &str) -> Result<Vec<(PathBuf, Format)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let what = format!("list the folder '{}' of table '{table}'", d.display());
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(e, &what))? {
            let entry = entry.map_err(|e| Error::io(e, &what))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type().map_err(|e| Error::io(e, &what))?.is_dir() {
                // Another table's folder (made by an older version) is not part of this one.
                if !path.join(crate::table::META).is_file() {
                    todo.push(path);
                }
                continue;
            }
            let format = Format::of_path(&path).ok_or_else(|| {
                Error::invalid_input(format!(
                    "the file '{}' in table '{table}' is not .parquet, .csv or .jsonl; move it out of \
                     the folder or rename it to begin with '_'",
                    path.display()
                ))
            })?;
            out.push((path, format));
        }
    }
    out.sort();
    Ok(out)
}

impl Plan {
    /// Plans a read of `files` as a table of `schema`.
    pub fn new(table: &str, schema: TableSchema, files: Vec<(PathBuf, Format)>, op: &OpRead) -> Result<Plan> {
        let arrow = schema.to_arrow();
        let filter = op.filter.as_ref().map(|f| f.expr.clone());
        let filtered = op.filter.as_ref().map(|f| f.columns()).unwrap_or_default();
        let needed: Vec<usize> = if op.select.is_empty() {
            (0..schema.columns.len()).collect()
        } else {
            project_schema(&arrow, &op.select, table)?;
            (0..schema.columns.len())
                .filter(|i| {
                    let name = &schema.columns[*i].name;
                    op.select.contains(name) || filtered.contains(name)
                })
                .collect()
        };
        let needed_schema = Arc::new(
            arrow
                .project(&needed)
                .map_err(|e| Error::internal(e.to_string()))?,
        );
        let (out_schema, out) = if op.select.is_empty() {
            (needed_schema.clone(), (0..needed.len()).collect())
        } else {
            project_schema(&needed_schema, &op.select, table)?
        };

        // Every unit of the table, in order; a partition takes every `parts`-th.
        let mut units = Vec::new();
        for (path, format) in files {
            if format != Format::Parquet {
                units.push(Unit {
                    path,
                    format,
                    parquet: None,
                });
                continue;
            }
            let what = format!("read '{}'", path.display());
            let meta = parquet_metadata(File::open(&path).map_err(|e| Error::io(e, &what))?, &path)?;
            for rg in 0..meta.metadata().num_row_groups() {
                units.push(Unit {
                    path: path.clone(),
                    format,
                    parquet: Some((meta.clone(), vec![rg])),
                });
            }
        }
        let mut modulo = None;
        if let Some((part, parts)) = op.partition {
            if units.len() >= parts as usize {
                units = units
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i % parts as usize == part as usize)
                    .map(|(_, u)| u)
                    .collect();
            } else {
                modulo = Some((part, parts));
            }
        }
        if let Some(f) = &filter {
            units.retain(|u| u.may_match(&schema, f));
        }
        Ok(Plan {
            table: table.to_string(),
            schema,
            needed,
            needed_schema,
            out,
            out_schema,
            filter,
            limit: op.limit,
            modulo,
            units: merge(units),
        })
    }

    /// How many Parquet row groups (or whole other files) the read will open.
    #[cfg(test)]
    pub fn row_groups(&self) -> usize {
        self.units
            .iter()
            .map(|u| u.parquet.as_ref().map_or(1, |(_, rgs)| rgs.len()))
            .sum()
    }

    /// The schema of the answer.
    pub fn schema(&self) -> SchemaRef {
        self.out_schema.clone()
    }

    /// Reads every unit, handing each answer batch to `f`; the first error of either ends it.
    pub fn each(self, mut f: impl FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let mut failed = None;
        self.run(|batch| match f(batch) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Reads every unit, handing each answer batch to `sink` until it returns `false`.
    pub fn run(self, mut sink: impl FnMut(RecordBatch) -> bool) -> Result<()> {
        let mut left = self.limit;
        for unit in 0..self.units.len() {
            if left == Some(0) {
                return Ok(());
            }
            let mut more = true;
            self.run_unit(unit, |b| {
                more = limited(&mut left, b).is_none_or(&mut sink) && left != Some(0);
                more
            })?;
            if !more {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads unit `unit` (the limit aside), handing each answer batch to `sink` until it
    /// returns `false`.
    fn run_unit(&self, unit: usize, mut sink: impl FnMut(RecordBatch) -> bool) -> Result<()> {
        let unit = &self.units[unit];
        let mut row = 0u64;
        let (batches, filtered) = self.open(unit)?;
        // What the row groups say they hold, to catch a reader that decodes fewer rows
        // (layouts the parquet crate misreads) rather than answer them short without a word.
        let expected: Option<u64> = match &unit.parquet {
            Some((meta, groups)) if !filtered => Some(
                groups
                    .iter()
                    .map(|g| meta.metadata().row_group(*g).num_rows().max(0) as u64)
                    .sum(),
            ),
            _ => None,
        };
        let mut decoded = 0u64;
        for batch in batches {
            let batch = batch.map_err(|e| bad_file(&unit.path, e))?;
            decoded += batch.num_rows() as u64;
            let mut b = self.adapt(batch, &unit.path)?;
            if let Some((part, parts)) = self.modulo {
                let keep: UInt32Array = (0..b.num_rows() as u64)
                    .filter(|i| (row + i) % parts as u64 == part as u64)
                    .map(|i| i as u32)
                    .collect();
                row += b.num_rows() as u64;
                b = take(&b, &keep)?;
            }
            if let Some(f) = self.filter.as_ref().filter(|_| !filtered) {
                let m = mask(f, &b, &self.table)?;
                b = arrow::compute::filter_record_batch(&b, &m)
                    .map_err(|e| Error::internal(e.to_string()))?;
            }
            let b = RecordBatch::try_new_with_options(
                self.out_schema.clone(),
                self.out.iter().map(|i| b.column(*i).clone()).collect(),
                &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
            )
            .map_err(|e| bad_file(&unit.path, e))?;
            if b.num_rows() > 0 && !sink(b) {
                return Ok(());
            }
        }
        match expected {
            Some(n) if n != decoded => Err(bad_file(
                &unit.path,
                format!(
                    "its row group metadata says {n} rows, but the parquet reader decoded {decoded}: it cannot read this file's layout"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A reader of the needed columns of a unit that the file has.
    /// Also says whether the reader applies the filter itself (a Parquet row filter: the
    /// filter's columns are decoded first, and the others only for the rows that pass).
    fn open(&self, unit: &Unit) -> Result<(Batches, bool)> {
        let path = &unit.path;
        let what = format!("read '{}'", path.display());
        let file = File::open(path).map_err(|e| Error::io(e, &what))?;
        let wanted = |name: &str| self.needed.iter().any(|i| self.schema.columns[*i].name == name);
        Ok((
            match (&unit.parquet, unit.format) {
                (Some((meta, row_groups)), _) => {
                    let fields = meta.schema().fields();
                    let roots: Vec<usize> = (0..fields.len()).filter(|i| wanted(fields[*i].name())).collect();
                    let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
                    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
                        .with_projection(mask)
                        .with_row_groups(row_groups.clone())
                        .with_batch_size(BATCH_ROWS);
                    let row_filter = self.row_filter(meta);
                    let filtered = row_filter.is_some();
                    if let Some(f) = row_filter {
                        builder = builder.with_row_filter(f);
                    }
                    return Ok((
                        Box::new(builder.build().map_err(|e| bad_file(path, e))?),
                        filtered,
                    ));
                }
                (None, Format::Csv) => {
                    // The file's own header says which columns it has, in its order.
                    let names = Format::Csv.columns(path)?;
                    let fields: Vec<Field> = names
                        .iter()
                        .map(|n| match self.schema.column(n) {
                            Some(c) => c.to_field(),
                            None => Field::new(n, arrow::datatypes::DataType::Utf8, true),
                        })
                        .collect();
                    let projection: Vec<usize> = (0..names.len()).filter(|i| wanted(&names[*i])).collect();
                    let text = fields
                        .iter()
                        .map(|f| {
                            matches!(
                                f.data_type(),
                                arrow::datatypes::DataType::Utf8 | arrow::datatypes::DataType::LargeUtf8
                            )
                        })
                        .collect();
                    let reader = arrow::csv::ReaderBuilder::new(plain(&Schema::new(fields)))
                        .with_header(true)
                        .with_batch_size(BATCH_ROWS)
                        .with_projection(projection)
                        .with_null_regex(crate::format::null_regex())
                        .build(crate::csv::ReadNulls::new(file, text))
                        .map_err(|e| bad_file(path, e))?;
                    Box::new(reader)
                }
                (None, _) => {
                    let names = Format::Json.columns(path)?;
                    let fields: Vec<Field> = self
                        .needed
                        .iter()
                        .map(|i| &self.schema.columns[*i])
                        .filter(|c| names.contains(&c.name))
                        .map(Column::to_field)
                        .collect();
                    let reader = arrow::json::ReaderBuilder::new(plain(&Schema::new(fields)))
                        .with_batch_size(BATCH_ROWS)
                        .build(BufReader::new(file))
                        .map_err(|e| bad_file(path, e))?;
                    Box::new(reader)
                }
            },
            false,
        ))
    }

    /// The filter as a Parquet row filter, when the file holds every column it names with the
    /// table's type (so it evaluates on the file's values as they are) and no partition
    /// counts rows before filtering.
    fn row_filter(&self, meta: &ArrowReaderMetadata) -> Option<RowFilter> {
        let filter = self.filter.clone()?;
        if self.modulo.is_some() {
            return None;
        }
        let fields = meta.schema().fields();
        let mut roots = Vec::new();
        for name in filter.columns() {
            let column = self.schema.column(&name)?;
            let i = fields.iter().position(|f| f.name() == &name)?;
            if fields[i].data_type() != &column.column_type.data_type() {
                return None;
            }
            roots.push(i);
        }
        let table = self.table.clone();
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::roots(meta.parquet_schema(), roots),
            move |batch: RecordBatch| {
                mask(&filter, &batch, &table).map_err(|e| ArrowError::ComputeError(e.to_string()))
            },
        );
        Some(RowFilter::new(vec![Box::new(predicate)]))
    }

    /// A batch of a file as a batch of the needed columns: a column the file lacks is the
    /// column's default; one of another type is cast.
    fn adapt(&self, batch: RecordBatch, path: &Path) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.needed.len());
        for (field, i) in self.needed_schema.fields().iter().zip(&self.needed) {
            let column = &self.schema.columns[*i];
            let array = match batch.column_by_name(&column.name) {
                Some(a) if a.data_type() == field.data_type() => a.clone(),
                Some(a) => arrow::compute::cast(a, field.data_type()).map_err(|e| {
                    bad_file(
                        path,
                        format!(
                            "column '{}' ({}) cannot be read as {}: {e}",
                            column.name,
                            a.data_type(),
                            column.column_type
                        ),
                    )
                })?,
                None => default_array(column, rows)?,
            };
            columns.push(array);
        }
        RecordBatch::try_new_with_options(
            self.needed_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| bad_file(path, e))
    }
}

impl Unit {
    /// Whether a row of the unit may pass the filter (by Parquet row-group statistics).
    fn may_match(&self, schema: &TableSchema, filter: &Expr) -> bool {
        let Some((meta, row_groups)) = &self.parquet else {
            return true;
        };
        let descr = meta.parquet_schema();
        let fields = meta.schema().fields();
        // Columns whose file type is the table's, and whose leaf is a top-level column.
        let columns: Vec<(String, usize, ColumnType)> = schema
            .columns
            .iter()
            .filter(|c| prunable(&c.column_type))
            .filter_map(|c| {
                let f = fields.iter().find(|f| f.name() == &c.name)?;
                if f.data_type() != &c.column_type.data_type() {
                    return None;
                }
                let leaf = (0..descr.num_columns()).find(|l| {
                    let path = descr.column(*l).path().parts().to_vec();
                    path == [c.name.clone()]
                })?;
                Some((c.name.clone(), leaf, c.column_type.clone()))
            })
            .collect();
        row_groups.iter().any(|rg| {
            RowGroupStats {
                row_group: meta.metadata().row_group(*rg),
                columns: &columns,
            }
            .may_match(filter)
        })
    }
}

/// Joins consecutive units of the same Parquet file into one (one open, one reader).
fn merge(units: Vec<Unit>) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    for u in units {
        if let (Some(last), Some((_, rgs))) = (out.last_mut(), &u.parquet) {
            if last.path == u.path {
                if let Some((_, last_rgs)) = last.parquet.as_mut() {
                    last_rgs.extend(rgs);
                    continue;
                }
            }
        }
        out.push(u);
    }
    out
}

fn take(b: &RecordBatch, rows: &UInt32Array) -> Result<RecordBatch> {
    let columns = b
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c.as_ref(), rows, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(e.to_string()))?;
    RecordBatch::try_new_with_options(
        b.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| Error::internal(e.to_string()))
}

/// What is left of `b` under the read's limit (counting it down), or `None` once it is spent.
fn limited(left: &mut Option<u64>, b: RecordBatch) -> Option<RecordBatch> {
    match left {
        None => Some(b),
        Some(0) => None,
        Some(n) => {
            let take = (*n).min(b.num_rows() as u64);
            *n -= take;
            Some(b.slice(0, take as usize))
        }
    }
}

/// Units decoded at once: the one being answered and the next, each on a blocking thread of
/// its own, so a table of several files (or row-group runs) keeps two cores decoding as
/// `pyarrow.parquet.read_table` does. Answers stay in unit order.
const READ_AHEAD: usize = 2;

/// Runs a read on blocking threads, unit after unit with the next one decoded ahead; the
/// schema is known when this returns.
pub async fn read(plan: Plan) -> Result<TableRead> {
    let schema = plan.schema();
    let plan = Arc::new(plan);
    let (count, limit) = (plan.units.len(), plan.limit);
    let decode = move |unit: usize| {
        let plan = plan.clone();
        let (tx, rx) = flume::bounded::<Result<RecordBatch>>(2);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = plan.run_unit(unit, |b| tx.send(Ok(b)).is_ok()) {
                let _ = tx.send(Err(e));
            }
        });
        futures::future::ready(rx.into_stream())
    };
    let units = futures::stream::iter(0..count)
        .map(decode)
        .buffered(READ_AHEAD)
        .flatten()
        .boxed();
    // The limit is applied here, in unit order; the stream ends once it is spent (dropping the
    // decoders' channels stops them) or after an error.
    let batches = futures::stream::unfold((units, limit), |(mut units, mut left)| async move {
        if left == Some(0) {
            return None;
        }
        match units.next().await? {
            Ok(b) => {
                let b = limited(&mut left, b)?;
                Some((Ok(b), (units, left)))
            }
            Err(e) => Some((Err(e), (units, Some(0)))),
        }
    })
    .boxed();
    Ok(TableRead { schema, batches })
}
