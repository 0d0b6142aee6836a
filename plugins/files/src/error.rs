//! The files driver's errors: I/O errors by the core's mapping (`Error::io`), a file that is
//! not what its name says (`InvalidInput`, naming it), Arrow's own failures (`Internal`), and
//! the refusals of an append-only table.

use std::fmt::Display;
use std::path::Path;

use bindery_core::{Error, ErrorKind};

/// A file that is not what its extension says, or that cannot be decoded.
pub(crate) fn bad_file(path: &Path, why: impl Display) -> Error {
    Error::invalid_input(format!("cannot read the file '{}': {why}", path.display()))
}

/// An Arrow failure on data the driver made itself (a bug, not bad input).
pub(crate) fn arrow_internal(e: arrow::error::ArrowError) -> Error {
    Error::internal(e.to_string())
}

/// A `create` of a table that is there.
pub(crate) fn already(name: &str, path: &Path) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        format!("table '{name}' already exists ('{}')", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn a_file_that_is_not_parquet_names_itself_and_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"PAR1 but not really").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let real = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap_err();
        let e = bad_file(&path, real);
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.message()
                .starts_with(&format!("cannot read the file '{}': ", path.display())),
            "{e}"
        );
    }

    #[test]
    fn arrow_failures_are_internal_and_io_keeps_its_meaning() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
        let real =
            RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![Some(1), None]))]).unwrap_err();
        let e = arrow_internal(real);
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.message().contains("null"), "{e}");
        let missing = std::fs::read_dir("/no/such/folder").unwrap_err();
        assert_eq!(Error::io(missing, "list 'x'").kind(), ErrorKind::NotFound);
        let e = already("events", Path::new("/lake/events"));
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(e.message(), "table 'events' already exists ('/lake/events')");
    }
}
