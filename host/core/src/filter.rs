//! The filter language of `where_` (DESIGN §6): a SQL-like boolean expression, parsed once
//! (by sqlparser) into bindery's own expression tree, [`Expr`].
//!
//! ```
//! use bindery_core::filter::Filter;
//! let f = Filter::parse("age > 30 AND city = 'NY' AND name LIKE 'A%'").unwrap();
//! let row = serde_json::json!({"age": 41, "city": "NY", "name": "Ana"});
//! assert!(f.matches_json(&row));
//! ```
//!
//! Supported: comparisons (`= != <> < <= > >=`), `AND`, `OR`, `NOT`, `IN (…)`,
//! `BETWEEN … AND …`, `LIKE` / `ILIKE` (`%` and `_`), `IS [NOT] NULL`, arithmetic
//! (`+ - * / %`), parentheses; literals are numbers, `'strings'`, `TRUE`, `FALSE`, `NULL`;
//! column names may be dotted (`user.address.city`) or `"quoted"`. Anything else (a function
//! call, a subquery) is refused with `InvalidInput` pointing at it.
//!
//! Evaluation follows SQL: a comparison with `NULL` (or a missing field) is unknown, and a
//! row passes only if the whole expression is true.
//!
//! Limits (each refused with `InvalidInput` naming it): a filter is at most
//! [`MAX_FILTER_BYTES`] long, nests at most [`MAX_DEPTH`] levels (chains of `AND` or of `OR`
//! are kept balanced, so thousands of terms nest only a few levels), and an `IN` list has at
//! most [`MAX_IN_LIST`] values. `LIKE` matches in time proportional to the pattern times the
//! value, never exponential.

use std::fmt;

use sqlparser::ast::{self, BinaryOperator, Spanned, UnaryOperator};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token};

use crate::error::{Error, Result};

/// The longest filter or update expression accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 256 << 10;
/// The deepest nesting of an expression (after `AND` and `OR` chains are balanced).
pub const MAX_DEPTH: usize = 64;
/// The most values in one `IN` list.
pub const MAX_IN_LIST: usize = 10_000;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    Str(String),
}

macro_rules! value_from {
    ($($t:ty => $v:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v(<$as>::from(x))
            }
        })*
    };
}

value_from!(
    bool => Bool as bool,
    i32 => Int as i64,
    i64 => Int as i64,
    u32 => Int as i64,
    f32 => Float as f64,
    f64 => Float as f64,
    String => Str as String,
    &str => Str as String,
);

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `=`
    Eq,
    /// `!=`, `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl BinOp {
    /// The operator as SQL writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "=",
            BinOp::NotEq => "<>",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
            BinOp::Plus => "+",
            BinOp::Minus => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
        }
    }
}

/// The expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column (a field of a message), as its path of names.
    Column(Vec<String>),
    /// A literal.
    Literal(Value),
    /// `left op right`.
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// `NOT e`.
    Not(Box<Expr>),
    /// `-e`.
    Neg(Box<Expr>),
    /// `e IS NULL` (or `IS NOT NULL` when the flag is set).
    IsNull(Box<Expr>, bool),
    /// `e [NOT] IN (list)`.
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `e [NOT] BETWEEN low AND high`.
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] [I]LIKE pattern [ESCAPE c]`.
    Like(Box<Expr>, Like),
}

/// The pattern side of `LIKE` / `ILIKE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Like {
    /// The pattern as written: `%` any run of characters, `_` one character.
    pub pattern: String,
    /// The character that makes the next one literal (`ESCAPE '\\'`); none unless given.
    pub escape: Option<char>,
    /// `NOT LIKE`.
    pub negated: bool,
    /// `ILIKE`: both sides compared lower-cased (Unicode's default lower-case mapping).
    pub insensitive: bool,
}

/// One step of a `LIKE` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeToken {
    /// `%`: any run of characters, the empty one included.
    Any,
    /// `_`: exactly one character.
    One,
    /// This character itself.
    Char(char),
}

impl Like {
    /// The pattern as its steps (the escape character taken out).
    pub fn tokens(&self) -> Vec<LikeToken> {
        let mut out = Vec::with_capacity(self.pattern.len());
        let mut chars = self.pattern.chars();
        while let Some(c) = chars.next() {
            out.push(match c {
                c if Some(c) == self.escape => LikeToken::Char(chars.next().unwrap_or(c)),
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            });
        }
        out
    }

    /// The pattern rewritten with `escape` as its escape character (every literal `%`, `_`
    /// and `escape` preceded by it), for backends whose `LIKE` takes that one.
    pub fn with_escape(&self, escape: char) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 4);
        for t in self.tokens() {
            match t {
                LikeToken::Any => out.push('%'),
                LikeToken::One => out.push('_'),
                LikeToken::Char(c) => {
                    if c == '%' || c == '_' || c == escape {
                        out.push(escape);
                    }
                    out.push(c);
                }
            }
        }
        out
    }

    /// Whether `s` matches (lower-casing both sides for `ILIKE`), before `NOT`.
    pub fn matches(&self, s: &str) -> bool {
        self.matcher()(s)
    }

    /// [`Like::matches`] with the pattern prepared once, for many values.
    pub fn matcher(&self) -> impl Fn(&str) -> bool {
        let insensitive = self.insensitive;
        let tokens: Vec<LikeToken> = if insensitive {
            self.tokens()
                .into_iter()
                .flat_map(|t| match t {
                    LikeToken::Char(c) => c.to_lowercase().map(LikeToken::Char).collect::<Vec<_>>(),
                    t => vec![t],
                })
                .collect()
        } else {
            self.tokens()
        };
        move |s: &str| {
            if insensitive {
                like_tokens(&s.to_lowercase(), &tokens)
            } else {
                like_tokens(s, &tokens)
            }
        }
    }
}

impl Expr {
    /// The columns the expression names (first part of dotted names), each once, in order.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit_columns(&mut |c: &[String]| {
            if let Some(first) = c.first() {
                if !out.contains(first) {
                    out.push(first.clone());
                }
            }
        });
        out
    }

    /// Calls `f` with every column the expression names.
    pub fn visit_columns(&self, f: &mut impl FnMut(&[String])) {
        match self {
            Expr::Column(c) => f(c),
            Expr::Literal(_) => {}
            Expr::Binary(l, _, r) => {
                l.visit_columns(f);
                r.visit_columns(f);
            }
            Expr::Not(x) | Expr::Neg(x) | Expr::IsNull(x, _) | Expr::Like(x, _) => x.visit_columns(f),
            Expr::InList(x, list, _) => {
                x.visit_columns(f);
                list.iter().for_each(|i| i.visit_columns(f));
            }
            Expr::Between(x, lo, hi, _) => {
                x.visit_columns(f);
                lo.visit_columns(f);
                hi.visit_columns(f);
            }
        }
    }
}

/// An update expression (`with_expression`): `count = count + :inc, name = :name`, each
/// column set to an expression over the row's current values.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignments {
    /// The text as given.
    pub text: String,
    /// The values of its `:name` placeholders.
    pub params: Params,
    /// Each column and its new value, in order.
    pub set: Vec<(String, Expr)>,
}

impl Assignments {
    /// Parses `column = expr[, column = expr…]`, `:name` placeholders taking their values
    /// from `params`. A malformed one is `InvalidInput` pointing at the position.
    pub fn parse(text: &str, params: &Params) -> Result<Assignments> {
        let parsed = parse_all(text, "expression", |p| {
            p.parse_comma_separated(Parser::parse_assignment)
        })
        .and_then(|list| {
            let mut set = Vec::with_capacity(list.len());
            for a in list {
                let column = match &a.target {
                    ast::AssignmentTarget::ColumnName(name) if name.0.len() == 1 => name.0[0]
                        .as_ident()
                        .map(|i| i.value.clone())
                        .unwrap_or_else(|| name.to_string()),
                    other => {
                        return Err(at(
                            text,
                            a.value.span().start,
                            &format!("assign to one column at a time, not '{other}'"),
                        ))
                    }
                };
                if set.iter().any(|(c, _)| *c == column) {
                    return Err(at(
                        text,
                        a.value.span().start,
                        &format!("'{column}' is set twice"),
                    ));
                }
                set.push((column, convert(text, &a.value, params, 0)?));
            }
            Ok(set)
        })
        .map_err(|e| rename(e, "update expression"))?;
        Ok(Assignments {
            text: text.to_string(),
            params: params.clone(),
            set: parsed,
        })
    }
}

/// A parsed filter: its text and its tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The text as given.
    pub text: String,
    /// The parsed tree.
    pub expr: Expr,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Rewords an "invalid expression" error as one of `what`.
fn rename(e: Error, what: &str) -> Error {
    match e.message().strip_prefix("invalid expression") {
        Some(rest) => Error::invalid_input(format!("invalid {what}{rest}")),
        None => e,
    }
}

fn located(text: &str, line: u64, col: u64, why: &str) -> Error {
    let shown = text.lines().nth(line.saturating_sub(1) as usize).unwrap_or(text);
    let caret = " ".repeat(col.saturating_sub(1) as usize);
    Error::invalid_input(format!(
        "invalid expression: {why} at line {line}, column {col}\n  {shown}\n  {caret}^"
    ))
}

fn at(text: &str, loc: Location, why: &str) -> Error {
    located(text, loc.line.max(1), loc.column.max(1), why)
}

/// Where `op` is written after `after` (sqlparser keeps no span for an operator).
fn operator_location(text: &str, after: Location, op: &str) -> Option<Location> {
    let line = text.lines().nth(after.line.checked_sub(1)? as usize)?;
    let start: usize = line
        .chars()
        .take(after.column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    let found = line.get(start..)?.find(op)? + start;
    Some(Location::new(
        after.line,
        line[..found].chars().count() as u64 + 1,
    ))
}

/// The number after `label` in a sqlparser message.
fn number_after(message: &str, label: &str) -> Option<u64> {
    message
        .split(label)
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Pulls `Line: L, Column: C` out of a sqlparser message.
fn position_of(message: &str) -> Option<(u64, u64)> {
    Some((
        number_after(message, "Line: ")?,
        number_after(message, "Column: ")?,
    ))
}

/// Values of `:name` placeholders (`with_expression("count = count + :inc", {"inc": 1})`).
pub type Params = std::collections::BTreeMap<String, Value>;

/// Turns a sqlparser error into one pointing at its position in `text`.
fn parse_error(text: &str, e: sqlparser::parser::ParserError) -> Error {
    let msg = e.to_string();
    let why = msg
        .split(" at Line:")
        .next()
        .unwrap_or(&msg)
        .trim_start_matches("sql parser error: ");
    match position_of(&msg) {
        Some((l, c)) => located(text, l, c, why),
        // The input ended early: point just past its end.
        None => {
            let last = text.lines().last().unwrap_or("");
            let line = text.lines().count().max(1) as u64;
            located(text, line, last.chars().count() as u64 + 1, why)
        }
    }
}

/// Runs `parse` over `text` and checks nothing follows what it parsed.
fn parse_all<T>(
    text: &str,
    what: &str,
    parse: impl FnOnce(&mut Parser) -> std::result::Result<T, sqlparser::parser::ParserError>,
) -> Result<T> {
    if text.trim().is_empty() {
        return Err(Error::invalid_input(format!("invalid {what}: it is empty")));
    }
    if text.len() > MAX_FILTER_BYTES {
        return Err(Error::invalid_input(format!(
            "invalid {what}: it is {} bytes long; at most {MAX_FILTER_BYTES} are accepted",
            text.len()
        )));
    }
    let dialect = GenericDialect {};
    let fail = |e| parse_error(text, e);
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(fail)?;
    let parsed = parse(&mut parser).map_err(fail)?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(at(
            text,
            next.span.start,
            &format!("unexpected '{}' after the {what}", next.token),
        ));
    }
    Ok(parsed)
}

impl Filter {
    /// Parses a filter. A malformed one is `InvalidInput` pointing at the offending position.
    pub fn parse(text: &str) -> Result<Filter> {
        Filter::parse_with(text, &Params::new())
    }

    /// Parses a filter whose `:name` placeholders take their values from `params`.
    pub fn parse_with(text: &str, params: &Params) -> Result<Filter> {
        let expr = parse_all(text, "expression", |p| p.parse_expr())
            .and_then(|ast| convert(text, &ast, params, 0))
            .map_err(|e| rename(e, "filter"))?;
        Ok(Filter {
            text: text.to_string(),
            expr,
        })
    }

    /// The columns the filter names (first part of dotted names), each once, in order.
    pub fn columns(&self) -> Vec<String> {
        self.expr.columns()
    }

    /// Whether a JSON document passes the filter (SQL semantics: unknown is not a pass).
    pub fn matches_json(&self, doc: &serde_json::Value) -> bool {
        matches!(eval(&self.expr, doc), Some(Value::Bool(true)))
    }
}

/// The operands of a chain `a OP b OP c …` of one associative operator (`AND`, `OR`), found
/// without recursion (a left-deep chain of thousands of terms is a deep tree), in order.
fn chain<'a>(e: &'a ast::Expr, op: &BinaryOperator) -> Vec<&'a ast::Expr> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            ast::Expr::BinaryOp { left, op: o, right } if o == op => {
                todo.push(right);
                todo.push(left);
            }
            ast::Expr::Nested(inner) if matches!(inner.as_ref(), ast::Expr::BinaryOp { op: o, .. } if o == op) => {
                todo.push(inner)
            }
            other => out.push(other),
        }
    }
    out
}

/// A balanced tree of `op` over `items` (in order): for `AND` and `OR` the same truth as
/// the chain, with depth log2 of its length.
fn balanced(mut items: Vec<Expr>, op: BinOp) -> Expr {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => Expr::Binary(Box::new(a), op, Box::new(b)),
                None => a,
            });
        }
        items = next;
    }
    items
        .pop()
        .unwrap_or(Expr::Literal(Value::Bool(op == BinOp::And)))
}

fn convert(text: &str, e: &ast::Expr, params: &Params, depth: usize) -> Result<Expr> {
    if depth >= MAX_DEPTH {
        return Err(at(
            text,
            e.span().start,
            &format!("the expression nests deeper than {MAX_DEPTH} levels here"),
        ));
    }
    let c = |e: &ast::Expr| convert(text, e, params, depth + 1).map(Box::new);
    Ok(match e {
        ast::Expr::Identifier(id) => Expr::Column(vec![id.value.clone()]),
        ast::Expr::CompoundIdentifier(ids) => Expr::Column(ids.iter().map(|i| i.value.clone()).collect()),
        ast::Expr::Nested(inner) => convert(text, inner, params, depth)?,
        ast::Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => {
            // The depth of the balanced tree, counted before its operands are converted.
            let operands = chain(e, op);
            let levels = usize::BITS - (operands.len().max(1) - 1).leading_zeros();
            let items = operands
                .into_iter()
                .map(|x| convert(text, x, params, depth + levels as usize))
                .collect::<Result<Vec<_>>>()?;
            balanced(
                items,
                if *op == BinaryOperator::And {
                    BinOp::And
                } else {
                    BinOp::Or
                },
            )
        }
        // A column whose name is also a function without arguments (`user`).
        ast::Expr::Function(f) if matches!(f.args, ast::FunctionArguments::None) && f.name.0.len() == 1 => {
            Expr::Column(vec![f.name.0[0]
                .as_ident()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| f.name.to_string())])
        }
        ast::Expr::Value(v) => Expr::Literal(match &v.value {
            ast::Value::Null => Value::Null,
            ast::Value::Boolean(b) => Value::Bool(*b),
            ast::Value::Number(n, _) => match n.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(n.parse().map_err(|_| at(text, v.span.start, "bad number"))?),
            },
            ast::Value::SingleQuotedString(s) => Value::Str(s.clone()),
            ast::Value::Placeholder(name) => match params.get(name.trim_start_matches(':')) {
                Some(v) => v.clone(),
                None => {
                    let known: Vec<String> = params.keys().map(|k| format!(":{k}")).collect();
                    let known = if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    };
                    let why = format!("placeholder '{name}' has no value (values given: {known})");
                    return Err(at(text, v.span.start, &why));
                }
            },
            other => return Err(at(text, v.span.start, &format!("unsupported literal {other}"))),
        }),
        ast::Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Eq => BinOp::Eq,
                BinaryOperator::NotEq => BinOp::NotEq,
                BinaryOperator::Lt => BinOp::Lt,
                BinaryOperator::LtEq => BinOp::LtEq,
                BinaryOperator::Gt => BinOp::Gt,
                BinaryOperator::GtEq => BinOp::GtEq,
                BinaryOperator::And => BinOp::And,
                BinaryOperator::Or => BinOp::Or,
                BinaryOperator::Plus => BinOp::Plus,
                BinaryOperator::Minus => BinOp::Minus,
                BinaryOperator::Multiply => BinOp::Mul,
                BinaryOperator::Divide => BinOp::Div,
                BinaryOperator::Modulo => BinOp::Mod,
                other => {
                    let shown = other.to_string();
                    let loc = operator_location(text, left.span().end, &shown).unwrap_or(e.span().start);
                    return Err(at(text, loc, &format!("unsupported operator '{shown}'")));
                }
            };
            Expr::Binary(c(left)?, op, c(right)?)
        }
        ast::Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Expr::Not(c(expr)?),
        // A negative number is a literal (`-9223372036854775808` included), not a negation.
        ast::Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            ast::Expr::Value(ast::ValueWithSpan {
                value: ast::Value::Number(n, _),
                span,
            }) => {
                let negative = format!("-{n}");
                Expr::Literal(match negative.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(negative.parse().map_err(|_| at(text, span.start, "bad number"))?),
                })
            }
            _ => Expr::Neg(c(expr)?),
        },
        ast::Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => convert(text, expr, params, depth)?,
        ast::Expr::IsNull(x) => Expr::IsNull(c(x)?, false),
        ast::Expr::IsNotNull(x) => Expr::IsNull(c(x)?, true),
        ast::Expr::InList { expr, list, negated } => {
            if list.len() > MAX_IN_LIST {
                return Err(at(
                    text,
                    e.span().start,
                    &format!(
                        "an IN list of {} values; at most {MAX_IN_LIST} are accepted (filter on a table of them instead)",
                        list.len()
                    ),
                ));
            }
            Expr::InList(
                c(expr)?,
                list.iter()
                    .map(|x| convert(text, x, params, depth + 1))
                    .collect::<Result<_>>()?,
                *negated,
            )
        }
        ast::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between(c(expr)?, c(low)?, c(high)?, *negated),
        ast::Expr::Like {
            negated,
            expr,
            pattern,
            escape_char,
            any: false,
        }
        | ast::Expr::ILike {
            negated,
            expr,
            pattern,
            escape_char,
            any: false,
        } => {
            let insensitive = matches!(e, ast::Expr::ILike { .. });
            let text_of = |x: &ast::Expr, what: &str| match convert(text, x, params, depth + 1)? {
                Expr::Literal(Value::Str(p)) => Ok(p),
                _ => Err(at(text, x.span().start, &format!("{what} must be a 'string'"))),
            };
            let pattern_text = text_of(pattern, "a LIKE pattern")?;
            let escape = match escape_char {
                None => None,
                Some(x) => {
                    let esc = text_of(x, "an ESCAPE character")?;
                    let mut chars = esc.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Some(c),
                        (None, _) => None,
                        _ => {
                            return Err(at(
                                text,
                                x.span().start,
                                &format!("ESCAPE takes one character, not '{esc}'"),
                            ))
                        }
                    }
                }
            };
            if let Some(c) = escape {
                // An escape character must be followed by the character it makes literal.
                let mut chars = pattern_text.chars();
                while let Some(p) = chars.next() {
                    if p == c && chars.next().is_none() {
                        return Err(at(
                            text,
                            pattern.span().start,
                            &format!(
                                "the LIKE pattern '{pattern_text}' ends with its escape character '{c}'"
                            ),
                        ));
                    }
                }
            }
            Expr::Like(
                c(expr)?,
                Like {
                    pattern: pattern_text,
                    escape,
                    negated: *negated,
                    insensitive,
                },
            )
        }
        other => {
            let what = other.to_string();
            let what = what.split_whitespace().next().unwrap_or("");
            return Err(at(
                text,
                other.span().start,
                &format!("unsupported expression starting '{what}'"),
            ));
        }
    })
}

/// A JSON scalar as a literal (objects and arrays become their JSON text).
pub fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        // Objects and arrays compare as their JSON text.
        other => Value::Str(other.to_string()),
    }
}

fn lookup(doc: &serde_json::Value, path: &[String]) -> Value {
    let mut cur = doc;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    json_value(cur)
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// How two values compare (the rules of the filter table in the README); `None` when one is
/// `NULL` or they are of kinds that do not compare (a string with a number, a boolean with
/// anything but a boolean).
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    Some(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => cmp_floats(*x, *y),
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x).reverse(),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => return None,
    })
}

/// `s LIKE pattern` (`%` any run, `_` one character, no escape character).
pub fn like(s: &str, pattern: &str) -> bool {
    Like {
        pattern: pattern.to_string(),
        escape: None,
        negated: false,
        insensitive: false,
    }
    .matches(s)
}

/// Whether `s` matches a pattern's steps: the greedy matcher with one backtrack point (the
/// last `%`), so at most pattern × value steps and no recursion.
fn like_tokens(s: &str, p: &[LikeToken]) -> bool {
    let s: Vec<char> = s.chars().collect();
    let (mut si, mut pi) = (0usize, 0usize);
    // After the last `%` seen: where the pattern goes on, and where in `s` it was tried.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(LikeToken::Any) => {
                star = Some((pi + 1, si));
                pi += 1;
            }
            Some(LikeToken::One) => {
                si += 1;
                pi += 1;
            }
            Some(LikeToken::Char(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                // Let the last `%` take one more character, and try again after it.
                Some((p_after, s_at)) => {
                    pi = p_after;
                    si = s_at + 1;
                    star = Some((p_after, s_at + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|t| *t == LikeToken::Any)
}

/// How two floats compare in filters: `-0.0` equals `0.0`, and NaN (of either sign) equals
/// NaN and is greater than every number (PostgreSQL's order).
pub fn cmp_floats(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// How an integer compares with a float in filters: exactly, as the numbers they are
/// (`9007199254740993 > 9007199254740992.0`), never by rounding the integer to a float.
pub fn cmp_int_float(i: i64, f: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    // 2^63 as a float: every float at or above it is above every i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_63 {
        return Less;
    }
    if f < -TWO_63 {
        return Greater;
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i64)) {
        Equal => cmp_floats(0.0, f - whole),
        other => other,
    }
}

/// Evaluates an expression against a JSON document; `None` is SQL's unknown (or an error
/// such as a type mismatch, which is treated the same).
pub fn eval(e: &Expr, doc: &serde_json::Value) -> Option<Value> {
    use std::cmp::Ordering::*;
    let truth = |v: Option<Value>| match v {
        Some(Value::Bool(b)) => Some(b),
        _ => None,
    };
    Some(match e {
        Expr::Column(path) => lookup(doc, path),
        Expr::Literal(v) => v.clone(),
        Expr::Not(x) => Value::Bool(!truth(eval(x, doc))?),
        Expr::Neg(x) => match eval(x, doc)? {
            Value::Int(i) => Value::Int(i.checked_neg()?),
            Value::Float(f) => Value::Float(-f),
            _ => return None,
        },
        Expr::IsNull(x, negated) => {
            let null = matches!(eval(x, doc), None | Some(Value::Null));
            Value::Bool(null != *negated)
        }
        Expr::Binary(l, BinOp::And, r) => match (truth(eval(l, doc)), truth(eval(r, doc))) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => return None,
        },
        Expr::Binary(l, BinOp::Or, r) => match (truth(eval(l, doc)), truth(eval(r, doc))) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => return None,
        },
        Expr::Binary(l, op, r) => {
            let (a, b) = (eval(l, doc)?, eval(r, doc)?);
            match op {
                BinOp::Eq => Value::Bool(compare(&a, &b)? == Equal),
                BinOp::NotEq => Value::Bool(compare(&a, &b)? != Equal),
                BinOp::Lt => Value::Bool(compare(&a, &b)? == Less),
                BinOp::LtEq => Value::Bool(compare(&a, &b)? != Greater),
                BinOp::Gt => Value::Bool(compare(&a, &b)? == Greater),
                BinOp::GtEq => Value::Bool(compare(&a, &b)? != Less),
                _ => arith(*op, &a, &b)?,
            }
        }
        Expr::InList(x, list, negated) => {
            let v = eval(x, doc)?;
            let mut unknown = false;
            for item in list {
                match eval(item, doc).and_then(|i| compare(&v, &i)) {
                    Some(Equal) => return Some(Value::Bool(!negated)),
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            if unknown {
                return None;
            }
            Value::Bool(*negated)
        }
        Expr::Between(x, lo, hi, negated) => {
            let v = eval(x, doc)?;
            let inside = compare(&v, &eval(lo, doc)?)? != Less && compare(&v, &eval(hi, doc)?)? != Greater;
            Value::Bool(inside != *negated)
        }
        Expr::Like(x, pattern) => match eval(x, doc)? {
            Value::Str(s) => Value::Bool(pattern.matches(&s) != pattern.negated),
            _ => return None,
        },
    })
}

/// Integer arithmetic in filters: exact in 64 bits, `None` (SQL's `NULL`) where there is no
/// 64-bit result (overflow, division or remainder by zero). Division truncates toward zero
/// and a remainder takes the sign of the dividend, as in SQL.
pub fn int_arith(op: BinOp, x: i64, y: i64) -> Option<i64> {
    match op {
        BinOp::Plus => x.checked_add(y),
        BinOp::Minus => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div => x.checked_div(y),
        // i64::MIN % -1 is 0, not an overflow.
        BinOp::Mod if y == -1 => Some(0),
        BinOp::Mod => x.checked_rem(y),
        _ => None,
    }
}

/// Float arithmetic in filters: IEEE 754, except that dividing by zero is `None` (`NULL`),
/// as for integers. `%` takes integers only (refused before evaluation).
pub fn float_arith(op: BinOp, x: f64, y: f64) -> Option<f64> {
    match op {
        BinOp::Plus => Some(x + y),
        BinOp::Minus => Some(x - y),
        BinOp::Mul => Some(x * y),
        BinOp::Div if y == 0.0 => None,
        BinOp::Div => Some(x / y),
        _ => None,
    }
}

fn arith(op: BinOp, a: &Value, b: &Value) -> Option<Value> {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        return int_arith(op, *x, *y).map(Value::Int);
    }
    float_arith(op, num(a)?, num(b)?).map(Value::Float)
}

/// Keeps only the named fields of a JSON object (dotted names reach into nested objects).
/// Missing fields are left out.
pub fn select_json(doc: &serde_json::Value, fields: &[String]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        let path: Vec<String> = f.split('.').map(str::to_string).collect();
        let mut cur = doc;
        let mut found = true;
        for p in &path {
            match cur.get(p) {
                Some(next) => cur = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found {
            out.insert(f.clone(), cur.clone());
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pass(f: &str, doc: serde_json::Value) -> bool {
        Filter::parse(f).unwrap().matches_json(&doc)
    }

    #[test]
    fn evaluates_the_supported_forms() {
        let d = json!({"age": 41, "city": "NY", "name": "Ana", "score": 2.5, "vip": true, "user": "u1",
                       "addr": {"zip": "10001"}, "none": null});
        for (f, want) in [
            ("age > 30 AND city = 'NY' AND name LIKE 'A%'", true),
            ("age > 30 AND city = 'SF'", false),
            ("age >= 41 OR missing = 1", true),
            ("NOT (age < 40)", true),
            ("city IN ('SF', 'NY')", true),
            ("city NOT IN ('SF', 'NY')", false),
            ("age BETWEEN 40 AND 50", true),
            ("age NOT BETWEEN 40 AND 50", false),
            ("name LIKE '_na'", true),
            ("name ILIKE 'ana'", true),
            ("name NOT LIKE 'B%'", true),
            ("none IS NULL AND missing IS NULL AND age IS NOT NULL", true),
            ("age + 1 = 42 AND age * 2 > 80 AND age % 2 = 1 AND -age < 0", true),
            ("score > 2 AND score < 3.0", true),
            ("vip = TRUE", true),
            ("addr.zip = '10001'", true),
            ("user = 'u1'", true),
            ("missing = 1", false),
            ("NOT missing = 1", false),
            ("age = 'forty'", false),
        ] {
            assert_eq!(pass(f, d.clone()), want, "{f}");
        }
    }

    #[test]
    fn bad_filters_point_at_the_position() {
        let e = Filter::parse("age >> 3").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        let e = e.to_string();
        assert!(
            e.contains("unsupported operator '>>' at line 1, column 5\n  age >> 3\n      ^"),
            "{e}"
        );
        let e = Filter::parse("age > 3 AND").unwrap_err().to_string();
        assert!(
            e.contains("found: EOF at line 1, column 12\n  age > 3 AND\n             ^"),
            "{e}"
        );
        let e = Filter::parse("lower(name) = 'a'").unwrap_err().to_string();
        assert!(
            e.contains("unsupported expression starting 'lower(name)'") && e.contains("column 1"),
            "{e}"
        );
        let e = Filter::parse("age > 3 garbage").unwrap_err().to_string();
        assert!(
            e.contains("unexpected 'garbage'") && e.contains("column 9\n  age > 3 garbage\n          ^"),
            "{e}"
        );
        assert!(Filter::parse("  ").is_err());
    }

    #[test]
    fn long_chains_and_hostile_patterns_stay_fast_and_within_limits() {
        // 5,000 terms: balanced, so parsed, evaluated and dropped without a deep stack.
        let many = (0..5000)
            .map(|i| format!("a = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let f = Filter::parse(&many).unwrap();
        assert!(f.matches_json(&serde_json::json!({"a": 4999})));
        assert!(!f.matches_json(&serde_json::json!({"a": 5000})));
        let and = (0..3000)
            .map(|i| format!("a <> {i}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert!(Filter::parse(&and)
            .unwrap()
            .matches_json(&serde_json::json!({"a": -1})));
        // Arithmetic is not reordered: a deep sum is refused, naming the limit.
        let sum = format!("{} > 0", vec!["a"; 200].join(" + "));
        let e = Filter::parse(&sum).unwrap_err().to_string();
        assert!(e.contains("nests deeper than 64"), "{e}");
        let parens = format!("{}a = 1{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&parens).is_ok(), "forty parentheses are fine");
        let e = Filter::parse(&"x".repeat(MAX_FILTER_BYTES + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 262144"), "{e}");
        let list = (0..=MAX_IN_LIST)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let e = Filter::parse(&format!("a IN ({list})")).unwrap_err().to_string();
        assert!(e.contains("at most 10000"), "{e}");
        // LIKE: what took exponential time answers at once, and a huge `_` run is no recursion.
        assert!(!like(&"a".repeat(200), "%a%a%a%a%b"));
        assert!(like(&"a".repeat(50_000), &"_".repeat(50_000)));
        assert!(!like(&"a".repeat(50_000), &"_".repeat(50_001)));
        for (s, p, want) in [
            ("abc", "a%c", true),
            ("abc", "%", true),
            ("", "%", true),
            ("", "_", false),
            ("abcbc", "a%bc", true),
            ("abcbd", "a%bc", false),
            ("mississippi", "m%iss%pi", true),
            ("mississippi", "m%iss%px", false),
            ("ab", "a_%", true),
            ("a", "a_%", false),
        ] {
            assert_eq!(like(s, p), want, "{s} LIKE {p}");
        }
    }

    #[test]
    fn select_keeps_named_fields() {
        let d = json!({"a": 1, "b": {"c": 2}, "d": 3});
        assert_eq!(
            select_json(&d, &["a".into(), "b.c".into(), "x".into()]),
            json!({"a": 1, "b.c": 2})
        );
    }
}
