"""asyncio and wait groups."""

import asyncio
import concurrent.futures

import pytest

import bindery


def test_requests_are_awaitable(ctx):
    async def main():
        await asyncio.gather(*(ctx.object.put(f"mem://k{i}", f"v{i}") for i in range(20)))
        got = await asyncio.gather(*(ctx.object.get(f"mem://k{i}") for i in range(20)))
        return [bytes(g.data) for g in got]

    assert asyncio.run(main()) == [f"v{i}".encode() for i in range(20)]


def test_wait_groups_collect_results_and_the_first_error(ctx):
    wg = bindery.WaitGroup()
    for i in range(10):
        ctx.object.put(f"mem://w{i}", b"x" * i).do_async(wg)
    ctx.object.get("mem://missing").do_async(wg)
    ctx.object.head("mem://w3").do_async(wg)  # requests of a group run concurrently
    waited = ctx.wait(wg)
    assert len(waited.results) == 12
    assert [m.size for m in waited.results[:10]] == list(range(10))
    assert isinstance(waited.results[10], bindery.NotFound)
    assert isinstance(waited.first_error, bindery.NotFound)
    assert isinstance(waited.results[11], bindery.NotFound) or waited.results[11].size == 3
    assert len(ctx.object.list("mem://").do()) == 10
    with pytest.raises(bindery.NotFound):
        waited.raise_first()


def test_a_watch_is_awaited_natively_and_a_timeout_loses_nothing(ctx):
    """``async for`` / ``await next_async()`` on a watcher wait on bindery's runtime (the
    loop's executor is never used); an await cut off by a timeout loses no change; close()
    while awaited ends the iteration."""

    class NoExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("the executor was used")

    async def main():
        w = ctx.object.watch("mem://a/").load()
        w.ready()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(w.next_async(), 0.2)
        ctx.object.put("mem://a/x", b"1").do()
        got = await asyncio.wait_for(w.next_async(), 10)
        assert (got.kind, got.path) == ("created", "a/x")
        ctx.object.put("mem://a/y", b"22").do()
        async for c in w:
            assert (c.kind, c.path, c.size) == ("created", "a/y", 2)
            break

        async def closer():
            await asyncio.sleep(0.2)
            w.close()

        t = asyncio.ensure_future(closer())
        assert [c async for c in w] == []
        await t

    loop = asyncio.new_event_loop()
    loop.set_default_executor(NoExecutor())
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 60))
    finally:
        loop.close()
