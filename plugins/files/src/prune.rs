//! Skipping Parquet row groups whose statistics prove no row passes the filter.
//!
//! A row group is skipped only when its min/max and null counts show that the filter cannot
//! hold for any of its rows; anything the statistics cannot decide keeps it (the filter is
//! applied to every row read anyway). Integers, dates, timestamps, booleans and strings are
//! pruned on; floats are not (NaN is left out of Parquet statistics but passes `>` in Arrow's
//! ordering).

use std::cmp::Ordering;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type, TimestampMicrosecondType};
use bindery_core::filter::{BinOp, Expr, Value};
use bindery_core::table::compute::literal_array;
use bindery_core::ColumnType;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

/// A value as the statistics compare it.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Int(i64),
    Bool(bool),
    Bytes(Vec<u8>),
}

fn order(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
        (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
        (Scalar::Bytes(a), Scalar::Bytes(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// What a row group's statistics say of one column.
struct ColumnStats {
    min_max: Option<(Scalar, Scalar)>,
    nulls: Option<u64>,
    rows: u64,
    column_type: ColumnType,
}

/// The statistics of the columns of one row group, by table column name.
pub struct RowGroupStats<'a> {
    /// The row group.
    pub row_group: &'a RowGroupMetaData,
    /// For each prunable column: its name, its leaf index in the file, and its type (the same
    /// in the file and the table).
    pub columns: &'a [(String, usize, ColumnType)],
}

impl RowGroupStats<'_> {
    fn of(&self, name: &str) -> Option<ColumnStats> {
        let (_, leaf, column_type) = self.columns.iter().find(|(n, ..)| n == name)?;
        let stats = self.row_group.column(*leaf).statistics()?;
        let min_max = match stats {
            Statistics::Boolean(s) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Scalar::Bool(*a), Scalar::Bool(*b))),
            Statistics::Int32(s) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Scalar::Int(*a as i64), Scalar::Int(*b as i64))),
            Statistics::Int64(s) => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Scalar::Int(*a), Scalar::Int(*b))),
            Statistics::ByteArray(s) if *column_type == ColumnType::String => s
                .min_opt()
                .zip(s.max_opt())
                .map(|(a, b)| (Scalar::Bytes(a.data().to_vec()), Scalar::Bytes(b.data().to_vec()))),
            _ => None,
        };
        Some(ColumnStats {
            min_max,
            nulls: stats.null_count_opt(),
            rows: self.row_group.num_rows().max(0) as u64,
            column_type: column_type.clone(),
        })
    }

    /// Whether some row of the row group may pass `e`.
    pub fn may_match(&self, e: &Expr) -> bool {
        match e {
            Expr::Binary(l, BinOp::And, r) => self.may_match(l) && self.may_match(r),
            Expr::Binary(l, BinOp::Or, r) => self.may_match(l) || self.may_match(r),
            Expr::Binary(l, op, r) => match (l.as_ref(), r.as_ref()) {
                (Expr::Column(c), Expr::Literal(v)) => self.compare(c, *op, v),
                (Expr::Literal(v), Expr::Column(c)) => match flip(*op) {
                    Some(op) => self.compare(c, op, v),
                    None => true,
                },
                _ => true,
            },
            Expr::Between(x, lo, hi, false) => match (x.as_ref(), lo.as_ref(), hi.as_ref()) {
                (Expr::Column(c), Expr::Literal(lo), Expr::Literal(hi)) => {
                    self.compare(c, BinOp::GtEq, lo) && self.compare(c, BinOp::LtEq, hi)
                }
                _ => true,
            },
            Expr::InList(x, list, false) => match x.as_ref() {
                Expr::Column(c) => list.iter().any(|item| match item {
                    Expr::Literal(v) => self.compare(c, BinOp::Eq, v),
                    _ => true,
                }),
                _ => true,
            },
            Expr::IsNull(x, not) => match (x.as_ref(), self.column(x)) {
                (Expr::Column(_), Some(s)) => match (s.nulls, not) {
                    (Some(n), false) => n > 0,
                    (Some(n), true) => n < s.rows,
                    (None, _) => true,
                },
                _ => true,
            },
            _ => true,
        }
    }

    fn column(&self, e: &Expr) -> Option<ColumnStats> {
        match e {
            Expr::Column(path) if path.len() == 1 => self.of(&path[0]),
            _ => None,
        }
    }

    /// Whether `column op v` may hold for a row.
    fn compare(&self, column: &[String], op: BinOp, v: &Value) -> bool {
        let Some(s) = self.column(&Expr::Column(column.to_vec())) else {
            return true;
        };
        if s.nulls == Some(s.rows) {
            return false; // every value is NULL: no comparison holds
        }
        let (Some((min, max)), Some(v)) = (&s.min_max, scalar(v, &s.column_type, &column[0])) else {
            return true;
        };
        let (Some(lo), Some(hi)) = (order(min, &v), order(max, &v)) else {
            return true;
        };
        match op {
            BinOp::Eq => lo != Ordering::Greater && hi != Ordering::Less,
            BinOp::NotEq => !(lo == Ordering::Equal && hi == Ordering::Equal),
            BinOp::Lt => lo == Ordering::Less,
            BinOp::LtEq => lo != Ordering::Greater,
            BinOp::Gt => hi == Ordering::Greater,
            BinOp::GtEq => hi != Ordering::Less,
            _ => true,
        }
    }
}

/// `a op b` as `b op' a`.
fn flip(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Eq | BinOp::NotEq => op,
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        _ => return None,
    })
}

/// A literal typed as the column (as the filter is evaluated), as statistics compare it.
fn scalar(v: &Value, ty: &ColumnType, column: &str) -> Option<Scalar> {
    let a = literal_array(v, ty, column).ok()?;
    if a.is_null(0) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int32 => Scalar::Int(a.as_primitive::<Int32Type>().value(0) as i64),
        DataType::Int64 => Scalar::Int(a.as_primitive::<Int64Type>().value(0)),
        DataType::Date32 => Scalar::Int(a.as_primitive::<Date32Type>().value(0) as i64),
        DataType::Timestamp(..) => Scalar::Int(a.as_primitive::<TimestampMicrosecondType>().value(0)),
        DataType::Utf8 => Scalar::Bytes(a.as_string::<i32>().value(0).as_bytes().to_vec()),
        DataType::Boolean => Scalar::Bool(a.as_boolean().value(0)),
        _ => return None,
    })
}

/// Whether pruning on a column of this type is sound.
pub fn prunable(ty: &ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::Bool | ColumnType::Int32 | ColumnType::Int64 | ColumnType::Date | ColumnType::String
    ) || *ty == ColumnType::timestamp()
}
