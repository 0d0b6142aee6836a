"""apache/parquet-testing through the files driver, against pyarrow: each file reads
identically, or differs as written down here (and in the README) for that file."""

import pathlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bindery

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "data" / "parquet-testing"
FILES = sorted(CORPUS.glob("*/*.parquet"))

# Equal values; list, map and struct children come back nullable and named as Arrow names
# them (`item`, `entries`/`key`/`value`), not as the file does.
CHILDREN_RENAMED = {
    "data/datapage_v2.snappy.parquet",
    "data/map_no_value.parquet",
    "data/nested_maps.snappy.parquet",
    "data/nonnullable.impala.parquet",
    "data/old_list_structure.parquet",
    "data/repeated_primitive_no_list.parquet",
    "data/nested_structs.rust.parquet",
}
# Refused by bindery, with the reason its error names.
REFUSED = {
    # Its footer says 0 rows and its row group 6; the parquet crate decodes none.
    "data/repeated_no_annotation.parquet": "says 6 rows, but the parquet reader decoded 0",
    # The parquet crate cannot read these two (pyarrow can).
    "data/dict-page-offset-zero.parquet": "Expected list element type",
    "data/nation.dict-malformed.parquet": "Invalid page header",
    # Its only column is List(Null), a type bindery has no name for.
    "data/null_list.parquet": "column 'emptylist' has Arrow type List(Null)",
}
# Read by bindery, refused by pyarrow ("Map keys must be annotated as required").
PYARROW_REFUSES = {"data/incorrect_map_schema.parquet"}


def same(g, w):
    """Equal arrays, NaN equal to NaN (pyarrow's `equals` has NaN unequal to itself)."""
    if g.equals(w):
        return True
    nan = lambda x: isinstance(x, float) and x != x  # noqa: E731
    a, b = g.to_pylist(), w.to_pylist()
    return len(a) == len(b) and all(x == y or (nan(x) and nan(y)) for x, y in zip(a, b))


def equal_values(got, want):
    """Column by column: equal, or equal once bindery's column is cast to pyarrow's type."""
    for name in want.column_names:
        g, w = got.column(name), want.column(name)
        if g.type != w.type:
            g = g.cast(w.type)
        if not same(g, w):
            return False
    return got.column_names == want.column_names


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_file_reads_as_pyarrow_reads_it(tmp_path, path):
    rel = f"{path.parent.name}/{path.name}"
    (tmp_path / "lake" / "t").mkdir(parents=True)
    shutil.copy(path, tmp_path / "lake" / "t" / "part.parquet")
    spec = tmp_path / "function.yaml"
    spec.write_text(
        "metadata:\n  name: corpus\nspec:\n  dataBindings:\n    lake:\n      kind: table\n      driver: files\n      url: ./lake\n"
    )
    ctx = bindery.Context(spec)
    try:
        want, want_error = pq.read_table(path, coerce_int96_timestamp_unit="us"), None
    except Exception as e:  # pyarrow refuses it
        want, want_error = None, str(e)
    try:
        got, got_error = ctx.table.read("lake://t").do(), None
    except bindery.Error as e:
        got, got_error = None, str(e)

    if want_error is not None and got_error is not None:
        assert "cannot read the file" in got_error or "Arrow type" in got_error, got_error
        return
    if rel in PYARROW_REFUSES:
        assert want_error is not None and got is not None
        return
    if rel in REFUSED:
        assert got_error is not None and REFUSED[rel] in got_error, got_error
        return
    assert got_error is None, got_error
    assert want_error is None, want_error
    assert got.num_rows == want.num_rows
    if rel == "data/int96_from_spark.parquet":
        # Its last value is the year 290000, which pyarrow wraps even in microseconds; bindery
        # keeps the instant (290000-12-30T23:00:00Z). The others agree.
        g = got.column("a").cast(pa.int64()).to_pylist()
        w = want.column("a").cast(pa.int64()).to_pylist()
        assert g[:-1] == w[:-1]
        assert g[-1] == 9089380393200000000
        return
    if rel in CHILDREN_RENAMED:
        assert got.schema != want.schema
        assert equal_values(got, want)
        return
    assert got.schema == want.schema, f"{got.schema}\n!=\n{want.schema}"
    assert equal_values(got, want)
