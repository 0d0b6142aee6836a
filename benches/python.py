"""The Python SDK side by side (DESIGN §9, issues 6 and 10), each case against its baseline in
the same run on the same data, several rounds, medians and ratios (bindery / baseline; above
1 is faster). Run by ``benches/run python`` (the bindery package importable, opendal and
pyarrow installed in the benches' virtualenv).

- small objects: 4 KiB gets on ``fs`` (ops/s), against the ``opendal`` Python package's fs
  service and plain ``open().read()`` of the same file;
- large objects: a 1 GiB object read whole (MB/s and peak RSS, each in a process of its own),
  against opendal and a plain file read;
- tables: a Parquet file of ``BINDERY_BENCH_ROWS`` (default 10M) rows x 4 columns read through
  the ``files`` driver into a ``pyarrow.Table``, against ``pyarrow.parquet.read_table``;
- prefetch: a table read whose consumer works 1 ms per batch: wall time against
  max(fetch alone, work alone) (1.0 is perfect overlap).
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = 5
SMALL = 4096
LARGE = 1 << 30
WINDOW = 1.0


def human(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e4:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def report(case, unit, baseline, rounds):
    b = statistics.median(r[0] for r in rounds)
    d = statistics.median(r[1] for r in rounds)
    per = " ".join(f"{r[0] / r[1]:.2f}" for r in rounds)
    print(f"| {case} | {human(b)} {unit} | {human(d)} {unit} ({baseline}) | {b / d:.2f} | {per} |", flush=True)


def rate(op):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < WINDOW:
        op()
        n += 1
    return n / (time.perf_counter() - start)


def spec(folder):
    path = os.path.join(folder, "function.yaml")
    with open(path, "w") as f:
        f.write(
            "spec:\n  dataBindings:\n    obj:\n      kind: object\n      driver: fs\n      url: ./objects\n"
            "    lake:\n      kind: table\n      driver: files\n      url: ./lake\n"
        )
    return path


def large_read(kind, folder):
    """One whole read of the 1 GiB object in this process: prints MB/s and peak RSS."""
    path = os.path.join(folder, "objects", "large.bin")
    start = time.perf_counter()
    if kind == "bindery":
        import bindery

        ctx = bindery.Context(spec(folder))
        t0 = time.perf_counter()
        data = memoryview(ctx.object.get("obj://large.bin").do().data)
        start = t0
    elif kind == "opendal":
        import opendal

        data = opendal.Operator("fs", root=os.path.join(folder, "objects")).read("large.bin")
    else:
        with open(path, "rb") as f:
            data = f.read()
    secs = time.perf_counter() - start
    assert len(data) == LARGE
    print(LARGE / secs / 1e6, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def in_process(kind, folder):
    out = subprocess.run([sys.executable, __file__, "--large", kind, folder], capture_output=True, text=True, check=True)
    mbs, rss = out.stdout.split()
    return float(mbs), int(rss)


def main():
    import bindery
    import opendal
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tempfile.mkdtemp(dir=os.getcwd(), prefix=".bench-py-")
    os.makedirs(os.path.join(folder, "objects"))
    ctx = bindery.Context(spec(folder))
    small = os.urandom(SMALL)
    ctx.object.put("obj://small.bin", small).do()
    path = os.path.join(folder, "objects", "small.bin")
    op = opendal.Operator("fs", root=os.path.join(folder, "objects"))

    print("\n## Python: objects on `fs`, against the `opendal` Python package and plain file reads\n")
    print("| case | bindery (median) | baseline (median) | ratio | per round |")
    print("|---|---:|---:|---:|---|")
    vs_dal, vs_file = [], []
    for _ in range(ROUNDS):
        b = rate(lambda: ctx.object.get("obj://small.bin").do())
        d = rate(lambda: op.read("small.bin"))
        def plain():
            with open(path, "rb") as f:
                f.read()
        p = rate(plain)
        vs_dal.append((b, d))
        vs_file.append((b, p))
    report("4 KiB get", "ops/s", "opendal", vs_dal)
    report("4 KiB get", "ops/s", "open().read()", vs_file)

    with open(os.path.join(folder, "objects", "large.bin"), "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(LARGE >> 20):
            f.write(chunk)
    rounds = {"bindery": [], "opendal": [], "file": []}
    for _ in range(3):
        for kind in rounds:
            rounds[kind].append(in_process(kind, folder))
    report("1 GiB get, whole", "MB/s", "opendal", [(b[0], d[0]) for b, d in zip(rounds["bindery"], rounds["opendal"])])
    report("1 GiB get, whole", "MB/s", "open().read()", [(b[0], d[0]) for b, d in zip(rounds["bindery"], rounds["file"])])
    rss = {k: statistics.median(r[1] for r in v) / (1 << 20) for k, v in rounds.items()}
    print(
        f"| 1 GiB get: peak RSS of the process (lower is better) | {rss['bindery']:.0f} MiB | "
        f"{rss['opendal']:.0f} MiB (opendal), {rss['file']:.0f} MiB (open().read()) | "
        f"{rss['bindery'] / rss['opendal']:.2f} | {rss['bindery'] / 1024:.2f}x the object |"
    )
    os.remove(os.path.join(folder, "objects", "large.bin"))

    rows = int(os.environ.get("BINDERY_BENCH_ROWS", 10_000_000))
    ctx.table.create("lake://events").schema("id int64 NOT NULL, name string, score float64, age int64").do()
    n = 0
    while n < rows:
        m = min(1_000_000, rows - n)
        ids = pa.array(range(n, n + m), pa.int64())
        ctx.table.write("lake://events").with_batches(pa.record_batch({
            "id": ids,
            "name": pa.array([f"user-{i % 1000}" for i in range(m)]),
            "score": pa.array([float(i % 97) for i in range(m)]),
            "age": pa.array([i % 100 for i in range(m)], pa.int64()),
        })).do()
        n += m
    files = sorted(os.path.join(folder, "lake", "events", f) for f in os.listdir(os.path.join(folder, "lake", "events")) if f.endswith(".parquet"))
    print(f"\n## Python: a Parquet table of {rows:,} rows x 4 columns into pyarrow\n")
    print("| case | bindery (median) | baseline (median) | ratio | per round |")
    print("|---|---:|---:|---:|---|")
    table_rounds, filtered = [], []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        got = ctx.table.read("lake://events").load().read_all()
        b = rows / (time.perf_counter() - t)
        assert got.num_rows == rows
        t = time.perf_counter()
        base = pq.read_table(files)
        d = rows / (time.perf_counter() - t)
        assert base.num_rows == rows
        table_rounds.append((b, d))
        t = time.perf_counter()
        got = ctx.table.read("lake://events").where_("age = 5").load().read_all()
        b = rows / (time.perf_counter() - t)
        t = time.perf_counter()
        base = pq.read_table(files, filters=[("age", "=", 5)])
        d = rows / (time.perf_counter() - t)
        assert got.num_rows == base.num_rows
        filtered.append((b, d))
    report("read whole", "rows/s", "pyarrow.parquet.read_table", table_rounds)
    report("read filtered to 1% (age = 5)", "rows/s", "read_table(filters=…)", filtered)

    # Prefetch: fetch alone, 1 ms of work per batch alone, both together.
    overlap = []
    for _ in range(3):
        t = time.perf_counter()
        batches = sum(1 for _ in ctx.table.read("lake://events").load())
        fetch = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(batches):
            time.sleep(0.001)
        work = time.perf_counter() - t
        t = time.perf_counter()
        for _ in ctx.table.read("lake://events").load():
            time.sleep(0.001)
        both = time.perf_counter() - t
        overlap.append((max(fetch, work), both, batches))
    ideal = statistics.median(o[0] for o in overlap)
    both = statistics.median(o[1] for o in overlap)
    per = " ".join(f"{o[0] / o[1]:.2f}" for o in overlap)
    print(
        f"| prefetch: {overlap[0][2]} batches, 1 ms of work each | {both * 1000:.0f} ms wall | "
        f"{ideal * 1000:.0f} ms (max of fetch alone, work alone) | {ideal / both:.2f} | {per} |"
    )
    del ctx
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--large":
        large_read(sys.argv[2], sys.argv[3])
    else:
        main()
