"""Streams from Python: publish, consume, groups and checkpoints on the log driver."""

import bindery
from conftest import ends_within, sigint_after


def test_publish_consume_and_checkpoint(ctx):
    ctx.stream.create("ev://orders", shards=2).do()
    placed = ctx.stream.publish("ev://orders").messages(
        [bindery.Message(b'{"n": 1}', key="a", headers={"src": "py"}), {"value": '{"n": 2}', "key": "b"}, '{"n": 3}']
    ).do()
    assert len(placed) == 3 and all(isinstance(s, int) and isinstance(p, int) for s, p in placed)
    got = list(ctx.stream.consume("ev://orders").follow(False).load())
    assert sorted(bytes(m.value) for m in got) == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    first = next(m for m in got if bytes(m.value) == b'{"n": 1}')
    assert first.key == b"a" and first.headers == [("src", b"py")]
    # A group checkpoints what it handled; the next member goes on after it.
    c = ctx.stream.consume("ev://orders").group("g").follow(False).load()
    seen = list(c)
    assert len(seen) == 3
    c.checkpoint_consumed()
    c.close()
    ctx.stream.publish("ev://orders").buffers([b'{"n": 4}']).do()
    again = list(ctx.stream.consume("ev://orders").group("g").follow(False).load())
    assert [bytes(m.value) for m in again] == [b'{"n": 4}']
    filtered = list(ctx.stream.consume("ev://orders").where_("n >= 3").follow(False).load())
    assert sorted(bytes(m.value) for m in filtered) == [b'{"n": 3}', b'{"n": 4}']
    shards = ctx.stream.list_shards("ev://orders").do()
    assert [s["id"] for s in shards] == [0, 1] and sum(s["next"] for s in shards) == 4


def test_poll_returns_none_when_idle(ctx):
    ctx.stream.create("ev://idle").do()
    c = ctx.stream.consume("ev://idle").load()
    assert c.poll(0.05) is None
    ctx.stream.publish("ev://idle").buffers(["x"]).do()
    m = c.poll(5)
    assert m is not None and bytes(m.value) == b"x" and c.get_position(m) == "0:0"
    c.close()


def test_messages_are_prefetched_while_python_works(ctx):
    """While the function works on one message, the host reads ahead up to the binding's
    prefetch window (8 frames): after a pause, the next frames are already there, so a
    zero-timeout poll finds every message without waiting for the driver."""
    ctx.stream.create("ev://pre").do()
    ctx.stream.publish("ev://pre").buffers([b"m%d" % i for i in range(1000)]).do()
    c = ctx.stream.consume("ev://pre").follow(False).load()
    first = next(c)
    assert bytes(first.value) == b"m0"
    import time

    time.sleep(0.5)  # Python "works"; the host fills the window meanwhile
    got = [c.poll(0) for _ in range(999)]
    assert all(m is not None for m in got), f"{sum(m is None for m in got)} messages were not prefetched"
    assert [bytes(m.value) for m in got[:3]] == [b"m1", b"m2", b"m3"]
    c.close()


def test_ctrl_c_interrupts_a_consumer_waiting_for_messages(ctx):
    import time

    import pytest

    ctx.stream.create("ev://quiet").do()
    c = ctx.stream.consume("ev://quiet").load()  # follows: waits for messages as long as it takes
    with sigint_after(0.3) as sent, pytest.raises(KeyboardInterrupt):
        next(c)
    assert time.monotonic() - sent[0] < 0.5
    c.close()


def test_close_from_another_thread_ends_a_waiting_iteration(ctx):
    import threading
    import time

    ctx.stream.create("ev://quiet2").do()
    c = ctx.stream.consume("ev://quiet2").load()
    with ends_within(20):
        threading.Timer(0.3, c.close).start()
        start = time.monotonic()
        assert list(c) == []
        assert time.monotonic() - start < 2


def test_two_contexts_in_one_process_both_publish_to_a_log_stream(ctx, spec):
    ctx.stream.create("ev://shared").do()
    ctx.stream.publish("ev://shared").buffers(["one"]).do()
    other = bindery.Context(spec)
    other.stream.publish("ev://shared").buffers(["two"]).do()
    got = [bytes(m.value) for m in other.stream.consume("ev://shared").follow(False).load()]
    assert got == [b"one", b"two"]


def test_has_next_and_next_bytes_as_in_the_rust_sdk(ctx):
    ctx.stream.create("ev://peek", shards=1).do()
    ctx.stream.publish("ev://peek").buffers([b"one", b"two", b"three"]).do()
    c = ctx.stream.consume("ev://peek").follow(False).load()
    assert c.has_next() and c.has_next()  # asking twice does not skip a message
    assert not c.ended()
    assert c.next_bytes() == b"one"
    assert bytes(next(c).value) == b"two"
    assert c.has_next()
    assert bytes(c.poll(1.0).value) == b"three"  # a peeked message is handed out first
    assert not c.has_next() and c.next_bytes() is None
    c.close()


def test_create_takes_path_name_and_shards_as_in_the_rust_sdk(ctx):
    ctx.stream.create("ev://", "named", 2).do()
    assert [s["id"] for s in ctx.stream.list_shards("ev://named").do()] == [0, 1]
    ctx.stream.create("ev://", "kw", shards=3).do()
    assert len(ctx.stream.list_shards("ev://kw").do()) == 3
    try:
        ctx.stream.create("ev://oops", 2)
    except TypeError as e:
        assert "create(path, shards=3)" in str(e)
    else:
        raise AssertionError("a number where the name goes must be refused")
