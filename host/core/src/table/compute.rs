//! Filters, projections and limits over Arrow batches, with arrow compute: what the host does
//! for a driver that cannot push them down, and what a driver without a query engine (files)
//! calls itself.
//!
//! Literals are typed against the columns they meet: in `created > '2024-05-01'` the text
//! is read as a timestamp because `created` is one, and a literal that is not a value of
//! that type is `InvalidInput` naming the column. Comparisons follow SQL: with `NULL` they
//! are unknown, and a row passes only when the filter is true.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, Scalar,
    StringArray,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use futures::stream::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::filter::{BinOp, Expr, Filter, Value};
use crate::table::schema::ColumnType;
use crate::table::BatchStream;

/// A value of the evaluation: an array of the batch's length, or one value for every row.
#[derive(Clone)]
struct Operand {
    array: ArrayRef,
    scalar: bool,
    /// Whether it is a bare literal, whose type may follow the other side.
    literal: Option<Value>,
    /// What it is, for messages (a column's name).
    name: String,
}

impl Operand {
    fn datum(&self) -> Box<dyn arrow::array::Datum + '_> {
        if self.scalar {
            Box::new(Scalar::new(self.array.clone()))
        } else {
            Box::new(self.array.clone())
        }
    }
}

fn arrow_err(what: &str, e: ArrowError) -> Error {
    Error::invalid_input(format!("cannot evaluate {what}: {e}"))
}

/// A literal as a one-value array of its natural type.
fn natural(v: &Value) -> ArrayRef {
    match v {
        Value::Null => new_null_array(&DataType::Null, 1),
        Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Value::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Value::Float(f) => Arc::new(Float64Array::from(vec![*f])),
        Value::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
    }
}

/// A literal as a one-value array of a column's type; `InvalidInput` naming the column when
/// it is not a value of that type (`'abc'` for an `int64`, `3.5` for an `int32`).
pub fn literal_array(v: &Value, ty: &ColumnType, column: &str) -> Result<ArrayRef> {
    ty.check_supported(column)?;
    if ty.is_nested() {
        return Err(Error::invalid_input(format!(
            "column '{column}' is {ty}: a literal cannot be one of its values"
        )));
    }
    if let (Value::Float(f), ColumnType::Decimal { .. }) = (v, ty) {
        // Read as the number its text says (0.1 is one tenth, not the float nearest it).
        return cast_literal(&Value::Str(f.to_string()), &ty.data_type(), column);
    }
    cast_literal(v, &ty.data_type(), column)
}

fn cast_literal(v: &Value, to: &DataType, column: &str) -> Result<ArrayRef> {
    let from = natural(v);
    if from.data_type() == to {
        return Ok(from);
    }
    let bad = || {
        Error::invalid_input(format!(
            "{} is not a value of column '{column}' ({to})",
            crate::table::schema::literal_text(v)
        ))
    };
    // A float literal never becomes an integer (it would be truncated).
    if matches!(v, Value::Float(_)) && to.is_integer() {
        return Err(bad());
    }
    cast_with_options(&from, to, &strict()).map_err(|_| bad())
}

/// Cast options that fail on a value the target type cannot hold, rather than make it NULL.
pub(crate) fn strict() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..CastOptions::default()
    }
}

/// An operand as `to` (Arrow's cast: a value that does not fit becomes NULL).
fn cast_operand(o: &Operand, to: &DataType, what: &str) -> Result<Operand> {
    let array = arrow::compute::cast(&o.array, to).map_err(|e| arrow_err(what, e))?;
    Ok(Operand { array, ..o.clone() })
}

/// Whether a type is an integer that fits `int64` (`Some(true)`), a float (`Some(false)`),
/// or neither (`uint64` and decimals compare as exact decimals: [`exact`]).
fn numeric_class(t: &DataType) -> Option<bool> {
    if t.is_integer() && *t != DataType::UInt64 {
        Some(true)
    } else if t.is_floating() {
        Some(false)
    } else {
        None
    }
}

/// A numeric operand widened to the type filters compute in: `int64` or `float64`.
fn widen(o: Operand, what: &str) -> Result<Operand> {
    let to = match numeric_class(o.array.data_type()) {
        Some(true) => DataType::Int64,
        Some(false) => DataType::Float64,
        None => return Ok(o),
    };
    if *o.array.data_type() == to {
        return Ok(o);
    }
    cast_operand(&o, &to, what)
}

/// What an operand is, for messages: a column's name and type, or a literal.
fn shown(o: &Operand) -> String {
    match &o.literal {
        Some(_) => o.name.clone(),
        None => format!("'{}' ({})", o.name, o.array.data_type()),
    }
}

/// The scale of an exact number (`uint64` and decimals; `int64` and other integers: 0), or
/// `None` for any other type.
fn exact_scale(t: &DataType) -> Option<i8> {
    match t {
        DataType::Decimal128(_, s) => Some(*s),
        t if t.is_integer() => Some(0),
        _ => None,
    }
}

/// The digits after the point of a number written out in full.
fn text_scale(text: &str) -> i8 {
    text.split_once('.')
        .map_or(0, |(_, frac)| frac.len().min(i8::MAX as usize) as i8)
}

/// Two operands of which one is `uint64` or a decimal, both made `decimal(38, s)` with the
/// larger scale, so they compare exactly (a float literal is read as the number its text
/// says); `None` when they do not meet that way (a float column meets a decimal as `float64`,
/// as in PostgreSQL).
fn exact(a: &Operand, b: &Operand, what: &str) -> Result<Option<(Operand, Operand)>> {
    let big = |t: &DataType| matches!(t, DataType::UInt64 | DataType::Decimal128(..));
    let (ta, tb) = (a.array.data_type(), b.array.data_type());
    if !big(ta) && !big(tb) {
        return Ok(None);
    }
    // A float literal as decimal text, with its own scale.
    let as_text = |o: &Operand| match &o.literal {
        Some(Value::Float(f)) if f.is_finite() => Some(f.to_string()),
        _ => None,
    };
    let scale_of = |o: &Operand| match as_text(o) {
        Some(t) => Some(text_scale(&t)),
        None => exact_scale(o.array.data_type()),
    };
    let (Some(sa), Some(sb)) = (scale_of(a), scale_of(b)) else {
        if numeric_class(ta).is_some() || numeric_class(tb).is_some() {
            let f64 = DataType::Float64;
            return Ok(Some((cast_operand(a, &f64, what)?, cast_operand(b, &f64, what)?)));
        }
        return Ok(None);
    };
    let to = DataType::Decimal128(38, sa.max(sb));
    let convert = |o: &Operand| -> Result<Operand> {
        let from = match as_text(o) {
            Some(t) => Arc::new(StringArray::from(vec![t])) as ArrayRef,
            None => o.array.clone(),
        };
        let array = cast_with_options(&from, &to, &strict()).map_err(|e| arrow_err(what, e))?;
        Ok(Operand { array, ..o.clone() })
    };
    Ok(Some((convert(a)?, convert(b)?)))
}

/// Brings two operands to types that compare or combine (the filter table in the README):
/// numbers meet as `int64` or `float64` (an integer meeting a float is compared exactly, not
/// rounded); a quoted literal is read as a value of the other side's type; anything else of
/// two different types (a string and a number, a boolean and a number) is refused.
fn unify(a: Operand, b: Operand, what: &str) -> Result<(Operand, Operand)> {
    let (ta, tb) = (a.array.data_type().clone(), b.array.data_type().clone());
    if ta == DataType::Null || tb == DataType::Null {
        return Ok((a, b));
    }
    for o in [&a, &b] {
        if o.array.data_type().is_nested() {
            return Err(Error::invalid_input(format!(
                "{} cannot be compared in {what}: filters compare single values (IS NULL takes any column)",
                shown(o)
            )));
        }
    }
    if let Some(pair) = exact(&a, &b, what)? {
        return Ok(pair);
    }
    if numeric_class(&ta).is_some() && numeric_class(&tb).is_some() {
        return Ok((widen(a, what)?, widen(b, what)?));
    }
    if ta == tb {
        return Ok((a, b));
    }
    // Timestamps of two units or zones: the second as the first's type.
    if let (DataType::Timestamp(..), DataType::Timestamp(..)) = (&ta, &tb) {
        let b = cast_operand(&b, &ta, what)?;
        return Ok((a, b));
    }
    // A quoted literal takes the other side's type (`at > '2024-05-01'`, `n = '5'`).
    if let (Some(v @ Value::Str(_)), None) = (&a.literal, &b.literal) {
        let array = cast_literal(v, &tb, &b.name)?;
        return Ok((Operand { array, ..a }, b));
    }
    if let (None, Some(v @ Value::Str(_))) = (&a.literal, &b.literal) {
        let array = cast_literal(v, &ta, &a.name)?;
        return Ok((a, Operand { array, ..b }));
    }
    Err(Error::invalid_input(format!(
        "cannot compare or combine {} with {} in {what}",
        shown(&a),
        shown(&b)
    )))
}

/// Floats as filters compare them: `-0.0` as `0.0`, every NaN as the one positive NaN (so
/// Arrow's total order is the filter order: NaN equal to NaN and above every number).
fn canonical_floats(a: &ArrayRef) -> ArrayRef {
    let f = a.as_primitive::<arrow::datatypes::Float64Type>();
    let out: Float64Array = f.unary(|x| if x.is_nan() { f64::NAN } else { x + 0.0 });
    Arc::new(out)
}

fn ordering_holds(op: BinOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinOp::Eq => o == Equal,
        BinOp::NotEq => o != Equal,
        BinOp::Lt => o == Less,
        BinOp::LtEq => o != Greater,
        BinOp::Gt => o == Greater,
        _ => o != Less, // GtEq
    }
}

/// `int op float`, exactly.
fn compare_int_float(ints: &ArrayRef, floats: &ArrayRef, op: BinOp, flipped: bool) -> BooleanArray {
    let i = ints.as_primitive::<arrow::datatypes::Int64Type>();
    let f = floats.as_primitive::<arrow::datatypes::Float64Type>();
    i.iter()
        .zip(f.iter())
        .map(|(x, y)| {
            let o = crate::filter::cmp_int_float(x?, y?);
            Some(ordering_holds(op, if flipped { o.reverse() } else { o }))
        })
        .collect()
}

fn truth(o: &Operand, len: usize, what: &str) -> Result<BooleanArray> {
    let array = if o.scalar {
        expand(&o.array, len)?
    } else {
        o.array.clone()
    };
    match array.data_type() {
        DataType::Boolean => Ok(array.as_boolean().clone()),
        DataType::Null => Ok(BooleanArray::new_null(len)),
        other => Err(Error::invalid_input(format!(
            "{what} is {other}, not a condition (true or false)"
        ))),
    }
}

/// A one-value array repeated `len` times.
fn expand(array: &ArrayRef, len: usize) -> Result<ArrayRef> {
    let indices = arrow::array::UInt32Array::from(vec![0u32; len]);
    arrow::compute::take(array.as_ref(), &indices, None).map_err(|e| arrow_err("a literal", e))
}

/// `rows` values of a column's default (`NULL`s when it has none): what rows written before
/// the column was added, or written without it, hold.
pub fn default_array(column: &crate::table::Column, rows: usize) -> Result<ArrayRef> {
    match &column.default {
        Some(v) => expand(&literal_array(v, &column.column_type, &column.name)?, rows),
        None => Ok(arrow::array::new_null_array(
            &column.column_type.data_type(),
            rows,
        )),
    }
}

fn column_name(path: &[String]) -> String {
    path.join(".")
}

fn eval(e: &Expr, batch: &RecordBatch, table: &str) -> Result<Operand> {
    let len = batch.num_rows();
    Ok(match e {
        Expr::Column(path) => {
            let name = column_name(path);
            let index = batch.schema().index_of(&name).map_err(|_| {
                let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
                Error::invalid_input(format!(
                    "table '{table}' has no column '{name}' (columns: {})",
                    names.join(", ")
                ))
            })?;
            Operand {
                array: batch.column(index).clone(),
                scalar: false,
                literal: None,
                name,
            }
        }
        Expr::Literal(v) => Operand {
            array: natural(v),
            scalar: true,
            literal: Some(v.clone()),
            name: describe(e),
        },
        Expr::Not(x) => {
            let o = eval(x, batch, table)?;
            let b = truth(&o, len, "the operand of NOT")?;
            bool_operand(boolean::not(&b).map_err(|e| arrow_err("NOT", e))?)
        }
        Expr::Neg(x) => {
            let o = widen(eval(x, batch, table)?, "a negation")?;
            let array: ArrayRef = match numeric_class(o.array.data_type()) {
                // -i64::MIN has no 64-bit value: NULL, as an overflow is.
                Some(true) => Arc::new(
                    o.array
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .iter()
                        .map(|v| v?.checked_neg())
                        .collect::<Int64Array>(),
                ),
                Some(false) => numeric::neg(o.array.as_ref()).map_err(|e| arrow_err("a negation", e))?,
                None => {
                    return Err(Error::invalid_input(format!(
                        "'-' needs a number, but {} is not one",
                        shown(&o)
                    )))
                }
            };
            Operand {
                array,
                scalar: o.scalar,
                literal: None,
                name: describe(e),
            }
        }
        Expr::IsNull(x, negated) => {
            let o = eval(x, batch, table)?;
            let array = if o.scalar { expand(&o.array, len)? } else { o.array };
            let r = if *negated {
                boolean::is_not_null(&array)
            } else {
                boolean::is_null(&array)
            };
            bool_operand(r.map_err(|e| arrow_err("IS NULL", e))?)
        }
        Expr::Binary(l, op @ (BinOp::And | BinOp::Or), r) => {
            let what = if *op == BinOp::And { "AND" } else { "OR" };
            let a = truth(&eval(l, batch, table)?, len, what)?;
            let b = truth(&eval(r, batch, table)?, len, what)?;
            let out = if *op == BinOp::And {
                boolean::and_kleene(&a, &b)
            } else {
                boolean::or_kleene(&a, &b)
            };
            bool_operand(out.map_err(|e| arrow_err(what, e))?)
        }
        Expr::Binary(l, op, r) => {
            let what = describe(e);
            let (a, b) = (eval(l, batch, table)?, eval(r, batch, table)?);
            if !matches!(
                op,
                BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
            ) {
                check_arithmetic(*op, [&a, &b], &what)?;
            }
            let (a, b) = unify(a, b, &what)?;
            binary(&a, *op, &b, len, &what)?
        }
        Expr::InList(x, list, negated) => {
            let mut any: Option<BooleanArray> = None;
            // The value and the description once, not once per item (with thousands of
            // items, describing the whole list each time was quadratic).
            let what = describe(e);
            let value = eval(x, batch, table)?;
            for item in list {
                let (a, b) = unify(value.clone(), eval(item, batch, table)?, &what)?;
                let eq = truth(&binary(&a, BinOp::Eq, &b, len, "IN")?, len, "IN")?;
                any = Some(match any {
                    None => eq,
                    Some(prev) => boolean::or_kleene(&prev, &eq).map_err(|e| arrow_err("IN", e))?,
                });
            }
            let any = any.unwrap_or_else(|| BooleanArray::from(vec![false; len]));
            bool_operand(if *negated {
                boolean::not(&any).map_err(|e| arrow_err("NOT IN", e))?
            } else {
                any
            })
        }
        Expr::Between(x, lo, hi, negated) => {
            let what = describe(e);
            let (a, l) = unify(eval(x, batch, table)?, eval(lo, batch, table)?, &what)?;
            let ge = truth(&binary(&a, BinOp::GtEq, &l, len, &what)?, len, &what)?;
            let (a, h) = unify(eval(x, batch, table)?, eval(hi, batch, table)?, &what)?;
            let le = truth(&binary(&a, BinOp::LtEq, &h, len, &what)?, len, &what)?;
            let inside = boolean::and_kleene(&ge, &le).map_err(|e| arrow_err("BETWEEN", e))?;
            bool_operand(if *negated {
                boolean::not(&inside).map_err(|e| arrow_err("BETWEEN", e))?
            } else {
                inside
            })
        }
        Expr::Like(x, pattern) => {
            let o = eval(x, batch, table)?;
            if !matches!(
                o.array.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            ) {
                return Err(Error::invalid_input(format!(
                    "LIKE needs text, but {} is {}",
                    describe(x),
                    o.array.data_type()
                )));
            }
            let text = arrow::compute::cast(&o.array, &DataType::Utf8).map_err(|e| arrow_err("LIKE", e))?;
            let text = if o.scalar { expand(&text, len)? } else { text };
            let matcher = pattern.matcher();
            let out: BooleanArray = text
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(|s| matcher(s) != pattern.negated))
                .collect();
            bool_operand(out)
        }
    })
}

fn bool_operand(b: BooleanArray) -> Operand {
    Operand {
        array: Arc::new(b),
        scalar: false,
        literal: None,
        name: String::new(),
    }
}

fn binary(a: &Operand, op: BinOp, b: &Operand, len: usize, what: &str) -> Result<Operand> {
    let nulls = a.array.data_type() == &DataType::Null || b.array.data_type() == &DataType::Null;
    let scalar = a.scalar && b.scalar;
    if nulls {
        let ty = if matches!(
            op,
            BinOp::Plus | BinOp::Minus | BinOp::Mul | BinOp::Div | BinOp::Mod
        ) {
            DataType::Null
        } else {
            DataType::Boolean
        };
        return Ok(Operand {
            array: new_null_array(&ty, if scalar { 1 } else { len }),
            scalar,
            literal: None,
            name: what.to_string(),
        });
    }
    // One-value operands meeting a column become columns.
    let full = |o: &Operand| -> Result<ArrayRef> {
        if o.scalar && !scalar {
            expand(&o.array, len)
        } else {
            Ok(o.array.clone())
        }
    };
    let result = |array: ArrayRef| Operand {
        array,
        scalar,
        literal: None,
        name: what.to_string(),
    };
    let (ta, tb) = (a.array.data_type(), b.array.data_type());
    match op {
        BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq => {
            match (numeric_class(ta), numeric_class(tb)) {
                (Some(true), Some(false)) | (Some(false), Some(true)) => {
                    let flipped = numeric_class(ta) == Some(false);
                    let (ints, floats) = if flipped { (b, a) } else { (a, b) };
                    let out = compare_int_float(&full(ints)?, &full(floats)?, op, flipped);
                    return Ok(result(Arc::new(out)));
                }
                (Some(false), Some(false)) => {
                    let (ca, cb) = (
                        Operand {
                            array: canonical_floats(&a.array),
                            ..a.clone()
                        },
                        Operand {
                            array: canonical_floats(&b.array),
                            ..b.clone()
                        },
                    );
                    return binary_arrow(&ca, op, &cb, what, scalar);
                }
                _ => {}
            }
            binary_arrow(a, op, b, what, scalar)
        }
        BinOp::Plus | BinOp::Minus | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            let (fa, fb) = (full(a)?, full(b)?);
            if numeric_class(ta) == Some(true) && numeric_class(tb) == Some(true) {
                let out = zip_map::<arrow::datatypes::Int64Type>(&fa, &fb, |x, y| {
                    crate::filter::int_arith(op, x, y)
                });
                return Ok(result(Arc::new(out)));
            }
            let float =
                |v: ArrayRef| arrow::compute::cast(&v, &DataType::Float64).map_err(|e| arrow_err(what, e));
            let out = zip_map::<arrow::datatypes::Float64Type>(&float(fa)?, &float(fb)?, |x, y| {
                crate::filter::float_arith(op, x, y)
            });
            Ok(result(Arc::new(out)))
        }
        BinOp::And | BinOp::Or => Err(Error::internal("AND/OR reached the arithmetic")),
    }
}

/// `f` over the pairs of two arrays of one type (`NULL` where either is, or `f` gives none).
fn zip_map<T: arrow::datatypes::ArrowPrimitiveType>(
    x: &ArrayRef,
    y: &ArrayRef,
    f: impl Fn(T::Native, T::Native) -> Option<T::Native>,
) -> arrow::array::PrimitiveArray<T> {
    x.as_primitive::<T>()
        .iter()
        .zip(y.as_primitive::<T>().iter())
        .map(|(x, y)| f(x?, y?))
        .collect()
}

/// Refuses arithmetic on what is not a number (and `%` on what is not an integer).
fn check_arithmetic(op: BinOp, operands: [&Operand; 2], what: &str) -> Result<()> {
    for o in operands {
        match numeric_class(o.array.data_type()) {
            _ if *o.array.data_type() == DataType::Null => {}
            None if exact_scale(o.array.data_type()).is_some() => {
                return Err(Error::invalid_input(format!(
                    "'{}' on {} is not supported in filters: arithmetic takes int64 and float64 values (compare the column itself)",
                    op.symbol(),
                    shown(o)
                )))
            }
            None => {
                return Err(Error::invalid_input(format!(
                    "'{}' needs numbers, but {} is not one (in {what})",
                    op.symbol(),
                    shown(o)
                )))
            }
            Some(false) if op == BinOp::Mod => {
                return Err(Error::invalid_input(format!(
                    "'%' takes integers, but {} is not one (in {what})",
                    shown(o)
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A comparison by Arrow's kernels (operands of one type).
fn binary_arrow(a: &Operand, op: BinOp, b: &Operand, what: &str, scalar: bool) -> Result<Operand> {
    let (da, db) = (a.datum(), b.datum());
    let (da, db) = (da.as_ref(), db.as_ref());
    let r = match op {
        BinOp::Eq => cmp::eq(da, db),
        BinOp::NotEq => cmp::neq(da, db),
        BinOp::Lt => cmp::lt(da, db),
        BinOp::LtEq => cmp::lt_eq(da, db),
        BinOp::Gt => cmp::gt(da, db),
        _ => cmp::gt_eq(da, db),
    }
    .map_err(|e| arrow_err(what, e))?;
    Ok(Operand {
        array: Arc::new(r),
        scalar,
        literal: None,
        name: what.to_string(),
    })
}

/// An expression as text, for messages.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::Column(p) => column_name(p),
        Expr::Literal(v) => crate::table::schema::literal_text(v),
        Expr::Binary(l, op, r) => {
            let op = op.symbol();
            format!("{} {op} {}", describe(l), describe(r))
        }
        Expr::Not(x) => format!("NOT {}", describe(x)),
        Expr::Neg(x) => format!("-{}", describe(x)),
        Expr::IsNull(x, n) => format!("{} IS {}NULL", describe(x), if *n { "NOT " } else { "" }),
        Expr::InList(x, list, n) => format!(
            "{} {}IN ({})",
            describe(x),
            if *n { "NOT " } else { "" },
            list.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Expr::Between(x, lo, hi, n) => format!(
            "{} {}BETWEEN {} AND {}",
            describe(x),
            if *n { "NOT " } else { "" },
            describe(lo),
            describe(hi)
        ),
        Expr::Like(x, p) => format!(
            "{} {}{} {}{}",
            describe(x),
            if p.negated { "NOT " } else { "" },
            if p.insensitive { "ILIKE" } else { "LIKE" },
            crate::table::schema::literal_text(&Value::Str(p.pattern.clone())),
            match p.escape {
                Some(c) => format!(
                    " ESCAPE {}",
                    crate::table::schema::literal_text(&Value::Str(c.to_string()))
                ),
                None => String::new(),
            }
        ),
    }
}

/// Evaluates an expression over every row of a batch: one value per row.
pub fn evaluate(e: &Expr, batch: &RecordBatch, table: &str) -> Result<ArrayRef> {
    let o = eval(e, batch, table)?;
    if o.scalar {
        expand(&o.array, batch.num_rows())
    } else {
        Ok(o.array)
    }
}

/// Which rows of a batch pass a filter (unknown is not a pass).
pub fn mask(filter: &Expr, batch: &RecordBatch, table: &str) -> Result<BooleanArray> {
    let o = eval(filter, batch, table)?;
    let b = truth(
        &o,
        batch.num_rows(),
        &format!("the filter '{}'", describe(filter)),
    )?;
    Ok(if b.null_count() > 0 {
        arrow::compute::prep_null_mask_filter(&b)
    } else {
        b
    })
}

/// The rows of a batch that pass a filter.
pub fn filter_batch(filter: &Expr, batch: &RecordBatch, table: &str) -> Result<RecordBatch> {
    let m = mask(filter, batch, table)?;
    filter_record_batch(batch, &m).map_err(|e| arrow_err("the filter", e))
}

/// Checks that a filter fits a schema (its columns exist, its literals fit their types) by
/// evaluating it over no rows.
pub fn check_filter(filter: &Filter, schema: &SchemaRef, table: &str) -> Result<()> {
    let empty = RecordBatch::new_empty(schema.clone());
    mask(&filter.expr, &empty, table).map(|_| ())
}

/// The projection of a schema on `select` (in the order given); `InvalidInput` naming an
/// unknown column.
pub fn project_schema(schema: &SchemaRef, select: &[String], table: &str) -> Result<(SchemaRef, Vec<usize>)> {
    let mut indices = Vec::with_capacity(select.len());
    for name in select {
        let i = schema.index_of(name).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Error::invalid_input(format!(
                "table '{table}' has no column '{name}' (columns: {})",
                names.join(", ")
            ))
        })?;
        indices.push(i);
    }
    let projected = schema
        .project(&indices)
        .map_err(|e| arrow_err("the projection", e))?;
    Ok((Arc::new(projected), indices))
}

/// What the host does after a driver that cannot: filter, then sort, then project, then limit.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    /// Rows must pass this.
    pub filter: Option<Expr>,
    /// The rows in this order (empty: as they come). Sorting holds every row passing the
    /// filter at once: a driver without `read_with_order` pays that memory.
    pub order: Vec<crate::table::page::Order>,
    /// Only these columns, in this order (empty: all).
    pub select: Vec<String>,
    /// At most this many rows.
    pub limit: Option<u64>,
}

impl Finish {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.filter.is_none() && self.order.is_empty() && self.select.is_empty() && self.limit.is_none()
    }

    /// The schema of the finished batches.
    pub fn schema(&self, input: &SchemaRef, table: &str) -> Result<SchemaRef> {
        if self.select.is_empty() {
            return Ok(input.clone());
        }
        Ok(project_schema(input, &self.select, table)?.0)
    }

    /// Applies the steps to a stream of batches.
    pub fn apply(self, input_schema: &SchemaRef, batches: BatchStream, table: &str) -> Result<BatchStream> {
        if self.is_empty() {
            return Ok(batches);
        }
        let indices = if self.select.is_empty() {
            None
        } else {
            Some(project_schema(input_schema, &self.select, table)?.1)
        };
        let table = table.to_string();
        let filter = self.filter;
        let filtered = {
            let table = table.clone();
            batches.map(move |b| match &filter {
                Some(f) => filter_batch(f, &b?, &table),
                None => b,
            })
        };
        let ordered: BatchStream = if self.order.is_empty() {
            filtered.boxed()
        } else {
            let (order, schema, table) = (self.order, input_schema.clone(), table.clone());
            futures::stream::once(async move {
                let all: Vec<RecordBatch> = filtered.try_collect().await?;
                let one = arrow::compute::concat_batches(&schema, &all)
                    .map_err(|e| arrow_err("gathering the rows to sort", e))?;
                crate::table::page::sort_batch(&one, &order, &table)
            })
            .boxed()
        };
        let finished = ordered.map(move |b| {
            let b = b?;
            match &indices {
                Some(ix) => b.project(ix).map_err(|e| arrow_err("the projection", e)),
                None => Ok(b),
            }
        });
        // With a limit, stop reading as soon as it is reached.
        let out = futures::stream::unfold((finished, self.limit), |(mut input, left)| async move {
            if left == Some(0) {
                return None;
            }
            let b = input.next().await?;
            let (b, left) = match (b, left) {
                (Ok(b), Some(n)) => {
                    let take = n.min(b.num_rows() as u64);
                    (Ok(b.slice(0, take as usize)), Some(n - take))
                }
                (b, left) => (b, left),
            };
            Some((b, (input, left)))
        });
        Ok(out.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("age", DataType::Int32, true),
            Field::new("score", DataType::Float64, true),
            Field::new(
                "at",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
        ]));
        let at = arrow::array::TimestampMicrosecondArray::from(vec![
            Some(1_714_521_600_000_000),
            Some(1_717_200_000_000_000),
            None,
        ])
        .with_timezone("+00:00");
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("Ana"), Some("bob"), None])),
                Arc::new(arrow::array::Int32Array::from(vec![Some(41), Some(17), None])),
                Arc::new(Float64Array::from(vec![Some(2.5), Some(9.0), Some(1.0)])),
                Arc::new(at),
            ],
        )
        .unwrap()
    }

    fn rows(f: &str) -> Vec<usize> {
        let m = mask(&Filter::parse(f).unwrap().expr, &batch(), "t").unwrap();
        (0..m.len()).filter(|i| m.value(*i)).collect()
    }

    #[test]
    fn evaluates_the_filter_language_over_arrow() {
        assert_eq!(rows("age > 30"), [0]);
        assert_eq!(rows("age > 30 OR score > 5"), [0, 1]);
        assert_eq!(rows("NOT age > 30"), [1]);
        assert_eq!(rows("age IS NULL"), [2]);
        assert_eq!(rows("name IN ('bob', 'x')"), [1]);
        assert_eq!(rows("name NOT IN ('bob')"), [0]);
        assert_eq!(rows("age BETWEEN 10 AND 20"), [1]);
        assert_eq!(rows("name LIKE 'A%'"), [0]);
        assert_eq!(rows("name ILIKE 'a%'"), [0]);
        assert_eq!(
            rows("age + 1 = 42 AND age * 2 > 80 AND age % 2 = 1 AND -age < 0"),
            [0]
        );
        assert_eq!(rows("score > age"), Vec::<usize>::new());
        assert_eq!(rows("age > 40.5"), [0]);
        assert_eq!(rows("score < 2.6 AND score >= 1"), [0, 2]);
        assert_eq!(rows("at > '2024-05-15T00:00:00Z'"), [1]);
        assert_eq!(rows("age = NULL"), Vec::<usize>::new());
        assert_eq!(rows("TRUE"), [0, 1, 2]);
    }

    #[test]
    fn bad_filters_name_the_column_and_why() {
        let err = |f: &str| {
            mask(&Filter::parse(f).unwrap().expr, &batch(), "t")
                .expect_err(f)
                .to_string()
        };
        assert!(err("nope = 1").contains("table 't' has no column 'nope' (columns: name, age, score, at)"));
        assert!(
            err("age = 'x'").contains("'x' is not a value of column"),
            "{}",
            err("age = 'x'")
        );
        assert!(err("age").contains("not a condition"), "{}", err("age"));
        assert!(err("age LIKE 'a'").contains("LIKE needs text"));
    }

    /// Decimals and uint64 compare exactly; nested columns only test for NULL.
    #[test]
    fn wider_types_compare_exactly() {
        use crate::table::schema::{Column, TableSchema};
        let schema = TableSchema {
            columns: vec![
                Column::new(
                    "d",
                    ColumnType::Decimal {
                        precision: 9,
                        scale: 2,
                    },
                ),
                Column::new("u", ColumnType::UInt64),
                Column::new("f", ColumnType::Float64),
                Column::new("l", ColumnType::List(Box::new(ColumnType::Int64))),
            ],
            key: vec![],
            version: None,
        };
        let items = [
            serde_json::json!({"d": "0.10", "u": 18446744073709551615u64, "f": 0.1, "l": [1]}),
            serde_json::json!({"d": "0.30", "u": 9007199254740993u64, "f": 0.3, "l": null}),
        ];
        let mut op = crate::table::OpWrite {
            items: crate::table::Items::Json(items.iter().map(|i| i.as_object().unwrap().clone()).collect()),
            ..Default::default()
        };
        crate::table::items::check_write(&schema, &mut op, "t").unwrap();
        let crate::table::Items::Batches(batches) = op.items else {
            panic!("items become batches")
        };
        let batch = batches[0].clone();
        let rows = |f: &str| {
            let m = mask(&Filter::parse(f).unwrap().expr, &batch, "t").unwrap_or_else(|e| panic!("{f}: {e}"));
            (0..m.len()).filter(|i| m.value(*i)).collect::<Vec<_>>()
        };
        assert_eq!(
            rows("d = 0.1"),
            [0],
            "a float literal meets a decimal by its text"
        );
        assert_eq!(rows("d = '0.3'"), [1]);
        assert_eq!(rows("d > 0.2"), [1]);
        assert_eq!(rows("d = f"), [0, 1], "float column against decimal: as float64");
        assert_eq!(rows("u > 9223372036854775807"), [0]);
        assert_eq!(rows("u = 9007199254740993"), [1], "not rounded through a float");
        assert_eq!(rows("u = 9007199254740992"), Vec::<usize>::new());
        assert_eq!(rows("l IS NULL"), [1]);
        let err = |f: &str| {
            mask(&Filter::parse(f).unwrap().expr, &batch, "t")
                .unwrap_err()
                .to_string()
        };
        assert!(err("d + 1 > 2").contains("'d'"), "{}", err("d + 1 > 2"));
        assert!(err("l = 1").contains("'l'"), "{}", err("l = 1"));
    }

    #[tokio::test]
    async fn finish_filters_projects_and_limits() {
        let b = batch();
        let schema = b.schema();
        let input = futures::stream::iter(vec![Ok(b.clone()), Ok(b.clone()), Ok(b)]).boxed();
        let finish = Finish {
            filter: Some(Filter::parse("age IS NOT NULL").unwrap().expr),
            select: vec!["age".into(), "name".into()],
            limit: Some(3),
            ..Finish::default()
        };
        assert_eq!(finish.schema(&schema, "t").unwrap().fields().len(), 2);
        let out: Vec<RecordBatch> = finish
            .apply(&schema, input, "t")
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
            .await;
        let n: usize = out.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(n, 3);
        assert_eq!(out[0].schema().field(0).name(), "age");
    }
}
