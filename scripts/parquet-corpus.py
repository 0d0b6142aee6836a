"""Reads every Parquet file of a clone of apache/parquet-testing (data/ and bad_data/) through
the `files` driver and compares it with pyarrow, sorted into identical, widened (every value
kept, a wider type), mismatch, refused (bindery only) and refused-both.

    python scripts/parquet-corpus.py path/to/bindery path/to/parquet-testing

Last run (73 files, bindery with its full type set): 52 identical; 7 "widened", which here
means equal values whose list/map/struct children are nullable and named `item`/`key`/`value`
where the file names them otherwise; 8 refused by both. The other 6:
- int96_from_spark "mismatch": its last value is year 290000, which pyarrow wraps even at
  microseconds; bindery reads 9089380393200000000 us, the right instant;
- repeated_no_annotation (refused): written by parquet-rs 0.3.0, its footer says 0 rows and
  its row group 6; the parquet crate decodes none, and bindery refuses the file naming the
  mismatch rather than answer no rows (pyarrow reads the 6);
- dict-page-offset-zero and nation.dict-malformed: the parquet crate refuses them (pyarrow
  reads them);
- null_list: its only column is List(Null), a type bindery has no name for (`schema` lists
  it as unsupported; reading it is refused naming the column);
- incorrect_map_schema: bindery reads it, pyarrow refuses its map without required keys.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

bindery, corpus = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp()
root = os.path.join(work, "lake")
shutil.rmtree(root, ignore_errors=True); os.makedirs(root)
spec = os.path.join(work, "function.yaml")
open(spec, "w").write("metadata:\n  name: pq\nspec:\n  dataBindings:\n    lake:\n      kind: table\n      driver: files\n      url: %s\n" % root)
results = {}
files = sorted(glob.glob(f"{corpus}/data/*.parquet") + glob.glob(f"{corpus}/bad_data/*.parquet"))
for f in files:
    name = os.path.basename(os.path.dirname(f)) + "__" + os.path.basename(f)[:-8].replace(".", "_").replace("-", "_")
    d = os.path.join(root, name); os.makedirs(d)
    shutil.copy(f, os.path.join(d, "part.parquet"))
    try:
        want = pq.read_table(f, coerce_int96_timestamp_unit="us")
        want_err = None
    except Exception as e:
        want, want_err = None, str(e)[:100]
    p = subprocess.run([bindery, "table", "--spec", spec, "read", "lake://" + name, "--format", "arrow"], capture_output=True)
    if p.returncode != 0:
        status = "refused"
        detail = p.stderr.decode(errors="replace").strip().splitlines()[-1][:300] if p.stderr else ""
    else:
        got = ipc.open_stream(p.stdout).read_all()
        if want is None:
            status, detail = "read-but-pyarrow-refuses", want_err
        elif got.num_rows != want.num_rows or got.column_names != want.column_names:
            status, detail = "different-shape", f"{got.num_rows}x{got.column_names} vs {want.num_rows}x{want.column_names}"
        else:
            diffs = []

            def same(a, b):
                if a.type == b.type and a.equals(b):
                    return True
                if pa.types.is_timestamp(a.type):
                    a = a.cast(pa.timestamp(a.type.unit)).cast(pa.int64())
                if pa.types.is_timestamp(b.type):
                    b = b.cast(pa.timestamp(b.type.unit)).cast(pa.int64())
                try:
                    a, b = a.to_pylist(), b.to_pylist()
                except (OverflowError, ValueError):  # a date Python's datetime cannot hold
                    return False

                def nan(x):
                    return isinstance(x, float) and x != x

                return len(a) == len(b) and all(x == y or (nan(x) and nan(y)) for x, y in zip(a, b))

            for c in want.column_names:
                w, g = want.column(c), got.column(c)
                if w.type == g.type and same(w, g):
                    continue
                def casts_back(a, b):
                    try:
                        return same(a.cast(b.type), b)
                    except Exception:
                        return False

                # Widened: bindery's values cast back to pyarrow's type are pyarrow's values.
                if casts_back(g, w):
                    verdict = "widened"
                elif casts_back(w, g):
                    verdict = "LOSSY?"
                else:
                    verdict = "DIFFERENT"
                diffs.append(f"{c}: {verdict} {w.type}->{g.type}")
            if not diffs:
                status, detail = "identical", ""
            elif all("widened" in x for x in diffs):
                status, detail = "widened", "; ".join(diffs)
            else:
                status, detail = "mismatch", "; ".join(diffs)
    if want_err and status == "refused":
        status = "refused-both"
    results.setdefault(status, []).append((name, detail, want_err))
for k, v in sorted(results.items()):
    print(f"== {k}: {len(v)}")
    for name, detail, we in v:
        print(f"   {name}: {detail}" + (f"  [pyarrow: {we}]" if we else ""))
shutil.rmtree(work)
