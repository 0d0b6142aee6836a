"""Tables from Python: pyarrow batches in and out, filters, keys, scans, errors."""

import pyarrow as pa
import pytest

import bindery


def make_users(ctx):
    ctx.table.create("db://users").schema(
        "user string NOT NULL, age int64, addr string, version int64 NOT NULL DEFAULT 0"
    ).primary_key("user").do()
    n = ctx.table.write("db://users").with_items(
        [{"user": "ana", "age": 41, "addr": "NY"}, {"user": "bob", "age": 25, "addr": "SF"}, {"user": "chen", "age": 33}]
    ).do()
    assert n == 3


def test_read_select_filter_as_pyarrow(ctx):
    make_users(ctx)
    reader = ctx.table.read("db://users").select("user", "addr").where_("age > 30").load()
    assert reader.schema.names == ["user", "addr"]
    batches = list(reader)
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    table = pa.Table.from_batches(batches)
    assert sorted(table.column("user").to_pylist()) == ["ana", "chen"]
    whole = ctx.table.read("db://users").do()
    assert isinstance(whole, pa.Table) and whole.num_rows == 3
    rows = ctx.table.read("db://users").key("bob").load().scan()
    assert rows == [{"user": "bob", "age": 25, "addr": "SF", "version": 0}]
    assert ctx.table.read("db://users").keys(["ana", "bob"]).select("user").load().scan(as_tuples=True) == [("ana",), ("bob",)]


def test_expressions_conditions_and_alter(ctx):
    make_users(ctx)
    ctx.table.write("db://users").to_keys(["ana"]).with_expression("age = age + :n, version = version + 1", {"n": 1}).condition("version = 0").do()
    with pytest.raises(bindery.ConditionFailed):
        ctx.table.write("db://users").to_keys(["ana"]).with_expression("age = age + :n", {"n": 1}).condition("version = 0").do()
    assert ctx.table.read("db://users").key("ana").select("age").load().scan() == [{"age": 42}]
    ctx.table.alter("db://users").add_column("level int64 NOT NULL DEFAULT 1").do()
    schema = ctx.table.schema("db://users").do()
    assert "level int64 NOT NULL DEFAULT 1" in schema["text"]
    assert schema["key"] == ["user"]
    # Every create and alter is a version of the schema; older ones read back as they were.
    assert schema["version"] == 2 and isinstance(schema["time"], float)
    first = ctx.table.schema("db://users").version(1).do()
    assert first["version"] == 1 and "level" not in first["text"]
    assert first["text"] == "user string NOT NULL, age int64, addr string, version int64 NOT NULL DEFAULT 0"
    with pytest.raises(bindery.InvalidInput, match="has no schema version 3: its versions are 1 to 2"):
        ctx.table.schema("db://users").version(3).do()


def test_delete_by_keys_and_filter_with_a_condition(ctx):
    make_users(ctx)
    with pytest.raises(bindery.InvalidInput, match="names no rows"):
        ctx.table.delete("db://users").do()
    assert ctx.table.delete("db://users").keys(["bob", "nobody"]).do() == 1
    with pytest.raises(bindery.ConditionFailed, match="chen"):
        ctx.table.delete("db://users").where_("age > 30").condition("addr = 'NY'").do()
    assert sorted(r["user"] for r in ctx.table.read("db://users").load().scan()) == ["ana", "chen"]
    assert ctx.table.delete("db://users").key("ana").where_("age > 40").do() == 1
    assert ctx.table.delete("db://users").where_("true").do() == 1
    assert ctx.table.read("db://users").do().num_rows == 0


def test_order_by_and_pages_by_token(ctx):
    make_users(ctx)
    got = ctx.table.read("db://users").order_by("age desc").select("user").do()
    assert got.column("user").to_pylist() == ["ana", "chen", "bob"]
    assert ctx.table.read("db://users").order_by(["-user"]).do().column("user").to_pylist() == ["chen", "bob", "ana"]
    seen, token = [], None
    while True:
        read = ctx.table.read("db://users").order_by("addr").select("user").page(2)
        if token is not None:
            read = read.after(token)
        reader = read.load()
        page = reader.read_all()
        assert page.column_names == ["user"]
        seen += page.column("user").to_pylist()
        token = reader.next_page
        if token is None:
            break
    assert seen == ["ana", "bob", "chen"]  # NY, SF, then chen's missing addr last
    by_addr = ctx.table.read("db://users").order_by("addr").page(1).load()
    by_addr.read_all()
    with pytest.raises(bindery.InvalidInput, match="ordered by"):
        ctx.table.read("db://users").page(2).after(by_addr.next_page).do()
    with pytest.raises(bindery.InvalidInput, match="order_by 'age sideways'"):
        ctx.table.read("db://users").order_by("age sideways").do()


def test_pyarrow_batches_written_to_a_parquet_table(ctx):
    ctx.table.create("lake://visits").schema("user string NOT NULL, page string, n int64").do()
    batch = pa.record_batch({"user": ["ana", "bob"], "page": ["/ny", "/sf"], "n": [1, 2]})
    assert ctx.table.write("lake://visits").with_batches(batch).do() == 2
    assert ctx.table.write("lake://visits").with_batches(pa.Table.from_batches([batch])).do() == 2
    got = ctx.table.read("lake://visits").where_("page LIKE '/ny%'").load().read_all()
    assert got.column("user").to_pylist() == ["ana", "ana"]


def test_bad_input_is_explained(ctx):
    make_users(ctx)
    with pytest.raises(bindery.InvalidInput, match="invalid filter"):
        ctx.table.read("db://users").where_("age >> 3").do()
    with pytest.raises(bindery.InvalidInput, match="column 'age' is int64"):
        ctx.table.write("db://users").with_items([{"user": "x", "age": "old"}]).do()
    with pytest.raises(bindery.NotFound):
        ctx.table.read("db://nope").do()


@pytest.mark.parametrize("codec", ["snappy", "zstd", "lz4", "gzip", "brotli", "none"])
def test_parquet_files_of_every_codec_and_int96_timestamps_read_as_pyarrow_wrote_them(ctx, spec, codec):
    import datetime
    import pyarrow.parquet as pq

    folder = spec.parent / "lake" / f"spark_{codec}"
    folder.mkdir(parents=True)
    far = datetime.datetime(9999, 12, 31, 23, 59, 59, 123456)
    near = datetime.datetime(2024, 1, 1, 12, 0, 0)
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "at": pa.array([near, far, None], pa.timestamp("us"))})
    # INT96, as Spark, Impala and Hive write timestamps: nanoseconds to Arrow, which cannot
    # hold the year 9999.
    pq.write_table(table, folder / "part-0.parquet", compression=codec, use_deprecated_int96_timestamps=True)
    got = ctx.table.read(f"lake://spark_{codec}").do()
    assert got.column("id").to_pylist() == [1, 2, 3]
    at = got.column("at").cast(pa.timestamp("us")).to_pylist()
    assert at == [near, far, None]


def test_items_keep_bytes_decimals_and_times_and_refuse_other_objects(ctx):
    import datetime
    import decimal

    ctx.table.create("db://values").schema("k string NOT NULL, raw binary, price float64, n int64, at timestamp").primary_key("k").do()
    at = datetime.datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
    ctx.table.write("db://values").with_items(
        [{"k": "a", "raw": b"\x00\x01\xff", "price": decimal.Decimal("2.5"), "n": decimal.Decimal("7"), "at": at}]
    ).do()
    got = ctx.table.read("db://values").do()
    assert got.column("raw").to_pylist() == [b"\x00\x01\xff"]
    assert got.column("price").to_pylist() == [2.5]
    assert got.column("n").to_pylist() == [7]
    assert got.column("at").cast(pa.timestamp("us", tz="UTC")).to_pylist() == [at]
    with pytest.raises(TypeError, match="a object .* is not a table value"):
        ctx.table.write("db://values").with_items([{"k": "b", "raw": object()}])
    # A binary value given to a text column is refused by the table, not stored as its repr.
    with pytest.raises(bindery.InvalidInput, match="column 'k' is string"):
        ctx.table.write("db://values").with_items([{"k": b"\x00"}]).do()


def test_sqlite_refuses_nan_rather_than_storing_null(ctx):
    ctx.table.create("db://m").schema("k string NOT NULL, x float64").primary_key("k").do()
    batch = pa.record_batch({"k": ["a", "b"], "x": [1.5, float("nan")]})
    with pytest.raises(bindery.InvalidInput, match="item 2 .* column 'x' is NaN, which SQLite cannot store"):
        ctx.table.write("db://m").with_batches(batch).do()
    assert ctx.table.read("db://m").do().num_rows == 0, "nothing was written"


def test_wider_types_come_back_as_their_arrow_types(ctx):
    import datetime
    import decimal

    ctx.table.create("db://wide").schema(
        "k int16 NOT NULL, price decimal(30, 10), big uint64, at timestamp(ns), local timestamp(ms, none), "
        "tm time(us), tags list<string>, point struct<x float64, y float64>, attrs map<string, int64>"
    ).primary_key("k").do()
    price = decimal.Decimal("12345678901234567890.0123456789")
    ctx.table.write("db://wide").with_items(
        [
            {"k": 1, "price": price, "big": 2**64 - 1, "at": "2026-12-02T03:04:05.123456789Z",
             "local": datetime.datetime(2026, 12, 2, 3, 4, 5, 678000), "tm": datetime.time(23, 59, 59, 999999),
             "tags": ["a", "b"], "point": {"x": 1.5, "y": -2.0}, "attrs": {"n": 3}},
            {"k": 2, "price": decimal.Decimal("0.1")},
        ]
    ).do()
    got = ctx.table.read("db://wide").do().sort_by("k")
    assert got.schema.field("k").type == pa.int16()
    assert got.schema.field("price").type == pa.decimal128(30, 10)
    assert got.schema.field("big").type == pa.uint64()
    assert got.schema.field("at").type == pa.timestamp("ns", tz="+00:00")
    assert got.schema.field("local").type == pa.timestamp("ms")
    assert got.schema.field("tm").type == pa.time64("us")
    assert got.schema.field("tags").type.value_type == pa.string()
    assert got.column("price").to_pylist() == [price, decimal.Decimal("0.1")]
    assert got.column("big").to_pylist() == [2**64 - 1, None]
    assert got.column("at").cast(pa.int64()).to_pylist()[0] == 1796180645123456789
    assert got.column("local").to_pylist()[0] == datetime.datetime(2026, 12, 2, 3, 4, 5, 678000)
    assert got.column("tm").to_pylist()[0] == datetime.time(23, 59, 59, 999999)
    assert got.column("tags").to_pylist() == [["a", "b"], None]
    assert got.column("point").to_pylist()[0] == {"x": 1.5, "y": -2.0}
    assert got.column("attrs").to_pylist()[0] == [("n", 3)]
    # Filters on them mean what they say.
    hit = ctx.table.read("db://wide").where_("price > 1e19 AND big > 9223372036854775807").select(["k"]).do()
    assert hit.column("k").to_pylist() == [1]


def test_pyarrow_types_pass_through_a_parquet_table_unchanged(ctx):
    import decimal

    batch = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int8()),
            "d": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
            "fixed": pa.array([b"abcd", b"wxyz"], pa.binary(4)),
            "ns": pa.array([1, 2], pa.timestamp("ns")),
            "nested": pa.array([[{"a": 1}], []], pa.list_(pa.struct([("a", pa.int32())]))),
        }
    )
    ctx.table.create("lake://typed").schema(
        "id int8, d decimal(5, 2), fixed binary(4), ns timestamp(ns, none), nested list<struct<a int32>>"
    ).do()
    ctx.table.write("lake://typed").with_batches(batch).do()
    got = ctx.table.read("lake://typed").do()
    assert got.schema == batch.schema
    assert got.equals(pa.Table.from_batches([batch]))


def test_an_error_after_the_schema_is_raised_as_the_bindery_error_it_is(ctx, spec):
    import pathlib
    import shutil

    folder = spec.parent / "lake" / "short"
    folder.mkdir(parents=True)
    # A file the parquet crate decodes none of its rows of (kept from apache/parquet-testing).
    corpus = pathlib.Path(__file__).parent.parent / "data" / "parquet-testing" / "data"
    shutil.copy(corpus / "repeated_no_annotation.parquet", folder / "part.parquet")
    reader = ctx.table.read("lake://short").load()
    assert reader.schema.names == ["id", "phoneNumbers"]
    with pytest.raises(bindery.InvalidInput, match="decoded 0") as caught:
        reader.read_all()
    assert caught.value.binding == "lake" and caught.value.operation == "read"


def test_a_table_reader_speaks_the_arrow_pycapsule_stream_protocol(ctx):
    make_users(ctx)
    with ctx.table.read("db://users").select("user", "age").where_("age > 30").load() as reader:
        # Any consumer of the Arrow C stream interface takes it directly.
        stream = pa.RecordBatchReader.from_stream(reader)
        assert stream.schema.names == ["user", "age"]
        table = stream.read_all()
    assert sorted(table.column("user").to_pylist()) == ["ana", "chen"]
    # A schema the consumer asks for is honoured where Arrow can cast to it.
    wanted = pa.schema([("user", pa.large_string()), ("age", pa.int64())])
    cast = pa.RecordBatchReader.from_stream(ctx.table.read("db://users").select("user", "age").load(), schema=wanted)
    assert cast.read_all().schema == wanted


def test_watch_reports_rows_changed_here_and_by_python_sqlite3(ctx, spec):
    import sqlite3

    from conftest import ends_within

    make_users(ctx)
    with ends_within(30), ctx.table.watch("db://users").initial(True).load() as w:
        first = [next(w) for _ in range(4)]
        assert sorted(c.path for c in first[:3]) == ["ana", "bob", "chen"]
        assert first[3].kind == "synced"
        ana = next(c for c in first if c.path == "ana")
        assert ana.row == {"user": "ana", "age": 41, "addr": "NY", "version": 0}
        ctx.table.write("db://users").with_items([{"user": "dan", "age": 7}]).do()
        change = next(w)
        assert (change.kind, change.path, change.row["age"], change.before) == ("created", "dan", 7, None)
        # Another program: Python's own sqlite3 on the binding's database file.
        db = sqlite3.connect(spec.parent / "tables.db")
        db.execute("UPDATE users SET age = 8 WHERE user = 'dan'")
        db.commit()
        db.execute("DELETE FROM users WHERE user = 'bob'")
        db.commit()
        db.close()
        updated, deleted = next(w), next(w)
        assert (updated.kind, updated.path, updated.row["age"], updated.before["age"]) == ("updated", "dan", 8, 7)
        assert (deleted.kind, deleted.path, deleted.row, deleted.before["user"]) == ("deleted", "bob", None, "bob")
        cursor = change.cursor
    with ends_within(30):
        again = ctx.table.watch("db://users").from_("cursor", cursor).load()
        assert [next(again)[:2] for _ in range(2)] == [("updated", "dan"), ("deleted", "bob")]
        again.close()
