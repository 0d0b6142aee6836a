//! Arrow batches across the boundary by the Arrow C Data Interface, without copying.
//!
//! A batch crosses as one [`RawBuf`] whose bytes are a [`CBatch`]: the batch as a struct
//! array (`ArrowArray`) and its schema with metadata (`ArrowSchema`). The receiver moves both
//! out and imports them; the buffers stay where the sender made them and are freed by the
//! sender's release callbacks when the receiver drops the last array using them. The sender's
//! library must therefore stay loaded for as long as such arrays live: the host never unloads a
//! plugin that has sent a batch (see [`crate::host`]).

use std::ffi::c_void;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StructArray};
use arrow::datatypes::Schema;
use arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use bindery_core::{Error, Result};

use crate::ffi::RawBuf;

/// One batch in the C Data Interface: the array, then the schema.
#[repr(C)]
pub struct CBatch {
    /// The batch as a struct array.
    pub array: FFI_ArrowArray,
    /// The schema, with the schema's and fields' metadata.
    pub schema: FFI_ArrowSchema,
}

unsafe extern "C" fn release_batch(owner: *mut c_void) {
    // SAFETY: `owner` was made by `export` from a `Box<CBatch>`; dropping it releases whatever
    // the receiver did not move out.
    drop(unsafe { Box::from_raw(owner as *mut CBatch) });
}

fn arrow_err(what: &str, e: arrow::error::ArrowError) -> Error {
    Error::internal(format!(
        "cannot {what} an Arrow batch across the plugin boundary: {e}"
    ))
}

/// Lends a batch across the boundary (its buffers are shared, not copied).
pub fn export(batch: &RecordBatch) -> Result<RawBuf> {
    let schema = FFI_ArrowSchema::try_from(batch.schema().as_ref()).map_err(|e| arrow_err("export", e))?;
    let array = FFI_ArrowArray::new(&StructArray::from(batch.clone()).into_data());
    let boxed = Box::new(CBatch { array, schema });
    let owner = Box::into_raw(boxed);
    Ok(RawBuf {
        ptr: owner as *const u8,
        len: std::mem::size_of::<CBatch>(),
        owner: owner as *mut c_void,
        release: Some(release_batch),
    })
}

/// Takes a batch lent by [`export`] on the other side.
///
/// # Safety
/// `raw` must be a buffer made by [`export`] (of a build with the same `CBatch` layout, which
/// the ABI version guarantees) and not used again.
pub unsafe fn import(raw: RawBuf) -> Result<RecordBatch> {
    if raw.ptr.is_null() || raw.len != std::mem::size_of::<CBatch>() {
        return Err(Error::internal(format!(
            "a batch buffer of {} bytes crossed the plugin boundary; a C Data batch is {}",
            raw.len,
            std::mem::size_of::<CBatch>()
        )));
    }
    let c = raw.ptr as *mut CBatch;
    // SAFETY: the buffer is a live `CBatch` we now own; moving the two structs out leaves
    // released (empty) ones behind, which the sender's release then frees as no-ops.
    let (array, schema) = unsafe {
        (
            std::ptr::replace(std::ptr::addr_of_mut!((*c).array), FFI_ArrowArray::empty()),
            std::ptr::replace(std::ptr::addr_of_mut!((*c).schema), FFI_ArrowSchema::empty()),
        )
    };
    if let Some(release) = raw.release {
        // SAFETY: released once, with the owner it came with.
        unsafe { release(raw.owner) };
    }
    let arrow_schema = Schema::try_from(&schema).map_err(|e| arrow_err("import", e))?;
    // SAFETY: the array and schema are valid C Data structs made by `export`.
    let data = unsafe { from_ffi(array, &schema) }.map_err(|e| arrow_err("import", e))?;
    let rows = data.len();
    let columns = StructArray::from(data).into_parts().1;
    RecordBatch::try_new_with_options(
        Arc::new(arrow_schema),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| arrow_err("import", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type};
    use std::collections::HashMap;

    #[test]
    fn batches_cross_with_metadata_and_without_a_copy() {
        let schema = Arc::new(Schema::new_with_metadata(
            vec![
                Field::new("n", DataType::Int64, false)
                    .with_metadata(HashMap::from([("bindery.default".into(), "0".into())])),
                Field::new("s", DataType::Utf8, true),
            ],
            HashMap::from([("bindery.key".to_string(), "n".to_string())]),
        ));
        let n = Int64Array::from(vec![1, 2, 3]);
        let values = n.values().as_ptr();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(n),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap();
        // SAFETY: a buffer just made by `export`.
        let back = unsafe { import(export(&batch).unwrap()) }.unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.schema(), schema, "metadata crosses");
        assert_eq!(
            back.column(0).as_primitive::<Int64Type>().values().as_ptr(),
            values,
            "the receiver reads the sender's memory"
        );
        drop(batch);
        assert_eq!(back.column(0).as_primitive::<Int64Type>().value(2), 3);
        // An empty batch (a read's schema) crosses too.
        let empty = RecordBatch::new_empty(schema.clone());
        let back = unsafe { import(export(&empty).unwrap()) }.unwrap();
        assert_eq!((back.num_rows(), back.schema()), (0, schema));
    }
}
