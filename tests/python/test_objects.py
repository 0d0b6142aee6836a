"""Objects from Python: every operation, conditions, zero-copy buffers, streaming reads."""

import json
import resource

import pytest

import bindery
from conftest import write_spec


def test_put_get_head_list_delete(ctx):
    meta = ctx.object.put("files://a/b.txt", b"hello ").add("world").metadata({"content-type": "text/plain"}).do()
    assert (meta.path, meta.size) == ("a/b.txt", 11)
    got = ctx.object.get("files://a/b.txt").do()
    assert bytes(got.data) == b"hello world"
    assert got.data == b"hello world"
    assert got.meta.gen == meta.gen
    assert got.meta.metadata == {"content-type": "text/plain"}
    part = ctx.object.get("files://a/b.txt").range(6, 5).do()
    assert bytes(part.data) == b"world"
    assert ctx.object.head("files://a/b.txt").do().size == 11
    ctx.object.put("files://a/c/d.txt", b"x").do()
    listed = ctx.object.list("files://a/").delimiter("/").do()
    assert [(e.path, e.is_prefix) for e in listed] == [("a/b.txt", False), ("a/c/", True)]
    ctx.object.delete("files://a/b.txt").do()
    with pytest.raises(bindery.NotFound):
        ctx.object.get("files://a/b.txt").do()
    # Deleting what is not there is fine.
    ctx.object.delete("files://a/b.txt").do()


def test_conditions_and_error_attributes(ctx):
    meta = ctx.object.put("mem://k", b"v1").condition("if-none-match", "*").do()
    with pytest.raises(bindery.ConditionFailed) as e:
        ctx.object.put("mem://k", b"v2").condition("if-none-match", "*").do()
    err = e.value
    assert isinstance(err, bindery.Error)
    assert (err.binding, err.driver, err.operation, err.path) == ("mem", "memory", "put", "k")
    assert err.retryable is False
    assert err.kind == "ConditionFailed"
    ctx.object.put("mem://k", b"v2").condition("if-match", meta.gen).do()
    assert bytes(ctx.object.get("mem://k").do().data) == b"v2"
    with pytest.raises(bindery.InvalidInput, match="'..'"):
        ctx.object.get("mem://../etc/passwd").do()
    with pytest.raises(bindery.NotFound, match="no binding named 'nope'"):
        ctx.object.get("nope://x").do()


def test_buffers_are_the_drivers_memory(ctx):
    data = bytes(range(256)) * 4096  # 1 MiB
    ctx.object.put("mem://big", data).do()
    a = ctx.object.get("mem://big").do().data
    b = ctx.object.get("mem://big").do().data
    # The memory driver hands out the stored bytes: both reads are the same memory.
    assert a.address() == b.address()
    view = memoryview(a)
    assert view.readonly and view.nbytes == len(data) and view[255] == 255
    assert view.tobytes() == data
    with pytest.raises(TypeError):
        view[0:1] = b"x"


def test_streamed_read_in_chunks(ctx):
    data = b"z" * (5 << 20)
    ctx.object.put("files://s.bin", data).do()
    reader = ctx.object.get("files://s.bin").load()
    assert reader.meta().size == len(data)
    chunks = list(reader)
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == len(data)
    assert b"".join(bytes(c) for c in chunks) == data


def test_a_large_read_does_not_double_memory(ctx, tmp_path):
    size = 256 << 20
    (tmp_path / "objects" / "up").mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "objects" / "up" / "large.bin", "wb") as f:
        f.truncate(size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    got = ctx.object.get("files://large.bin").do()
    view = memoryview(got.data)
    assert view.nbytes == size
    assert view[size - 1] == 0
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    # One copy of the object at most (the driver's buffer); a copy into Python would double it.
    assert grown < 1.5 * size, f"peak memory grew by {grown >> 20} MiB for a {size >> 20} MiB object"


def test_error_text_does_not_repeat_its_class(ctx):
    with pytest.raises(bindery.NotFound) as caught:
        ctx.object.get("mem://no/such/object").do()
    text = str(caught.value)
    assert not text.startswith("NotFound"), text
    assert "no/such/object" in text and caught.value.kind == "NotFound"


def test_a_listing_is_a_lister_as_in_the_rust_sdk(ctx):
    for p in ["ls/a", "ls/b", "ls/sub/c"]:
        ctx.object.put(f"files://{p}", b"x").do()
    # Iterating the request lists without load().
    assert [e.path for e in ctx.object.list("files://ls/")] == ["ls/a", "ls/b", "ls/sub/c"]
    lister = ctx.object.list("files://ls/").delimiter("/").load()
    assert isinstance(lister, bindery.Lister)
    assert lister.has_next() and lister.has_next()  # asking twice does not skip an entry
    assert lister.next_path() == "ls/a"
    entry = next(lister)
    assert (entry.path, entry.is_prefix, entry.meta.size) == ("ls/b", False, 1)
    assert lister.next_path() == "ls/sub/"
    assert not lister.has_next() and lister.next_path() is None
    with ctx.object.list("files://ls/").load() as early:
        assert early.next_path() == "ls/a"
    assert not early.has_next() and list(early) == []


def test_an_object_opens_as_a_read_only_file(ctx):
    import io
    import json

    lines = b"".join(b'{"n": %d}\n' % i for i in range(200_000))  # about 2.4 MB: several chunks
    ctx.object.put("files://big.jsonl", lines).do()
    with ctx.object.get("files://big.jsonl").open() as f:
        assert f.readable() and not f.seekable()
        assert f.readline() == b'{"n": 0}\n'
        head = f.read(9)
        assert head == b'{"n": 1}\n'
        rest = f.read()
    assert lines == b'{"n": 0}\n' + head + rest
    with io.TextIOWrapper(ctx.object.get("files://big.jsonl").range(0, 18).open(), encoding="utf-8") as text:
        assert [json.loads(line) for line in text] == [{"n": 0}, {"n": 1}]
    f = ctx.object.get("files://big.jsonl").open()
    f.close()
    assert f.closed


def test_builders_and_readers_say_what_they_are(ctx):
    assert repr(ctx.object.get("files://a/b.txt")) == "Get('files://a/b.txt')"
    assert repr(ctx.table.read("db://users")) == "Read('db://users')"
    assert repr(ctx.stream.publish("ev://orders")) == "Publish('ev://orders')"
    assert repr(ctx.object.list("files://").load()) == "Lister(closed=False)"


def test_watch_reports_changes_from_bindery_and_from_other_programs(ctx, spec):
    from conftest import ends_within

    folder = spec.parent / "objects" / "up"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "old").write_bytes(b"1")
    with ends_within(30), ctx.object.watch("files://").initial(True).load() as w:
        first = [next(w), next(w)]
        assert [(c.kind, c.path) for c in first] == [("created", "old"), ("synced", "")]
        ctx.object.put("files://a.txt", b"abc").do()
        change = next(w)
        assert (change.kind, change.path, change.size) == ("created", "a.txt", 3)
        assert change.gen == ctx.object.head("files://a.txt").do().gen
        # A plain write and a removal by this process, outside bindery.
        (folder / "plain").write_bytes(b"by hand")
        assert next(w)[:2] == ("created", "plain")
        (folder / "old").unlink()
        assert next(w)[:2] == ("deleted", "old")
        cursor = change.cursor
    # Resume after the put: the changes since, from the history the binding keeps.
    with ends_within(30):
        again = ctx.object.watch("files://").from_("cursor", cursor).load()
        assert [next(again)[:2] for _ in range(2)] == [("created", "plain"), ("deleted", "old")]
        assert again.poll(0.2) is None
        again.close()


def test_watch_refusals_are_clear(ctx):
    with pytest.raises(bindery.InvalidInput, match="'now' or 'cursor'"):
        next(iter(ctx.object.watch("mem://").from_("earliest")))
    with pytest.raises(TypeError, match="use load"):
        ctx.object.watch("mem://").do()


def test_versions_tags_revert_and_diff(ctx):
    o = ctx.object
    o.put("mem://doc.json", b'{"name": "a", "n": 1}').option("author", "Ada <ada@example.com>").do()
    o.put("mem://doc.json", b'{"name": "b", "n": 1}').option("message", "rename").do()
    revs = o.versions("mem://doc.json").do()
    assert [r["message"] for r in revs] == ["rename", "put doc.json"]
    assert revs[1]["author"] == "Ada <ada@example.com>" and not revs[0]["deleted"]
    assert isinstance(revs[0]["time"], float)
    assert o.versions("mem://doc.json").limit(1).do() == revs[:1]
    assert o.versions("mem://doc.json").start_after(revs[0]["id"]).do() == revs[1:]
    old = revs[1]["id"]
    assert bytes(o.get("mem://doc.json").version(old).do().data) == b'{"name": "a", "n": 1}'
    assert o.head("mem://doc.json").version(old).do().gen == revs[1]["gen"]
    assert [e.path for e in o.list("mem://").version(old).do()] == ["doc.json"]
    with o.get("mem://doc.json").version(old).open() as f:
        assert f.read() == b'{"name": "a", "n": 1}'
    d = o.diff("mem://doc.json", old).do()
    assert d["format"] == "json-patch"
    assert d["patch"] == [{"op": "replace", "path": "/name", "value": "b"}]
    assert d["from"] == {"size": revs[1]["size"], "gen": revs[1]["gen"]}
    assert o.diff("mem://doc.json", revs[0]["id"]).to(old).do()["patch"][0]["value"] == "a"
    tag = o.tag_create("mem://", "v1").revision(old).description("first").do()
    assert (tag["name"], tag["revision"], tag["description"]) == ("v1", old, "first")
    assert o.tag_get("mem://", "v1").do() == tag
    assert o.tag_update("mem://", "v1").rename("v1.0").do()["name"] == "v1.0"
    assert [t["name"] for t in o.tags("mem://").do()] == ["v1.0"]
    with pytest.raises(bindery.InvalidInput, match="revision"):
        o.tag_update("mem://", "v1.0").revision(old).do()
    with pytest.raises(bindery.AlreadyExists):
        o.tag_create("mem://", "v1.0").do()
    meta = o.revert("mem://doc.json", "v1.0").do()
    assert bytes(o.get("mem://doc.json").do().data) == b'{"name": "a", "n": 1}'
    assert o.get("mem://doc.json").do().meta.gen == meta.gen
    assert len(o.versions("mem://doc.json").do()) == 3
    assert o.tag_delete("mem://", "v1.0").do()["name"] == "v1.0"
    with pytest.raises(bindery.NotFound, match="v1.0"):
        o.tag_get("mem://", "v1.0").do()
    with pytest.raises(bindery.InvalidInput, match="nope"):
        o.get("mem://doc.json").version("nope").do()
    # Collected with a wait group like any request.
    wg = bindery.WaitGroup()
    o.versions("mem://doc.json").do_async(wg)
    o.tags("mem://").do_async(wg)
    o.diff("mem://doc.json", old).do_async(wg)
    got = ctx.wait(wg)
    assert got.first_error is None
    assert len(got.results[0]) == 3 and got.results[1] == [] and got.results[2]["format"] == "json-patch"
    # fs keeps no versions: refused, naming the driver.
    with pytest.raises(bindery.Unsupported, match="driver 'fs'"):
        o.versions("files://x").do()


def test_processors_in_the_spec_refuse_and_shape_documents(tmp_path):
    """A binding's processors work the same from Python: a refusal is InvalidInput naming
    the processor, and writes nothing; reads come back redacted."""
    spec = write_spec(tmp_path, """
        metadata:
          name: processed
        spec:
          dataBindings:
            docs:
              kind: object
              driver: fs
              url: ./docs
              processors:
                - kind: validate
                  schema: {type: object, required: [id], properties: {id: {type: integer}}}
                - kind: defaults
                  values: {status: new}
                - kind: redact
                  fields: [ssn]
    """)
    ctx = bindery.Context(spec)
    with pytest.raises(bindery.InvalidInput, match=r"processor 1 \(validate\).*at /id"):
        ctx.object.put("docs://a.json", b'{"id": "x"}').do()
    with pytest.raises(bindery.NotFound):
        ctx.object.head("docs://a.json").do()
    assert not (tmp_path / "docs" / "a.json").exists()
    ctx.object.put("docs://a.json", b'{"id": 1, "ssn": "123"}').do()
    assert json.loads((tmp_path / "docs" / "a.json").read_bytes()) == {"id": 1, "ssn": "123", "status": "new"}
    got = ctx.object.get("docs://a.json").do()
    assert json.loads(bytes(got.data)) == {"id": 1, "ssn": "***", "status": "new"}
