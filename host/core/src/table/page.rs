//! Ordered reads and pages: `order_by`, and page tokens that resume a read where its last page
//! ended (keyset paging, as PostgreSQL and DuckDB users write it by hand).
//!
//! - An order is a list of columns, each ascending or descending; `NULL`s sort **last** either
//!   way (DuckDB's default), on every driver.
//! - A paged read is ordered by its `order_by` and then by the primary key's columns not
//!   already named ([`total_order`]), so the order is total and a page ends at one row. Its
//!   page token holds that order and the ordering values of the page's last row
//!   ([`PageToken`]); the next page is the rows strictly after them ([`after_filter`]), which
//!   the driver evaluates like any filter. Rows written or removed between pages move nothing:
//!   no row is skipped or seen twice because of them (a row whose ordering values change may
//!   be seen again or not at all, as with every keyset pager).
//! - A token is opaque text (base64url of a small JSON document); it is checked against the
//!   read it continues, so a token of another order is refused, not misread.

use std::fmt;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};
use crate::filter::{BinOp, Expr, Value};
use crate::table::compute::literal_array;
use crate::table::TableSchema;

/// One column of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The column.
    pub column: String,
    /// Largest first (`NULL`s still last).
    pub descending: bool,
}

impl Order {
    /// `age`, `age asc`, `age desc` or `-age` (descending).
    pub fn parse(text: &str) -> Result<Order> {
        let t = text.trim();
        let bad = || {
            Error::invalid_input(format!(
                "order_by '{text}': write a column, optionally followed by asc or desc ('age desc'), or -column"
            ))
        };
        if let Some(c) = t.strip_prefix('-') {
            let c = c.trim();
            if c.is_empty() || c.contains(char::is_whitespace) {
                return Err(bad());
            }
            return Ok(Order {
                column: c.to_string(),
                descending: true,
            });
        }
        let mut words = t.split_whitespace();
        let column = words.next().ok_or_else(bad)?.to_string();
        let descending = match words.next().map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(_) => return Err(bad()),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(Order { column, descending })
    }

    /// Several, separated by commas: `age desc, user`.
    pub fn parse_list(text: &str) -> Result<Vec<Order>> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Order::parse)
            .collect()
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.column,
            if self.descending { "desc" } else { "asc" }
        )
    }
}

/// Checks an order against a table's columns: each named once, each of a type with an order.
pub fn check_order(schema: &TableSchema, order: &[Order], table: &str) -> Result<()> {
    for (i, o) in order.iter().enumerate() {
        let c = schema.expect_column(&o.column, table)?;
        if order[..i].iter().any(|p| p.column == o.column) {
            return Err(Error::invalid_input(format!(
                "order_by names column '{}' twice",
                o.column
            )));
        }
        let ty = c.column_type.data_type();
        if !sortable(&ty) {
            return Err(Error::invalid_input(format!(
                "table '{table}' cannot be ordered by column '{}': its type {} has no order (order by numbers, text, booleans, dates, times or decimals)",
                o.column, c.column_type
            )));
        }
    }
    Ok(())
}

fn sortable(ty: &DataType) -> bool {
    ty.is_numeric()
        || matches!(
            ty,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Date32
                | DataType::Date64
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::Timestamp(..)
        )
}

/// The order a paged read goes in: `order` then the primary key's columns it does not name.
/// `InvalidInput` for a table without a primary key (its pages could not be resumed exactly).
pub fn total_order(schema: &TableSchema, order: &[Order], table: &str) -> Result<Vec<Order>> {
    if schema.key.is_empty() {
        return Err(Error::invalid_input(format!(
            "table '{table}' has no primary key, so a read of it cannot be paged (its rows have no order to resume in); read it whole, with a limit, or give it a key"
        )));
    }
    check_order(schema, order, table)?;
    let mut total = order.to_vec();
    for k in &schema.key {
        if !total.iter().any(|o| &o.column == k) {
            total.push(Order {
                column: k.clone(),
                descending: false,
            });
        }
    }
    Ok(total)
}

/// Where a paged read resumes: its order, and the ordering values of the last row it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct PageToken {
    /// The read's total order.
    pub order: Vec<Order>,
    /// The last row's value of each column of `order`.
    pub after: Vec<Value>,
}

impl PageToken {
    /// The token's text.
    pub fn encode(&self) -> String {
        let doc = serde_json::json!({
            "v": 1,
            "order": self.order.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            "after": self.after.iter().map(value_json).collect::<Vec<_>>(),
        });
        URL_SAFE_NO_PAD.encode(doc.to_string())
    }

    /// A token from its text; `InvalidInput` for text that is not one.
    pub fn decode(text: &str) -> Result<PageToken> {
        let bad = |why: &str| {
            Error::invalid_input(format!(
                "page token '{}' is not one this host made ({why}); use the token a paged read returned",
                text.chars().take(40).collect::<String>()
            ))
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| bad("not base64url"))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
        if doc.get("v") != Some(&serde_json::json!(1)) {
            return Err(bad("unknown version"));
        }
        let order = doc
            .get("order")
            .and_then(|o| o.as_array())
            .ok_or_else(|| bad("no order"))?
            .iter()
            .map(|o| {
                o.as_str()
                    .ok_or_else(|| bad("an order is not text"))
                    .and_then(Order::parse)
            })
            .collect::<Result<Vec<_>>>()?;
        let after: Vec<Value> = doc
            .get("after")
            .and_then(|o| o.as_array())
            .ok_or_else(|| bad("no values"))?
            .iter()
            .map(crate::filter::json_value)
            .collect();
        if after.len() != order.len() || order.is_empty() {
            return Err(bad("values and order differ in length"));
        }
        Ok(PageToken { order, after })
    }

    /// Checks that this token continues a read of `order` on `schema`: the same order, values
    /// of the columns' types.
    pub fn check(&self, schema: &TableSchema, order: &[Order], table: &str) -> Result<()> {
        if self.order != order {
            let show = |o: &[Order]| o.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", ");
            return Err(Error::invalid_input(format!(
                "the page token was made by a read ordered by {}, but this read is ordered by {}; keep the order_by of the read that gave the token",
                show(&self.order),
                show(order)
            )));
        }
        for (o, v) in order.iter().zip(&self.after) {
            if *v != Value::Null {
                let c = schema.expect_column(&o.column, table)?;
                literal_array(v, &c.column_type, &o.column)?;
            }
        }
        Ok(())
    }

    /// The token of the last row of `batch`, whose columns include those of `order`.
    pub fn after_last_row(order: &[Order], batch: &RecordBatch) -> Result<Option<PageToken>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(None);
        }
        let schema: &Schema = batch.schema_ref();
        let mut after = Vec::with_capacity(order.len());
        for o in order {
            let i = schema.index_of(&o.column).map_err(|_| {
                Error::internal(format!("a paged read lost its ordering column '{}'", o.column))
            })?;
            after.push(cell_value(batch.column(i).as_ref(), rows - 1)?);
        }
        Ok(Some(PageToken {
            order: order.to_vec(),
            after,
        }))
    }
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Str(s) => s.as_str().into(),
    }
}

/// One cell as a filter value: numbers and booleans as such, the rest as their text (which a
/// literal of the column's type reads back exactly).
fn cell_value(array: &dyn Array, row: usize) -> Result<Value> {
    use arrow::array::AsArray;
    use arrow::datatypes::*;
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Value::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Value::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Value::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::Int(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Value::Int(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Value::Int(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v)
                .map(Value::Int)
                .unwrap_or(Value::Str(v.to_string()))
        }
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        _ => {
            let text = arrow::util::display::array_value_to_string(array, row)
                .map_err(|e| Error::internal(format!("cannot write a row's ordering value: {e}")))?;
            Value::Str(text)
        }
    })
}

/// The rows strictly after `after` in `order` (`NULL`s last): for `a, b` ascending,
/// `a > x OR a IS NULL OR (a = x AND (b > y OR b IS NULL))`, with the right shape for `NULL`
/// values and descending columns.
pub fn after_filter(order: &[Order], after: &[Value]) -> Expr {
    let col = |o: &Order| Box::new(Expr::Column(vec![o.column.clone()]));
    let lit = |v: &Value| Box::new(Expr::Literal(v.clone()));
    let or = |a: Expr, b: Expr| Expr::Binary(Box::new(a), BinOp::Or, Box::new(b));
    let and = |a: Expr, b: Expr| Expr::Binary(Box::new(a), BinOp::And, Box::new(b));
    // Built from the last column out: rest(i) = rows after `after[i..]` among rows equal on
    // the columns before i.
    let mut rest: Option<Expr> = None;
    for (o, v) in order.iter().zip(after).rev() {
        let (beyond, equal) = match v {
            // Nothing sorts after NULL on this column; only equal (NULL) rows go on.
            Value::Null => (None, Expr::IsNull(col(o), false)),
            v => {
                let op = if o.descending { BinOp::Lt } else { BinOp::Gt };
                let beyond = or(Expr::Binary(col(o), op, lit(v)), Expr::IsNull(col(o), false));
                (Some(beyond), Expr::Binary(col(o), BinOp::Eq, lit(v)))
            }
        };
        let tied = rest.map(|r| and(equal, r));
        rest = match (beyond, tied) {
            (Some(b), Some(t)) => Some(or(b, t)),
            (Some(b), None) => Some(b),
            (None, t) => t,
        };
    }
    rest.unwrap_or(Expr::Literal(Value::Bool(false)))
}

/// Sorts rows by `order` (`NULL`s last).
pub fn sort_batch(batch: &RecordBatch, order: &[Order], table: &str) -> Result<RecordBatch> {
    use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn, SortOptions};
    if order.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let columns = order
        .iter()
        .map(|o| {
            let i = batch
                .schema_ref()
                .index_of(&o.column)
                .map_err(|_| Error::invalid_input(format!("table '{table}' has no column '{}'", o.column)))?;
            Ok(SortColumn {
                values: batch.column(i).clone(),
                options: Some(SortOptions {
                    descending: o.descending,
                    nulls_first: false,
                }),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let indices = lexsort_to_indices(&columns, None)
        .map_err(|e| Error::internal(format!("cannot sort the rows of '{table}': {e}")))?;
    take_record_batch(batch, &indices)
        .map_err(|e| Error::internal(format!("cannot sort the rows of '{table}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::compute::filter_batch;

    fn schema() -> TableSchema {
        TableSchema::parse("user text, age int64, at timestamp")
            .unwrap()
            .with_key("user", None)
            .unwrap()
    }

    #[test]
    fn orders_parse_and_become_total() {
        let o = Order::parse_list("age desc, -at").unwrap();
        assert_eq!(o[0].to_string(), "age desc");
        assert_eq!(o[1].to_string(), "at desc");
        let total = total_order(&schema(), &o, "t").unwrap();
        assert_eq!(total.len(), 3);
        assert_eq!(total[2].to_string(), "user asc");
        for bad in ["age up", "age desc x", "-", ""] {
            assert!(Order::parse(bad).is_err(), "{bad}");
        }
        let e = total_order(&schema(), &Order::parse_list("nope").unwrap(), "t").unwrap_err();
        assert!(e.to_string().contains("no column 'nope'"), "{e}");
        let keyless = TableSchema::parse("a text").unwrap();
        let e = total_order(&keyless, &[], "t").unwrap_err();
        assert!(e.to_string().contains("no primary key"), "{e}");
    }

    #[test]
    fn tokens_round_trip_and_refuse_another_order() {
        let order = total_order(&schema(), &Order::parse_list("age desc").unwrap(), "t").unwrap();
        let t = PageToken {
            order: order.clone(),
            after: vec![Value::Int(41), Value::Str("ana".into())],
        };
        let back = PageToken::decode(&t.encode()).unwrap();
        assert_eq!(back, t);
        back.check(&schema(), &order, "t").unwrap();
        let other = total_order(&schema(), &[], "t").unwrap();
        let e = back.check(&schema(), &other, "t").unwrap_err();
        assert!(e.to_string().contains("ordered by age desc, user asc"), "{e}");
        assert!(PageToken::decode("not a token!").is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("{\"v\":2}")).is_err());
    }

    #[test]
    fn pages_walk_every_row_once_in_order_with_nulls_last() {
        use arrow::array::{Int64Array, StringArray};
        use std::sync::Arc;
        let names: Vec<String> = (0..9).map(|i| format!("u{i}")).collect();
        let ages = vec![
            Some(3),
            None,
            Some(1),
            Some(3),
            None,
            Some(2),
            Some(1),
            Some(3),
            Some(2),
        ];
        let arrow_schema = Arc::new(Schema::new(vec![
            arrow::datatypes::Field::new("user", DataType::Utf8, false),
            arrow::datatypes::Field::new("age", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            arrow_schema,
            vec![
                Arc::new(StringArray::from(names)),
                Arc::new(Int64Array::from(ages)),
            ],
        )
        .unwrap();
        for desc in [false, true] {
            let order = vec![
                Order {
                    column: "age".into(),
                    descending: desc,
                },
                Order {
                    column: "user".into(),
                    descending: false,
                },
            ];
            let whole = sort_batch(&batch, &order, "t").unwrap();
            let mut seen = Vec::new();
            let mut after: Option<PageToken> = None;
            loop {
                let rest = match &after {
                    None => batch.clone(),
                    Some(t) => filter_batch(&after_filter(&order, &t.after), &batch, "t").unwrap(),
                };
                let page = sort_batch(&rest, &order, "t").unwrap();
                let page = page.slice(0, page.num_rows().min(2));
                if page.num_rows() == 0 {
                    break;
                }
                for r in 0..page.num_rows() {
                    seen.push(arrow::util::display::array_value_to_string(page.column(0), r).unwrap());
                }
                after = PageToken::after_last_row(&order, &page).unwrap();
            }
            let expect: Vec<String> = (0..whole.num_rows())
                .map(|r| arrow::util::display::array_value_to_string(whole.column(0), r).unwrap())
                .collect();
            assert_eq!(seen, expect, "descending: {desc}");
            // NULLs last either way.
            assert!(expect[7..].iter().all(|u| u == "u1" || u == "u4"), "{expect:?}");
        }
    }
}
