"""asyncio and wait groups."""

import asyncio

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
