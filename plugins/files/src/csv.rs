//! Telling an empty string from NULL in CSV files.
//!
//! CSV has one convention for it, which bindery follows (as PostgreSQL's `COPY … CSV` does):
//! an empty field (`a,,b`) is NULL, a quoted empty field (`a,"",b`) is the empty string. Arrow's
//! CSV reader and writer see fields after quoting is undone, so they cannot; a [`Rewriter`]
//! sits between them and the file, field by field:
//! - reading, an empty field becomes [`NULL`], which the reader is told is NULL (so a quoted
//!   empty field stays an empty string; in a column that is not text it is NULL as well);
//! - writing, the writer writes NULL as [`NULL`], which becomes an empty field, and an empty
//!   string (written as an empty field) becomes `""`.
//!
//! The header row passes unchanged. Records end at `\n` or `\r\n` outside quotes.

use std::io::{self, Read};

/// What stands for NULL between the rewriter and Arrow's CSV reader or writer: a field no CSV
/// file holds in practice.
pub const NULL: &[u8] = b"\x00bindery-null\x00";

/// The regular expression (for Arrow's CSV reader) matching [`NULL`] only.
pub const NULL_REGEX: &str = "^\\x00bindery-null\\x00$";

/// Which way a [`Rewriter`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a file to Arrow's reader.
    Read,
    /// From Arrow's writer to a file.
    Write,
    /// From a file to Arrow's schema inference: as [`Direction::Read`], and a quoted value
    /// gets a mark that makes it text (`"00007"` is the string `00007`, not the number 7).
    Infer,
}

/// A streaming rewriter of CSV fields (see the module's documentation).
pub struct Rewriter {
    direction: Direction,
    /// For reading: whether each column (by position) is text, where `""` is the empty string.
    text: Vec<bool>,
    field: Vec<u8>,
    in_quotes: bool,
    column: usize,
    row: u64,
    /// The last byte ended a record with `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
}

impl Rewriter {
    /// A rewriter; `text` says, for reading, which columns hold text.
    pub fn new(direction: Direction, text: Vec<bool>) -> Rewriter {
        Rewriter {
            direction,
            text,
            field: Vec::new(),
            in_quotes: false,
            column: 0,
            row: 0,
            after_cr: false,
        }
    }

    /// Rewrites `input`, appending to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            let after_cr = std::mem::take(&mut self.after_cr);
            if self.in_quotes {
                if b == b'"' {
                    self.in_quotes = false;
                }
                self.field.push(b);
                continue;
            }
            match b {
                b',' => {
                    self.end_field(out);
                    out.push(b);
                    self.column += 1;
                }
                b'\n' if after_cr => out.push(b),
                b'\n' | b'\r' => {
                    // A blank line is no record.
                    if self.column > 0 || !self.field.is_empty() {
                        self.end_field(out);
                        self.row += 1;
                    }
                    self.column = 0;
                    out.push(b);
                    self.after_cr = b == b'\r';
                }
                b'"' => {
                    self.in_quotes = true;
                    self.field.push(b);
                }
                _ => self.field.push(b),
            }
        }
    }

    /// Ends the input: the last field, when the last record has no line end.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.column > 0 || !self.field.is_empty() {
            self.end_field(out);
        }
        self.column = 0;
    }

    fn end_field(&mut self, out: &mut Vec<u8>) {
        let field = std::mem::take(&mut self.field);
        if self.row == 0 {
            out.extend_from_slice(&field);
            return;
        }
        match self.direction {
            Direction::Read | Direction::Infer if field.is_empty() => out.extend_from_slice(NULL),
            Direction::Infer if field.len() > 2 && field[0] == b'"' => {
                out.extend_from_slice(b"\"\x01");
                out.extend_from_slice(&field[1..]);
            }
            Direction::Read if field == b"\"\"" && !self.text.get(self.column).copied().unwrap_or(true) => {
                out.extend_from_slice(NULL)
            }
            Direction::Write if field == NULL => {}
            Direction::Write if field.is_empty() => out.extend_from_slice(b"\"\""),
            _ => out.extend_from_slice(&field),
        }
        self.field = field;
        self.field.clear();
    }
}

/// A file read through a [`Rewriter`].
pub struct ReadNulls<R> {
    inner: R,
    rewriter: Rewriter,
    buf: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read> ReadNulls<R> {
    /// `inner` rewritten for Arrow's reader; `text` says which columns hold text.
    pub fn new(inner: R, text: Vec<bool>) -> Self {
        Self::with(inner, Rewriter::new(Direction::Read, text))
    }

    /// `inner` rewritten for Arrow's schema inference.
    pub fn for_inference(inner: R) -> Self {
        Self::with(inner, Rewriter::new(Direction::Infer, Vec::new()))
    }

    fn with(inner: R, rewriter: Rewriter) -> Self {
        ReadNulls {
            inner,
            rewriter,
            buf: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for ReadNulls<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() && !self.done {
            self.buf.clear();
            self.at = 0;
            let mut chunk = [0u8; 64 << 10];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.rewriter.finish(&mut self.buf);
                self.done = true;
            } else {
                self.rewriter.push(&chunk[..n], &mut self.buf);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Rewrites what Arrow's writer wrote (NULL as [`NULL`]) as the file's content.
pub fn for_file(written: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(written.len() + written.len() / 16);
    let mut r = Rewriter::new(Direction::Write, Vec::new());
    r.push(written, &mut out);
    r.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str, text: &[bool]) -> String {
        let mut out = String::new();
        ReadNulls::new(input.as_bytes(), text.to_vec())
            .read_to_string(&mut out)
            .unwrap();
        out.replace(std::str::from_utf8(NULL).unwrap(), "<NULL>")
    }

    #[test]
    fn empty_fields_are_null_and_quoted_empty_ones_are_empty_strings() {
        let text = [true, false, true];
        assert_eq!(
            read("s,n,t\n,,\"\"\n\"\",\"\",x\r\n\"a,\"\"b\"\"\",1,\n\n", &text),
            "s,n,t\n<NULL>,<NULL>,\"\"\n\"\",<NULL>,x\r\n\"a,\"\"b\"\"\",1,<NULL>\n\n"
        );
        // Without a last line end, and a header passing unchanged.
        assert_eq!(read(",x\n1,", &text), ",x\n1,<NULL>");
        assert_eq!(read("a\n\"line\nbreak\"\n", &text), "a\n\"line\nbreak\"\n");
    }

    #[test]
    fn writing_turns_null_into_an_empty_field_and_empty_strings_into_quotes() {
        let null = std::str::from_utf8(NULL).unwrap();
        let written = format!("s,n\n{null},1\n,{null}\n\"q,\"\"\",2\n");
        assert_eq!(
            String::from_utf8(for_file(written.as_bytes())).unwrap(),
            "s,n\n,1\n\"\",\n\"q,\"\"\",2\n"
        );
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let input = "s,n\n\"\",\"\"\n,\"x\"\"y\"\r\n".repeat(5000);
        let whole = read(&input, &[true, false]);
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(7);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut trickled = String::new();
        ReadNulls::new(Trickle(input.as_bytes()), vec![true, false])
            .read_to_string(&mut trickled)
            .unwrap();
        assert_eq!(
            trickled.replace(std::str::from_utf8(NULL).unwrap(), "<NULL>"),
            whole
        );
    }
}
