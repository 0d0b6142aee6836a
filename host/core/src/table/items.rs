//! Checking a write against the table's schema, before any driver sees it.
//!
//! Items must name known columns only, give every required column (`NOT NULL` without a
//! default, and the key), and give each column a value of its type; a column left out is
//! absent (not written as `NULL`). Expressions may set only columns that are neither part of
//! the key nor read-only. Every refusal names the item, the column and the reason, and
//! nothing of the write reaches the driver.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, FixedSizeBinaryBuilder, Float32Array,
    Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::kernels::cast_utils::{string_to_timestamp_nanos, Parser};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{Date32Type, Field, Schema, SchemaRef};
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::filter::{BinOp, Expr, Value};
use crate::table::compute::{self, literal_array};
use crate::table::schema::{self, Column, ColumnType, TableSchema};
use crate::table::{Items, Key, OpDeleteRows, OpRead, OpWrite};

type Row = Map<String, Json>;

fn bad(table: &str, item: usize, column: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!(
        "item {item} of the write to table '{table}': column '{column}' {why}"
    ))
}

/// Checks a write and turns its items into batches of the schema's types. Afterwards
/// `op.items` is `Items::Batches` (or `Items::None`).
pub fn check_write(schema: &TableSchema, op: &mut OpWrite, table: &str) -> Result<()> {
    let arrow_schema = schema.to_arrow();
    let keyed = !schema.key.is_empty();
    if !keyed && (op.expression.is_some() || !op.keys.is_empty() || op.condition.is_some()) {
        return Err(Error::invalid_input(format!(
            "table '{table}' has no primary key: it can only be appended to (no keys, expression or condition)"
        )));
    }
    if op.items.is_empty() && op.expression.is_none() {
        return Err(Error::invalid_input(format!(
            "the write to table '{table}' has nothing to write: give items (with_items) or an expression (with_expression)"
        )));
    }
    if !op.items.is_empty() && op.expression.is_some() {
        return Err(Error::invalid_input(format!(
            "the write to table '{table}' gives both items and an expression: give one"
        )));
    }
    if let Some(expr) = &op.expression {
        if op.keys.is_empty() {
            return Err(Error::invalid_input(format!(
                "the update expression '{}' needs the keys of the rows it updates (to_keys)",
                expr.text
            )));
        }
        let empty = RecordBatch::new_empty(arrow_schema.clone());
        for (column, value) in &expr.set {
            let c = schema.expect_column(column, table)?;
            if schema.key.contains(column) {
                return Err(Error::invalid_input(format!(
                    "the update expression sets column '{column}', which is part of the primary key of table '{table}'"
                )));
            }
            if c.read_only {
                return Err(Error::invalid_input(format!(
                    "the update expression sets column '{column}' of table '{table}', which is read-only: it cannot change after the row is created"
                )));
            }
            let typed = compute::evaluate(value, &empty, table)?;
            let want = c.column_type.data_type();
            // A fraction never goes into an integer column (it would be cut off), as with
            // literals.
            let fits = typed.data_type() == &want
                || typed.data_type().is_null() && c.nullable
                || arrow::compute::can_cast_types(typed.data_type(), &want)
                    && typed.data_type().is_numeric() == want.is_numeric()
                    && !(typed.data_type().is_floating() && want.is_integer());
            if !fits {
                return Err(Error::invalid_input(format!(
                    "the update expression sets column '{column}' ({}) to {}, which is {}",
                    c.column_type,
                    compute::describe(value),
                    typed.data_type()
                )));
            }
        }
    }
    for k in &op.keys {
        typed_key(schema, k, table)?;
    }
    if let Some(cond) = &op.condition {
        compute::check_filter(cond, &arrow_schema, table)?;
    }
    op.items = match std::mem::take(&mut op.items) {
        Items::None => Items::None,
        Items::Json(rows) => Items::Batches(json_batches(schema, &rows, table)?),
        Items::Batches(batches) => {
            let mut first = 0;
            let mut out = Vec::with_capacity(batches.len());
            for b in batches {
                let n = b.num_rows();
                out.push(check_batch(schema, &b, table, first)?);
                first += n;
            }
            Items::Batches(out)
        }
    };
    Ok(())
}

/// Checks that a write's condition holds for every row it touches, as the row is before the
/// write (`now`: one row per touched key, a missing row all NULL); `ConditionFailed` naming
/// the first row's key (`key(i)` describes row `i`'s) otherwise.
pub fn check_condition(
    cond: &crate::filter::Filter,
    now: &RecordBatch,
    table: &str,
    key: impl Fn(usize) -> String,
) -> Result<()> {
    let passed = compute::mask(&cond.expr, now, table)?;
    if let Some(i) = (0..passed.len()).find(|i| !passed.value(*i)) {
        return Err(Error::condition_failed(format!(
            "the condition '{}' does not hold for the row of table '{table}' with key {}; nothing was written",
            cond.text,
            key(i)
        )));
    }
    Ok(())
}

/// Checks an update by expression against the rows of its keys as they are (`now`, `exists`):
/// its condition holds for each, and each exists (`NotFound` naming the first key without a
/// row otherwise).
pub fn check_update(
    cond: Option<&crate::filter::Filter>,
    now: &RecordBatch,
    exists: &[bool],
    table: &str,
    key: impl Fn(usize) -> String,
) -> Result<()> {
    if let Some(cond) = cond {
        check_condition(cond, now, table, &key)?;
    }
    match exists.iter().position(|e| !e) {
        Some(i) => Err(Error::not_found(format!(
            "no row of table '{table}' has key {}, so the update expression has nothing to update; nothing was written",
            key(i)
        ))),
        None => Ok(()),
    }
}

/// Checks that items leave the read-only columns of rows that exist as they are: `now` holds
/// the rows before the write (every column of `schema`, one row per item) and `exists` which
/// exist. `InvalidInput` naming the column, the key and the item otherwise.
pub fn check_read_only(
    schema: &TableSchema,
    items: &RecordBatch,
    now: &RecordBatch,
    exists: &[bool],
    table: &str,
    key: impl Fn(usize) -> String,
) -> Result<()> {
    for (i, field) in items.schema().fields().iter().enumerate() {
        let Some(at) = schema
            .columns
            .iter()
            .position(|c| c.name == *field.name() && c.read_only)
        else {
            continue;
        };
        for r in (0..items.num_rows()).filter(|r| exists[*r]) {
            let before = now.column(at).slice(r, 1).to_data();
            let after = items.column(i).slice(r, 1).to_data();
            if before != after {
                return Err(Error::invalid_input(format!(
                    "column '{}' of table '{table}' is read-only: the row with key {} has it already, and item {r} would change it; nothing was written",
                    field.name(),
                    key(r)
                )));
            }
        }
    }
    Ok(())
}

/// A key's values as one-value arrays of the key columns' types.
pub fn typed_key(schema: &TableSchema, key: &Key, table: &str) -> Result<Vec<ArrayRef>> {
    if schema.key.is_empty() {
        return Err(Error::invalid_input(format!(
            "table '{table}' has no primary key, so rows cannot be named by key"
        )));
    }
    if key.len() != schema.key.len() {
        return Err(Error::invalid_input(format!(
            "a key of table '{table}' has {} value(s), one per key column ({}); got {}",
            schema.key.len(),
            schema.key.join(", "),
            key.len()
        )));
    }
    schema
        .key
        .iter()
        .zip(key)
        .map(|(name, v)| {
            let c = schema.expect_column(name, table)?;
            if *v == Value::Null {
                return Err(Error::invalid_input(format!(
                    "key column '{name}' cannot be NULL"
                )));
            }
            literal_array(v, &c.column_type, name)
        })
        .collect()
}

/// The filter that picks the rows of `keys`: `(k1 = v AND k2 = w) OR …`.
pub fn key_filter(schema: &TableSchema, keys: &[Key], table: &str) -> Result<Expr> {
    let mut any: Option<Expr> = None;
    for k in keys {
        typed_key(schema, k, table)?;
        let mut all: Option<Expr> = None;
        for (name, v) in schema.key.iter().zip(k) {
            let eq = Expr::Binary(
                Box::new(Expr::Column(vec![name.clone()])),
                BinOp::Eq,
                Box::new(Expr::Literal(v.clone())),
            );
            all = Some(match all {
                None => eq,
                Some(prev) => Expr::Binary(Box::new(prev), BinOp::And, Box::new(eq)),
            });
        }
        if let Some(all) = all {
            any = Some(match any {
                None => all,
                Some(prev) => Expr::Binary(Box::new(prev), BinOp::Or, Box::new(all)),
            });
        }
    }
    any.ok_or_else(|| Error::invalid_input("no keys given"))
}

/// Checks a delete against the schema: keys of the key's types, a filter and a condition over
/// known columns, and at least keys or a filter.
pub fn check_delete(schema: &TableSchema, op: &OpDeleteRows, table: &str) -> Result<()> {
    if op.keys.is_empty() && op.filter.is_none() {
        return Err(Error::invalid_input(format!(
            "the delete from table '{table}' names no rows: give keys, a filter (where_), or where_(\"true\") to remove every row"
        )));
    }
    for k in &op.keys {
        typed_key(schema, k, table)?;
    }
    let arrow_schema = schema.to_arrow();
    for f in op.filter.iter().chain(&op.condition) {
        for name in f.expr.columns() {
            if let Some(c) = schema.column(&name) {
                c.column_type.check_supported(&name)?;
            }
        }
        compute::check_filter(f, &arrow_schema, table)?;
    }
    Ok(())
}

/// Which of the rows a delete found it removes. `found` holds every column of the rows of
/// its keys, or of the rows passing the part of its filter the backend evaluated; the rows
/// removed are those passing the whole filter (evaluated here, as bindery defines it). The
/// condition must hold for each of them: `ConditionFailed` naming the first that fails (by
/// its key) otherwise.
pub fn rows_to_delete(
    schema: &TableSchema,
    op: &OpDeleteRows,
    found: &RecordBatch,
    table: &str,
) -> Result<Vec<usize>> {
    let rows: Vec<usize> = match &op.filter {
        None => (0..found.num_rows()).collect(),
        Some(f) => {
            let pass = compute::mask(&f.expr, found, table)?;
            (0..pass.len()).filter(|i| pass.value(*i)).collect()
        }
    };
    if let Some(cond) = &op.condition {
        let holds = compute::mask(&cond.expr, found, table)?;
        if let Some(i) = rows.iter().find(|i| !holds.value(**i)) {
            return Err(Error::condition_failed(format!(
                "the condition '{}' does not hold for the row of table '{table}' {}; nothing was removed",
                cond.text,
                row_named(schema, found, *i)
            )));
        }
    }
    Ok(rows)
}

/// Row `i` of `batch` (every column of `schema`) for a message: `with key ('a', 2)`, or its
/// values on a table without a key.
fn row_named(schema: &TableSchema, batch: &RecordBatch, i: usize) -> String {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|a| arrow::util::display::array_value_to_string(a, i).ok())
            .unwrap_or_default()
    };
    match schema.key.is_empty() {
        true => {
            let values: Vec<String> = schema
                .columns
                .iter()
                .map(|c| format!("{} = {}", c.name, text(&c.name)))
                .collect();
            format!("({})", values.join(", "))
        }
        false => {
            let values: Vec<String> = schema.key.iter().map(|k| text(k)).collect();
            format!("with key ({})", values.join(", "))
        }
    }
}

/// Checks a read's filter, select and keys against the schema.
pub fn check_read(schema: &TableSchema, op: &OpRead, table: &str) -> Result<()> {
    let arrow_schema = schema.to_arrow();
    compute::project_schema(&arrow_schema, &op.select, table)?;
    // A column of a type bindery lacks blocks only a read that would return or filter it.
    let filtered = op.filter.as_ref().map(|f| f.expr.columns()).unwrap_or_default();
    for c in &schema.columns {
        let read = if op.select.is_empty() {
            op.sql.is_none()
        } else {
            op.select.contains(&c.name)
        };
        if read || filtered.contains(&c.name) {
            c.column_type.check_supported(&c.name)?;
        }
    }
    if let Some(f) = &op.filter {
        compute::check_filter(f, &arrow_schema, table)?;
    }
    for k in &op.keys {
        typed_key(schema, k, table)?;
    }
    crate::table::page::check_order(schema, &op.order_by, table)?;
    if let Some((part, parts)) = op.partition {
        if parts == 0 || part >= parts {
            return Err(Error::invalid_input(format!(
                "partition({part}, {parts}): the part must be below the number of parts, which must be at least 1"
            )));
        }
    }
    Ok(())
}

/// A batch of items checked against the schema: known columns, in schema order, cast to
/// their types, required ones present, no `NULL` where none may be. `first` is the item
/// number of the batch's first row (for messages).
pub fn check_batch(
    schema: &TableSchema,
    batch: &RecordBatch,
    table: &str,
    first: usize,
) -> Result<RecordBatch> {
    let given = batch.schema();
    let names: Vec<&str> = given.fields().iter().map(|f| f.name().as_str()).collect();
    check_columns(schema, &names, table, first)?;
    let strict = crate::table::compute::strict();
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for c in &schema.columns {
        let Some((i, _)) = given.column_with_name(&c.name) else {
            continue;
        };
        c.column_type.check_supported(&c.name)?;
        let mut array = batch.column(i).clone();
        let want = c.column_type.data_type();
        if array.data_type() != &want {
            array = cast_with_options(&array, &want, &strict).map_err(|e| {
                // The item that failed: the first whose value a lenient cast turns to NULL.
                let row = cast_with_options(&array, &want, &CastOptions::default())
                    .ok()
                    .and_then(|lenient| (0..array.len()).find(|r| !array.is_null(*r) && lenient.is_null(*r)))
                    .unwrap_or(0);
                bad(
                    table,
                    first + row,
                    &c.name,
                    format!("is {}, but got {} values: {e}", c.column_type, array.data_type()),
                )
            })?;
        }
        if !c.nullable && array.null_count() > 0 {
            let row = (0..array.len()).find(|r| array.is_null(*r)).unwrap_or(0);
            return Err(bad(
                table,
                first + row,
                &c.name,
                "is NOT NULL, but the item gives NULL",
            ));
        }
        fields.push(c.to_field());
        arrays.push(array);
    }
    batch_of(fields, arrays, batch.num_rows())
}

/// Checks the columns items give: each a column of the table, every required one there.
fn check_columns(schema: &TableSchema, given: &[&str], table: &str, first: usize) -> Result<()> {
    if let Some(unknown) = given.iter().find(|n| schema.column(n).is_none()) {
        return Err(bad(
            table,
            first,
            unknown,
            format!(
                "is not a column of the table (columns: {})",
                schema.names().join(", ")
            ),
        ));
    }
    let missing = schema
        .columns
        .iter()
        .find(|c| (c.required() || schema.key.contains(&c.name)) && !given.contains(&c.name.as_str()));
    match missing {
        Some(c) => Err(bad(
            table,
            first,
            &c.name,
            "is required (NOT NULL without a default) but not given",
        )),
        None => Ok(()),
    }
}

fn batch_of(fields: Vec<Field>, arrays: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, arrays, &options)
        .map_err(|e| Error::internal(format!("cannot build the batch of items: {e}")))
}

/// JSON items as batches: consecutive items giving the same columns share a batch.
fn json_batches(schema: &TableSchema, rows: &[Row], table: &str) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let same = |r: &Row| r.len() == rows[start].len() && r.keys().all(|k| rows[start].contains_key(k));
        let end = start + rows[start..].iter().take_while(|r| same(r)).count();
        out.push(json_batch(schema, &rows[start..end], table, start)?);
        start = end;
    }
    Ok(out)
}

fn json_batch(schema: &TableSchema, rows: &[Row], table: &str, first: usize) -> Result<RecordBatch> {
    let sample = &rows[0];
    let names: Vec<&str> = sample.keys().map(String::as_str).collect();
    check_columns(schema, &names, table, first)?;
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for c in &schema.columns {
        if !sample.contains_key(&c.name) {
            continue;
        }
        let values: Vec<&Json> = rows.iter().map(|r| &r[&c.name]).collect();
        arrays.push(json_array(c, &values, table, first)?);
        fields.push(c.to_field());
    }
    batch_of(fields, arrays, rows.len())
}

/// One column of JSON values as an array of the column's type.
fn json_array(c: &Column, values: &[&Json], table: &str, first: usize) -> Result<ArrayRef> {
    c.column_type.check_supported(&c.name)?;
    for (i, v) in values.iter().enumerate() {
        if v.is_null() && !c.nullable {
            return Err(bad(
                table,
                first + i,
                &c.name,
                "is NOT NULL, but the item gives null",
            ));
        }
    }
    let wrong = |i: usize, v: &Json| {
        bad(
            table,
            first + i,
            &c.name,
            format!("is {}, but the item gives {v}", c.column_type),
        )
    };
    macro_rules! typed {
        ($array:ty, $get:expr) => {{
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                out.push(if v.is_null() {
                    None
                } else {
                    Some($get(*v).ok_or_else(|| wrong(i, v))?)
                });
            }
            out.into_iter().collect::<$array>()
        }};
    }
    let int32 = |v: &Json| v.as_i64().and_then(|i| i32::try_from(i).ok());
    Ok(match &c.column_type {
        ColumnType::Bool => Arc::new(typed!(BooleanArray, |v: &Json| v.as_bool())),
        ColumnType::Int64 => Arc::new(typed!(Int64Array, |v: &Json| v.as_i64())),
        ColumnType::Int32 => Arc::new(typed!(Int32Array, int32)),
        ColumnType::Float64 => Arc::new(typed!(Float64Array, |v: &Json| v.as_f64())),
        ColumnType::Float32 => Arc::new(typed!(Float32Array, |v: &Json| v.as_f64().map(|f| f as f32))),
        ColumnType::String => Arc::new(typed!(StringArray, |v: &Json| v.as_str().map(str::to_string))),
        ColumnType::Json => Arc::new(typed!(StringArray, |v: &Json| Some(v.to_string()))),
        ColumnType::Binary => Arc::new(typed!(BinaryArray, json_bytes)),
        ty @ ColumnType::Timestamp { .. } if *ty == ColumnType::timestamp() => Arc::new(
            typed!(TimestampMicrosecondArray, |v: &Json| match v {
                Json::String(s) => string_to_timestamp_nanos(s).ok().map(|n| n.div_euclid(1000)),
                other => other.as_i64(),
            })
            .with_timezone(schema::UTC),
        ),
        ColumnType::Date => Arc::new(typed!(Date32Array, |v: &Json| match v {
            Json::String(s) => Date32Type::parse(s),
            other => int32(other),
        })),
        ColumnType::FixedBinary(n) => {
            let mut out = FixedSizeBinaryBuilder::with_capacity(values.len(), *n);
            for (i, v) in values.iter().enumerate() {
                if v.is_null() {
                    out.append_null();
                    continue;
                }
                let bytes = json_bytes(v).ok_or_else(|| wrong(i, v))?;
                out.append_value(&bytes).map_err(|_| {
                    bad(
                        table,
                        first + i,
                        &c.name,
                        format!("is {}, but the item gives {} bytes", c.column_type, bytes.len()),
                    )
                })?;
            }
            Arc::new(out.finish())
        }
        other => json_decode(other, values).map_err(|(i, e)| match values.get(i) {
            Some(v) => bad(
                table,
                first + i,
                &c.name,
                format!("is {}, but the item gives {v} ({e})", c.column_type),
            ),
            None => bad(table, first, &c.name, e),
        })?,
    })
}

/// Values of any type by arrow's JSON decoder (numbers into decimals by their text, times and
/// timestamps from ISO-8601 text or integers in the unit, lists from arrays, structs and maps
/// from objects); on failure, the index of the first value that fails and why.
pub(crate) fn json_decode(
    ty: &ColumnType,
    values: &[&Json],
) -> std::result::Result<ArrayRef, (usize, String)> {
    let schema = Arc::new(Schema::new(vec![Field::new("v", ty.data_type(), true)]));
    let decode = |values: &[&Json]| -> std::result::Result<ArrayRef, String> {
        let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(values.len().max(1))
            .with_strict_mode(true)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        let rows: Vec<Json> = values
            .iter()
            .map(|v| Json::Object(Map::from_iter([("v".to_string(), (*v).clone())])))
            .collect();
        decoder.serialize(&rows).map_err(|e| e.to_string())?;
        let batch = decoder.flush().map_err(|e| e.to_string())?;
        match batch {
            Some(b) => Ok(b.column(0).clone()),
            None => Ok(arrow::array::new_null_array(
                &schema.field(0).data_type().clone(),
                0,
            )),
        }
    };
    decode(values).map_err(|e| {
        let at = (0..values.len())
            .find(|i| decode(&values[*i..=*i]).is_err())
            .unwrap_or(0);
        (at, e)
    })
}

/// Bytes from JSON: a string's UTF-8, or an array of numbers 0–255.
fn json_bytes(v: &Json) -> Option<Vec<u8>> {
    match v {
        Json::String(s) => Some(s.as_bytes().to_vec()),
        Json::Array(a) => a
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Assignments, Filter, Params};
    use serde_json::json;

    fn schema() -> TableSchema {
        TableSchema::parse(
            "user string NOT NULL, age int32, addr string, version int64 NOT NULL DEFAULT 0, created timestamp READ ONLY, doc json",
        )
        .unwrap()
        .with_key("user", None)
        .unwrap()
    }

    fn rows(items: serde_json::Value) -> Items {
        let list = items.as_array().unwrap();
        Items::Json(list.iter().map(|r| r.as_object().unwrap().clone()).collect())
    }

    fn write(items: serde_json::Value) -> Result<Vec<RecordBatch>> {
        let mut op = OpWrite {
            items: rows(items),
            ..OpWrite::default()
        };
        check_write(&schema(), &mut op, "users")?;
        match op.items {
            Items::Batches(b) => Ok(b),
            _ => panic!("not batches"),
        }
    }

    #[test]
    fn json_items_become_typed_batches_keeping_absent_columns_absent() {
        let b = write(json!([
            {"user": "ana", "age": 41, "created": "2024-05-01T00:00:00Z", "doc": {"a": [1]}},
            {"user": "bob", "age": null, "created": 1, "doc": "x"},
            {"user": "cy"},
        ]))
        .unwrap();
        assert_eq!(b.len(), 2);
        let names: Vec<String> = b[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["user", "age", "created", "doc"]);
        assert_eq!(b[0].num_rows(), 2);
        assert!(b[0].column(1).is_null(1));
        let doc = b[0].column(3).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(doc.value(0), r#"{"a":[1]}"#);
        assert_eq!(doc.value(1), r#""x""#);
        let created = b[0]
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(created.value(0), 1_714_521_600_000_000);
        assert_eq!(b[1].num_columns(), 1);
    }

    #[test]
    fn a_batch_item_that_fails_its_cast_is_named_by_its_own_number() {
        use arrow::array::{Int64Array, StringArray};
        let fields = vec![
            arrow::datatypes::Field::new("user", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("age", arrow::datatypes::DataType::Int64, true),
        ];
        let mut ages: Vec<i64> = vec![7; 100_000];
        ages[99_999] = 5_000_000_000; // does not fit int32
        let users: Vec<String> = (0..100_000).map(|i| format!("u{i}")).collect();
        let batch = RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            vec![
                std::sync::Arc::new(StringArray::from(users)),
                std::sync::Arc::new(Int64Array::from(ages)),
            ],
        )
        .unwrap();
        let e = check_batch(&schema(), &batch, "users", 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("item 100009 of the write"), "{e}");
    }

    #[test]
    fn bad_items_name_item_column_and_reason() {
        let err = |v| write(v).unwrap_err().to_string();
        let e = err(json!([{"user": "a"}, {"user": "b", "age": "old"}]));
        assert!(
            e.contains(
                "item 1 of the write to table 'users': column 'age' is int32, but the item gives \"old\""
            ),
            "{e}"
        );
        let e = err(json!([{"user": "a", "nick": "x"}]));
        assert!(
            e.contains("column 'nick' is not a column of the table (columns: user, age"),
            "{e}"
        );
        let e = err(json!([{"age": 3}]));
        assert!(e.contains("column 'user' is required"), "{e}");
        let e = err(json!([{"user": null}]));
        assert!(e.contains("'user' is NOT NULL, but the item gives null"), "{e}");
        let e = err(json!([{"user": "a", "age": 3000000000u64}]));
        assert!(e.contains("is int32, but the item gives 3000000000"), "{e}");
        let e = err(json!([{"user": "a", "created": "yesterday"}]));
        assert!(e.contains("'created' is timestamp"), "{e}");
    }

    #[test]
    fn expressions_may_not_set_keys_or_read_only_columns() {
        let check = |text: &str, params: Params| {
            let mut op = OpWrite {
                keys: vec![vec![Value::Str("ana".into())]],
                expression: Some(Assignments::parse(text, &params).unwrap()),
                ..OpWrite::default()
            };
            check_write(&schema(), &mut op, "users")
        };
        let inc: Params = [("inc".to_string(), Value::Int(2))].into();
        check("version = version + :inc, addr = 'x'", inc).unwrap();
        let e = check("user = 'x'", Params::new()).unwrap_err().to_string();
        assert!(e.contains("'user', which is part of the primary key"), "{e}");
        let e = check("created = NULL", Params::new()).unwrap_err().to_string();
        assert!(e.contains("read-only"), "{e}");
        let e = check("age = 'x'", Params::new()).unwrap_err().to_string();
        assert!(e.contains("'age' (int32) to 'x'"), "{e}");
        let e = check("nope = 1", Params::new()).unwrap_err().to_string();
        assert!(e.contains("has no column 'nope'"), "{e}");
        let half: Params = [("x".to_string(), Value::Float(1.5))].into();
        let e = check("age = age + :x", half).unwrap_err().to_string();
        assert!(e.contains("'age' (int32) to age + 1.5, which is Float64"), "{e}");
    }

    #[test]
    fn keys_conditions_and_batches_are_checked() {
        let s = schema();
        let e = typed_key(&s, &vec![Value::Int(1), Value::Int(2)], "users")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has 1 value(s), one per key column (user); got 2"),
            "{e}"
        );
        let mut op = OpWrite {
            items: rows(json!([{"user": "a"}])),
            condition: Some(Filter::parse("vers = 1").unwrap()),
            ..OpWrite::default()
        };
        let e = check_write(&s, &mut op, "users").unwrap_err().to_string();
        assert!(e.contains("no column 'vers'"), "{e}");
        let given = RecordBatch::try_from_iter(vec![
            ("user", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
            ("age", Arc::new(Int64Array::from(vec![7]))),
        ])
        .unwrap();
        let b = check_batch(&s, &given, "users", 0).unwrap();
        assert_eq!(b.column(1).data_type(), &arrow::datatypes::DataType::Int32);
        let f = key_filter(
            &s,
            &[vec![Value::Str("a".into())], vec![Value::Str("b".into())]],
            "users",
        )
        .unwrap();
        assert_eq!(compute::describe(&f), "user = 'a' OR user = 'b'");
    }
}
