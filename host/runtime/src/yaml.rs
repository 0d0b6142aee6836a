//! A YAML document as a tree whose every node knows its line and column, so that spec errors
//! can say `function.yaml:12:5`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Loc {
    fn of(m: Marker) -> Loc {
        Loc {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar, as written; `quoted` when it was in quotes (so `"1"` is a string).
    Scalar { value: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Marked>),
    /// A mapping, in file order.
    Map(Vec<(Marked, Marked)>),
}

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Marked {
    /// The node.
    pub node: Node,
    /// Where it starts.
    pub loc: Loc,
}

impl Marked {
    /// The scalar's text, if a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.node {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether this is a null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.node, Node::Scalar { value, quoted: false } if value.is_empty() || value == "~" || value == "null")
    }

    /// The node as JSON: an unquoted scalar is null, a boolean or a number when it reads as
    /// one (YAML's core schema), else a string; sequences are arrays, mappings objects.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.node {
            Node::Scalar { .. } if self.is_null() => Value::Null,
            Node::Scalar { value, quoted: true } => Value::String(value.clone()),
            Node::Scalar { value, quoted: false } => match value.as_str() {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                v => v
                    .parse::<i64>()
                    .map(Value::from)
                    .ok()
                    .or_else(|| v.parse::<u64>().map(Value::from).ok())
                    .or_else(|| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite() && v.chars().any(|c| c.is_ascii_digit()))
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                    })
                    .unwrap_or_else(|| Value::String(v.to_string())),
            },
            Node::Seq(items) => Value::Array(items.iter().map(Marked::to_json).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// What the node is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.node {
            Node::Scalar { .. } if self.is_null() => "nothing (null)",
            Node::Scalar { .. } => "a scalar",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where.
    pub loc: Loc,
    /// What.
    pub message: String,
}

/// The deepest nesting of lists and mappings a spec may have.
pub const MAX_DEPTH: usize = 64;

/// A list or mapping being built: the node, the key waiting for its value, and (mappings)
/// where each key was first seen.
struct Frame {
    node: Marked,
    pending_key: Option<Marked>,
    keys: HashMap<String, Loc>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Marked>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, loc: Loc, message: String) {
        self.error.get_or_insert(SyntaxError { loc, message });
    }

    fn push_value(&mut self, value: Marked) {
        let mut duplicate = None;
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
            Some(Frame {
                node: parent,
                pending_key,
                keys,
            }) => match &mut parent.node {
                Node::Seq(items) => items.push(value),
                Node::Map(entries) => match pending_key.take() {
                    None => {
                        // The parser marks a block mapping after its first key: such a
                        // mapping starts where its first key does. (A flow mapping is marked
                        // at its `{`, before its first key, and keeps that.)
                        let (k, p) = (value.loc, parent.loc);
                        if entries.is_empty() && (k.line, k.col) < (p.line, p.col) {
                            parent.loc = value.loc;
                        }
                        if let Some(name) = value.as_str() {
                            if let Some(first) = keys.insert(name.to_string(), value.loc) {
                                duplicate = Some((name.to_string(), first, value.loc));
                            }
                        }
                        *pending_key = Some(value);
                    }
                    Some(k) => entries.push((k, value)),
                },
                Node::Scalar { .. } => {}
            },
        }
        if let Some((name, first, again)) = duplicate {
            // YAML forbids it, and taking either value silently would misread the spec.
            self.fail(
                again,
                format!(
                    "duplicate key '{name}' (first at line {}, column {})",
                    first.line, first.col
                ),
            );
        }
    }

    fn open(&mut self, node: Node, loc: Loc) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(
                loc,
                format!("lists and mappings nest deeper than {MAX_DEPTH} levels here; a function spec needs far fewer"),
            );
            return;
        }
        self.stack.push(Frame {
            node: Marked { node, loc },
            pending_key: None,
            keys: HashMap::new(),
        });
    }

    /// Where the innermost flow collection still open (`[` or `{`) began, as words for a
    /// message: a parser stops where it noticed the error, often the end of the file, far
    /// from the bracket that was never closed.
    fn open_flow(&self, text: &str) -> String {
        for frame in self.stack.iter().rev() {
            let Loc { line, col } = frame.node.loc;
            let opener = text
                .lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.chars().nth(col.saturating_sub(1)));
            let (what, close) = match opener {
                Some('[') => ("flow sequence", ']'),
                Some('{') => ("flow mapping", '}'),
                _ => continue,
            };
            return format!(
                " (inside the {what} opened with '{}' at line {line}, column {col}: is a '{close}' missing there?)",
                opener.unwrap_or(' ')
            );
        }
        String::new()
    }

    fn on_event(&mut self, ev: Event, mark: Marker) {
        let loc = Loc::of(mark);
        match ev {
            Event::Scalar(value, style, _, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(Marked {
                    node: Node::Scalar { value, quoted },
                    loc,
                });
            }
            Event::SequenceStart(..) => self.open(Node::Seq(Vec::new()), loc),
            Event::MappingStart(..) => self.open(Node::Map(Vec::new()), loc),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = self.stack.pop() {
                    self.push_value(done.node);
                }
            }
            Event::Alias(_) => {
                self.error.get_or_insert(SyntaxError {
                    loc,
                    message: "YAML aliases (*name) are not supported in function specs".into(),
                });
            }
            _ => {}
        }
    }
}

/// Parses `text`, which must hold one document. An empty document is an empty mapping.
/// Nesting deeper than [`MAX_DEPTH`], a duplicate key, an alias or a second document is an
/// error at its position.
pub fn parse(text: &str) -> Result<Marked, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    // The events are taken one by one (the parser's own `load` recurses once per level of
    // nesting, so a deep document would overflow the stack before any check).
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| SyntaxError {
            loc: Loc::of(*e.marker()),
            message: format!("{}{}", e.info(), builder.open_flow(text)),
        })?;
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    builder.fail(
                        Loc::of(mark),
                        "a second YAML document starts here; a function spec is one document".into(),
                    );
                }
            }
            ev => builder.on_event(ev, mark),
        }
        if builder.error.is_some() {
            break;
        }
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root.unwrap_or(Marked {
        node: Node::Map(Vec::new()),
        loc: Loc { line: 1, col: 1 },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are() {
        let doc = parse("a:\n  b: 1\n  c: [x, \"y\"]\n").unwrap();
        let Node::Map(top) = &doc.node else { panic!() };
        let (_, a) = &top[0];
        let Node::Map(inner) = &a.node else { panic!() };
        assert_eq!(inner[0].0.as_str(), Some("b"));
        assert_eq!(inner[0].1.loc, Loc { line: 2, col: 6 });
        let Node::Seq(items) = &inner[1].1.node else {
            panic!()
        };
        assert_eq!(
            items[1].node,
            Node::Scalar {
                value: "y".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn deep_nesting_duplicate_keys_and_second_documents_are_refused_where_they_are() {
        for deep in ["[".repeat(3000), "- ".repeat(3000) + "1", "{a: ".repeat(3000)] {
            let e = parse(&deep).unwrap_err();
            // Refused, never a crash: by the depth check, or by the scanner's own limit on
            // open flow collections.
            assert!(
                e.message.contains("nest deeper than 64") || e.message.contains("recursion limit"),
                "{e:?}"
            );
        }
        assert!(parse(&("[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH))).is_ok());
        let e = parse("spec:\n  driver: fs\n  driver: s3\n").unwrap_err();
        assert_eq!((e.loc.line, e.loc.col), (3, 3), "{e:?}");
        assert!(
            e.message
                .contains("duplicate key 'driver' (first at line 2, column 3)"),
            "{e:?}"
        );
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.loc.line, 2, "{e:?}");
        assert!(e.message.contains("second YAML document"), "{e:?}");
        assert!(parse("---\na: 1\n...\n").is_ok(), "one explicit document is fine");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.loc.line >= 1, "{e:?}");
        assert!(!e.message.is_empty());
        // An unclosed flow sequence: also where it opened, not only where the parser stopped.
        let text = "spec:\n  triggers:\n    web:\n      kind: http\n      attributes:\n        hosts: [a.example, b.example\n        port: 8080\n  runtime: python\n";
        let e = parse(text).unwrap_err();
        assert!(
            e.message.contains(
                "inside the flow sequence opened with '[' at line 6, column 16: is a ']' missing there?"
            ),
            "{e:?}"
        );
        let e = parse("a: {b: 1, c: [1, 2]\n").unwrap_err();
        assert!(
            e.message
                .contains("flow mapping opened with '{' at line 1, column 4"),
            "{e:?}"
        );
    }
}
