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
  max(fetch alone, work alone) (1.0 is perfect overlap);
- memory of a table read: peak RSS of a process reading the whole table into a
  ``pyarrow.Table``, and of one iterating its batches without keeping them, against
  ``pyarrow.parquet.read_table`` and ``ParquetFile.iter_batches``;
- objects on S3 (when ``BINDERY_GARAGE_URL`` names a bucket on a running Garage server, as
  ``benches/run`` starts): 4 KiB gets with 64 in flight (ops/s; Garage answers a lone small
  request only after ~40 ms, which one at a time would measure instead of the clients) and
  a 1 GiB object read whole (MB/s, peak RSS,
  each in a process of its own) against ``boto3`` and the ``opendal`` package's s3 service.
"""

import asyncio
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = 5
SMALL = 4096
LARGE = 1 << 30
IN_FLIGHT = 64
TABLE_ROUNDS = 9
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


def header(title):
    print(title)
    print("| case | bindery (median) | baseline (median) | ratio | per round |")
    print("|---|---:|---:|---:|---|")


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


def s3_spec(folder):
    path = os.path.join(folder, "s3.yaml")
    with open(path, "w") as f:
        f.write(
            "spec:\n  dataBindings:\n    obj:\n      kind: object\n      driver: s3\n"
            f"      url: {os.environ['BINDERY_GARAGE_URL']}\n      path: bench-py\n"
            "      credentials:\n        access_key_id: { env: BINDERY_S3_KEY_ID }\n"
            "        secret_access_key: { env: BINDERY_S3_SECRET }\n"
        )
    return path


def s3_clients(asynchronous=False):
    """boto3 and opendal on the same bucket and prefix as the `s3` binding of s3_spec."""
    import boto3
    import botocore.config
    import opendal

    endpoint, bucket = os.environ["BINDERY_GARAGE_URL"].rsplit("/", 1)
    creds = dict(aws_access_key_id=os.environ["BINDERY_S3_KEY_ID"], aws_secret_access_key=os.environ["BINDERY_S3_SECRET"])
    boto = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, max_pool_connections=IN_FLIGHT), **creds,
    )
    dal_options = dict(
        bucket=bucket, endpoint=endpoint, region="us-east-1", root="/bench-py",
        access_key_id=creds["aws_access_key_id"], secret_access_key=creds["aws_secret_access_key"],
    )
    if asynchronous:
        return boto, bucket, opendal.AsyncOperator("s3", **dal_options)
    return boto, bucket, opendal.Operator("s3", **dal_options)


def reset_peak():
    """Starts this process's peak RSS afresh: Linux keeps ru_maxrss across fork and exec, so a
    child would report its parent's size (writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss():
    """The peak resident memory since reset_peak() (VmHWM), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def s3_large_read(kind, folder):
    """One whole read of the 1 GiB object on S3 in this process: prints MB/s and peak RSS."""
    reset_peak()
    if kind == "bindery":
        import bindery

        ctx = bindery.Context(s3_spec(folder))
        start = time.perf_counter()
        data = memoryview(ctx.object.get("obj://large.bin").do().data)
    else:
        boto, bucket, dal = s3_clients()
        start = time.perf_counter()
        if kind == "boto3":
            data = boto.get_object(Bucket=bucket, Key="bench-py/large.bin")["Body"].read()
        else:
            data = dal.read("large.bin")
    secs = time.perf_counter() - start
    assert len(data) == LARGE
    print(LARGE / secs / 1e6, peak_rss())


def table_memory(kind, folder):
    """Reads the table in this process, whole or batch by batch: prints rows and peak RSS."""
    reset_peak()
    import pyarrow.parquet as pq

    lake = os.path.join(folder, "lake", "events")
    files = sorted(os.path.join(lake, f) for f in os.listdir(lake) if f.endswith(".parquet"))
    rows = 0
    if kind.startswith("bindery"):
        import bindery

        ctx = bindery.Context(spec(folder))
        reader = ctx.table.read("lake://events").load()
        if kind == "bindery-whole":
            rows = reader.read_all().num_rows
        else:
            rows = sum(b.num_rows for b in reader)
    elif kind == "pyarrow-whole":
        rows = pq.read_table(files).num_rows
    else:
        for f in files:
            rows += sum(b.num_rows for b in pq.ParquetFile(f).iter_batches())
    print(rows, peak_rss())


def large_read(kind, folder):
    """One whole read of the 1 GiB object in this process: prints MB/s and peak RSS."""
    reset_peak()
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
    print(LARGE / secs / 1e6, peak_rss())


def in_process(kind, folder, what="--large"):
    out = subprocess.run([sys.executable, __file__, what, kind, folder], capture_output=True, text=True, check=True)
    value, rss = out.stdout.split()
    return float(value), int(rss)


def s3_cases(folder):
    import bindery

    ctx = bindery.Context(s3_spec(folder))
    boto, bucket, dal = s3_clients(asynchronous=True)
    small = os.urandom(SMALL)
    keys = [f"s/{i}" for i in range(IN_FLIGHT)]
    wg = bindery.WaitGroup()
    for k in keys:
        ctx.object.put(f"obj://{k}", small).do_async(wg)
    assert wg.wait().first_error is None
    header("\n## Python: objects on `s3` (Garage, loopback), against `boto3` and the `opendal` package\n")

    def ours():
        wg = bindery.WaitGroup()
        for k in keys:
            ctx.object.get(f"obj://{k}").do_async(wg)
        waited = wg.wait()
        assert waited.first_error is None and all(len(memoryview(r.data)) == SMALL for r in waited.results)

    pool = concurrent.futures.ThreadPoolExecutor(IN_FLIGHT)

    def theirs():
        got = pool.map(lambda k: boto.get_object(Bucket=bucket, Key=f"bench-py/{k}")["Body"].read(), keys)
        assert all(len(g) == SMALL for g in got)

    loop = asyncio.new_event_loop()

    async def gather():
        return await asyncio.gather(*(dal.read(k) for k in keys))

    def dals():
        assert all(len(g) == SMALL for g in loop.run_until_complete(gather()))

    vs_boto, vs_dal = [], []
    for _ in range(ROUNDS):
        b = rate(ours) * IN_FLIGHT
        vs_boto.append((b, rate(theirs) * IN_FLIGHT))
        vs_dal.append((b, rate(dals) * IN_FLIGHT))
    report(f"4 KiB get, {IN_FLIGHT} in flight", "ops/s", "boto3, a thread each", vs_boto)
    report(f"4 KiB get, {IN_FLIGHT} in flight", "ops/s", "opendal AsyncOperator, asyncio.gather", vs_dal)
    pool.shutdown()
    loop.close()
    chunk = os.urandom(1 << 20)
    put = ctx.object.put("obj://large.bin", chunk)
    for _ in range((LARGE >> 20) - 1):
        put = put.add(chunk)
    put.do()
    rounds = {"bindery": [], "boto3": [], "opendal": []}
    for _ in range(3):
        for kind in rounds:
            rounds[kind].append(in_process(kind, folder, "--s3-large"))
    for base in ("boto3", "opendal"):
        report("1 GiB get, whole", "MB/s", base, [(b[0], d[0]) for b, d in zip(rounds["bindery"], rounds[base])])
    rss = {k: statistics.median(r[1] for r in v) / (1 << 20) for k, v in rounds.items()}
    print(
        f"| 1 GiB get: peak RSS of the process (lower is better) | {rss['bindery']:.0f} MiB | "
        f"{rss['boto3']:.0f} MiB (boto3), {rss['opendal']:.0f} MiB (opendal) | "
        f"{rss['bindery'] / rss['boto3']:.2f} | {rss['bindery'] / 1024:.2f}x the object |"
    )
    for path in ["large.bin", *keys]:
        ctx.object.delete(f"obj://{path}").do()


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

    header("\n## Python: objects on `fs`, against the `opendal` Python package and plain file reads\n")
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
    header(f"\n## Python: a Parquet table of {rows:,} rows x 4 columns into pyarrow\n")
    table_rounds, filtered = [], []
    for _ in range(TABLE_ROUNDS):
        t = time.perf_counter()
        got = ctx.table.read("lake://events").load().read_all()
        b = rows / (time.perf_counter() - t)
        assert got.num_rows == rows
        del got  # each read starts with the memory of the last one given back
        t = time.perf_counter()
        base = pq.read_table(files)
        d = rows / (time.perf_counter() - t)
        assert base.num_rows == rows
        del base
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

    # Memory of a table read, each way in a process of its own.
    mem = {k: in_process(k, folder, "--table-memory") for k in ("bindery-whole", "pyarrow-whole", "bindery-batches", "pyarrow-batches")}
    assert all(int(v[0]) == rows for v in mem.values()), mem
    mib = {k: v[1] / (1 << 20) for k, v in mem.items()}
    print(
        f"| peak RSS, the table read whole (lower is better) | {mib['bindery-whole']:.0f} MiB | "
        f"{mib['pyarrow-whole']:.0f} MiB (read_table) | {mib['bindery-whole'] / mib['pyarrow-whole']:.2f} | one run |"
    )
    print(
        f"| peak RSS, batches iterated and dropped (lower is better) | {mib['bindery-batches']:.0f} MiB | "
        f"{mib['pyarrow-batches']:.0f} MiB (ParquetFile.iter_batches) | {mib['bindery-batches'] / mib['pyarrow-batches']:.2f} | one run |"
    )
    del ctx
    if os.environ.get("BINDERY_GARAGE_URL"):
        s3_cases(folder)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--large":
        large_read(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--s3-large":
        s3_large_read(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--table-memory":
        table_memory(sys.argv[2], sys.argv[3])
    else:
        main()
