"""bindery for Python functions: lazy requests to the data bindings a function declares.

A :class:`Context` is built from the function's ``function.yaml``; it connects every binding
once and serves requests to them. A request is a builder that does nothing until it runs:
``.do()`` (blocking, the GIL released while it waits), ``.do_async(wg)`` (send now, collect
later with ``ctx.wait(wg)``), ``await request`` (asyncio), or ``.load()`` for an iterator that
prefetches in the background::

    import bindery
    ctx = bindery.Context("function.yaml")
    meta = ctx.object.put("obj://reports/q3.csv", b"region,total\\nNY,3\\n").metadata({"content-type": "text/csv"}).do()
    q3 = ctx.object.get("obj://reports/q3.csv").do()         # q3.data: a zero-copy bindery.Buffer
    memoryview(q3.data)                                       # no copy
    users = ctx.table.read("db0://users").select("user", "addr").where_("age > 30").load().read_all()  # pyarrow.Table
    for batch in ctx.table.read("db0://users").load():        # pyarrow.RecordBatch, prefetched
        ...

Errors are :class:`Error` subclasses, one per kind (:class:`NotFound`, :class:`ConditionFailed`,
...), with ``binding``, ``driver``, ``operation``, ``path`` and ``retryable`` attributes.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence

from . import _bindery
from ._bindery import (  # noqa: F401  (re-exported)
    AlreadyExists,
    Buffer,
    CallOutput,
    Cancelled,
    ConditionFailed,
    ConsumedMessage,
    Error,
    Event,
    Internal,
    InvalidInput,
    ListItem,
    NotFound,
    ObjectData,
    ObjectMeta,
    ObjectReader,
    PermissionDenied,
    Timeout,
    Unavailable,
    Unsupported,
)

__all__ = [
    "Context", "Event", "Response", "WaitGroup", "Waited", "Message", "Buffer", "ObjectData", "ObjectMeta", "ListItem",
    "CallOutput", "ConsumedMessage", "ObjectReader", "Consumer", "Lister", "TableReader", "Change", "Watcher",
    "Error", "NotFound", "AlreadyExists", "ConditionFailed", "Unsupported", "InvalidInput",
    "PermissionDenied", "Unavailable", "Timeout", "Cancelled", "Internal",
]


class Response:
    """What a Python handler may return for full control: ``Response(body, status=201,
    headers={"location": "/x"})``. A handler may also return None (204), bytes-like
    (application/octet-stream), str (text/plain) or any JSON-serialisable value."""

    __slots__ = ("body", "status", "headers")

    def __init__(self, body: Any = b"", status: int = 200, headers: Optional[Mapping[str, str]] = None) -> None:
        self.body = body
        self.status = status
        self.headers = dict(headers or {})


class WaitGroup:
    """Requests sent with ``do_async(wg)``; ``ctx.wait(wg)`` (or ``wg.wait()``) collects them."""

    def __init__(self) -> None:
        self._native = _bindery.WaitGroupNative()

    def wait(self) -> "Waited":
        """Waits (GIL released) for every request of the group, in the order they were sent."""
        results, first = self._native.wait()
        return Waited(results, first)


class Waited:
    """What a wait group's requests produced: ``results`` (values, or exceptions for the ones
    that failed, in send order) and ``first_error``."""

    def __init__(self, results: list, first_error: Optional[BaseException]) -> None:
        self.results = results
        self.first_error = first_error

    def raise_first(self) -> list:
        """The results, or raises the first error."""
        if self.first_error is not None:
            raise self.first_error
        return self.results

    def __repr__(self) -> str:
        return f"Waited({len(self.results)} results, first_error={self.first_error!r})"


class Message:
    """A message to publish: a value with an optional key and headers.

    Messages with the same key go to the same shard and keep their order."""

    __slots__ = ("value", "key", "headers")

    def __init__(self, value: Any, key: Any = None, headers: Optional[Mapping[str, Any]] = None) -> None:
        self.value = value
        self.key = key
        self.headers = dict(headers or {})

    def _native(self) -> dict:
        return {"value": self.value, "key": self.key, "headers": self.headers}


class _Request:
    """A lazy request: run it with ``do()``, ``do_async(wg)`` or ``await``."""

    def __init__(self, ctx: "Context", path: str) -> None:
        self._ctx = ctx
        self._path = path
        self._options: dict[str, str] = {}

    def option(self, key: str, value: Any):
        """Adds an option, passed to the driver."""
        self._options[str(key)] = str(value)
        return self

    def _run(self, wg):  # pragma: no cover - overridden
        raise NotImplementedError

    def do(self):
        """Runs the request and waits for its result (the GIL is released while waiting)."""
        return self._run(None)

    def do_async(self, wg: WaitGroup) -> None:
        """Sends the request now; ``ctx.wait(wg)`` collects its result with the group's."""
        self._run(wg._native)

    def __await__(self):
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(None, self.do).__await__()

    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}({self._path!r})"


class _Conditional(_Request):
    def __init__(self, ctx: "Context", path: str) -> None:
        super().__init__(ctx, path)
        self._conditions: list[tuple[str, str]] = []

    def condition(self, key: str, value: str):
        """Adds a condition: ``if-match`` (a generation, or ``*``) or ``if-none-match``
        (``*``: create only). One that does not hold fails with :class:`ConditionFailed`."""
        self._conditions.append((key, str(value)))
        return self


class _AtVersion:
    _version: Optional[str] = None

    def version(self, revision: str):
        """Reads as it was at this revision (an id from ``versions()``, or a tag), on a
        binding that keeps versions (``git``, ``memory``)."""
        self._version = str(revision)
        return self


class Get(_AtVersion, _Conditional):
    """``get(path)``: ``range()``, ``version()``, ``condition()``, then ``load()`` to stream,
    or ``do()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._range = None

    def range(self, offset: int, length: Optional[int] = None) -> "Get":
        """Reads ``length`` bytes from ``offset`` (to the end when ``length`` is None)."""
        self._range = (offset, length)
        return self

    def _run(self, wg) -> ObjectData:
        return self._ctx._n.object_get(self._path, self._range, self._version, self._conditions, self._options, wg)

    def load(self) -> ObjectReader:
        """Returns a reader at once; chunks (zero-copy :class:`Buffer`) are prefetched in the
        background. ``read_all()`` gives the rest as one buffer; ``meta()`` the metadata."""
        return self._ctx._n.object_load(self._path, self._range, self._version, self._conditions, self._options)

    def open(self) -> io.BufferedReader:
        """The object as a read-only binary file (``read``, ``readinto``, ``readline``,
        iteration by lines; not seekable), streamed as ``load()`` streams it, for what takes
        a file: ``shutil.copyfileobj``, ``json.load``, ``csv`` through ``io.TextIOWrapper``,
        ``pyarrow.csv.read_csv``, pandas."""
        return io.BufferedReader(_ObjectFile(self.load()), buffer_size=1 << 20)


class _ObjectFile(io.RawIOBase):
    """The chunks of an ``ObjectReader`` as a raw binary file."""

    def __init__(self, reader: ObjectReader) -> None:
        super().__init__()
        self._reader = reader
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._chunk:
            chunk = next(self._reader, None)
            if chunk is None:
                return 0
            self._chunk = memoryview(chunk)
        n = min(len(b), len(self._chunk))
        b[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._chunk = memoryview(b"")
            self._reader.close()
        super().close()


class Put(_Conditional):
    """``put(path, data)``: ``add()``, ``metadata()``, ``condition()``, then ``do()``."""

    def __init__(self, ctx, path, data):
        super().__init__(ctx, path)
        self._chunks = [data] if data is not None else []
        self._metadata: dict[str, str] = {}

    def add(self, data) -> "Put":
        """Appends more data (bytes, bytearray, memoryview, str or Buffer)."""
        self._chunks.append(data)
        return self

    def metadata(self, metadata: Mapping[str, str]) -> "Put":
        """User metadata (``content-type`` and the like)."""
        self._metadata.update({str(k): str(v) for k, v in metadata.items()})
        return self

    def _run(self, wg) -> ObjectMeta:
        return self._ctx._n.object_put(self._path, self._chunks, self._metadata, self._conditions, self._options, wg)


class Head(_AtVersion, _Conditional):
    """``head(path)``: the object's metadata (``version()``: as it was then)."""

    def _run(self, wg) -> ObjectMeta:
        return self._ctx._n.object_head(self._path, self._version, self._conditions, self._options, wg)


class Delete(_Conditional):
    """``delete(path)``: removes the object (a missing one is fine)."""

    def _run(self, wg) -> None:
        return self._ctx._n.object_delete(self._path, self._conditions, self._options, wg)


class List(_AtVersion, _Request):
    """``list(prefix)``: ``limit()``, ``delimiter()``, ``start_after()``, ``version()``, then
    ``do()`` or ``load()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._limit = None
        self._delimiter = None
        self._start_after = None

    def limit(self, n: int) -> "List":
        self._limit = n
        return self

    def delimiter(self, d: str) -> "List":
        self._delimiter = d
        return self

    def start_after(self, path: str) -> "List":
        self._start_after = path
        return self

    def _run(self, wg) -> list:
        return self._ctx._n.object_list(
            self._path, self._limit, self._delimiter, self._start_after, self._version, self._options, wg
        )

    def load(self) -> "Lister":
        """The entries as a ``Lister``."""
        return Lister(self.do())

    def __iter__(self) -> "Lister":
        """``for e in ctx.object.list(prefix)`` lists without ``load()``."""
        return self.load()


class Lister:
    """A listing's entries in order, as the Rust SDK's ``Lister``: iterate it, or
    ``has_next()`` / ``next()`` / ``next_path()``; ``close()`` ends it early."""

    def __init__(self, entries) -> None:
        self._entries = iter(entries)
        self._peeked: Optional[ListItem] = None
        self._closed = False

    def __iter__(self) -> "Lister":
        return self

    def __next__(self) -> ListItem:
        if self._peeked is not None:
            entry, self._peeked = self._peeked, None
            return entry
        if self._closed:
            raise StopIteration
        return next(self._entries)

    def has_next(self) -> bool:
        """Whether another entry follows."""
        if self._peeked is None and not self._closed:
            self._peeked = next(self._entries, None)
        return self._peeked is not None

    def next_path(self) -> Optional[str]:
        """The next entry's path (a common prefix ends with the delimiter), or None at the end."""
        entry = next(self, None)
        return None if entry is None else entry.path

    def close(self) -> None:
        """Ends the listing: nothing more is handed out."""
        self._closed = True
        self._peeked = None

    def __enter__(self) -> "Lister":
        return self

    def __repr__(self) -> str:
        return f"Lister(closed={self._closed})"

    def __exit__(self, *exc) -> None:
        self.close()


class Change(NamedTuple):
    """One change a watch reports. ``kind``: ``created``, ``updated``, ``deleted``,
    ``synced`` (the initial state is complete) or ``resync`` (what was known is void; the
    current state follows). ``time`` is in seconds since the Unix epoch; ``cursor`` resumes
    after this change (``watch(p).from_("cursor", c)``). For a table's rows, ``path`` is the
    row's key (its values joined by ``/``), ``row`` the row after the change and ``before``
    the row before it, as dicts, where the driver gives them (None otherwise)."""

    kind: str
    path: str
    gen: str
    size: Optional[int]
    time: float
    cursor: str
    row: Optional[dict[str, Any]] = None
    before: Optional[dict[str, Any]] = None

    @staticmethod
    def _of(t: tuple) -> "Change":
        kind, path, gen, size, time, cursor, row, before = t
        load = lambda text: None if text is None else json.loads(text)  # noqa: E731
        return Change(kind, path, gen, size, time, cursor, load(row), load(before))


class Watch(_Request):
    """``watch(prefix)`` of objects or ``watch(table)`` of rows: ``from_("now" | "cursor",
    c)``, ``initial(True)``, then ``load()`` (or iterate it directly)."""

    def __init__(self, ctx, path, table: bool = False):
        super().__init__(ctx, path)
        self._table = table
        self._from: Optional[tuple[str, str]] = None
        self._initial = False

    def from_(self, kind: str, value: str = "") -> "Watch":
        """``now`` (the default), or ``cursor`` with a change's cursor."""
        self._from = (kind, str(value))
        return self

    def initial(self, initial: bool = True) -> "Watch":
        """The current objects or rows first (``created``), then one ``synced`` change, then
        live ones."""
        self._initial = initial
        return self

    def load(self) -> "Watcher":
        return Watcher(self._ctx._n.watch(self._table, self._path, self._from, self._initial, self._options))

    def __iter__(self) -> "Watcher":
        return self.load()

    def _run(self, wg):
        raise TypeError("a watch is not run with do(); use load() or iterate it")


class Watcher:
    """A watch's changes, in order per path: iterate it (blocking, the GIL released;
    Ctrl-C raises within 100 ms), or ``async for`` / ``await w.next_async()`` in asyncio
    (waiting on bindery's runtime, not on a thread of the executor); ``poll(timeout)``;
    ``ready()`` waits until the driver watches; ``close()`` (also from another thread) ends
    it."""

    def __init__(self, native) -> None:
        self._n = native
        # The native wait in flight (an await cancelled meanwhile leaves it for the next one).
        self._inflight: Optional[asyncio.Future] = None

    async def next_async(self) -> Optional[Change]:
        """The next change, or None once the watch ended; a cancelled await (``wait_for``
        with a timeout) loses nothing: the next await gets the change it was waiting for."""
        if self._inflight is None:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()

            def resolve(ok, value):
                if not fut.done():
                    (fut.set_result if ok else fut.set_exception)(value)

            self._n.next_into(loop, resolve)
            self._inflight = fut
        try:
            got = await asyncio.shield(self._inflight)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._inflight = None
            raise
        self._inflight = None
        return None if got is None else Change._of(got)

    def __aiter__(self) -> "Watcher":
        return self

    async def __anext__(self) -> Change:
        change = await self.next_async()
        if change is None:
            raise StopAsyncIteration
        return change

    def __iter__(self) -> "Watcher":
        return self

    def __next__(self) -> Change:
        return Change._of(next(self._n))

    def poll(self, timeout: float) -> Optional[Change]:
        """The next change if one comes within ``timeout`` seconds, else None."""
        got = self._n.poll(timeout)
        return None if got is None else Change._of(got)

    def ready(self) -> "Watcher":
        """Waits until the driver watches: no change made after this returns is missed."""
        self._n.ready()
        return self

    def close(self) -> None:
        self._n.close()

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Watcher()"


class Versions(_Request):
    """``versions(path)``: the object's revisions, newest first, as dicts (``id``, ``time``,
    ``author``, ``message``, ``size``, ``gen``, ``deleted``); ``limit()``, ``start_after()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._limit: Optional[int] = None
        self._start_after: Optional[str] = None

    def limit(self, n: int) -> "Versions":
        self._limit = n
        return self

    def start_after(self, revision: str) -> "Versions":
        """Goes on after this revision id (the last of an earlier page)."""
        self._start_after = str(revision)
        return self

    def _run(self, wg) -> list[dict[str, Any]]:
        return self._ctx._n.object_versions(self._path, self._limit, self._start_after, self._options, wg)


class Revert(_Request):
    """``revert(path, revision)``: a new revision with the data and metadata the object had
    at ``revision`` (deleted, if it did not exist then); answers the new metadata."""

    def __init__(self, ctx, path, revision):
        super().__init__(ctx, path)
        self._revision = str(revision)

    def _run(self, wg) -> ObjectMeta:
        return self._ctx._n.object_revert(self._path, self._revision, self._options, wg)


class Diff(_Request):
    """``diff(path, from_)``: a dict with ``format`` (``json-patch``, ``unified`` or
    ``sizes``), ``patch`` (a list of RFC 6902 operations, a unified diff, or None), and
    ``from`` / ``to`` (``{"size", "gen"}``, None where the object did not exist); ``to()``
    compares with another revision than the object now."""

    def __init__(self, ctx, path, from_):
        super().__init__(ctx, path)
        self._from = str(from_)
        self._to: Optional[str] = None

    def to(self, revision: str) -> "Diff":
        self._to = str(revision)
        return self

    def _run(self, wg) -> dict[str, Any]:
        return self._ctx._n.object_diff(self._path, self._from, self._to, self._options, wg)


class TagRequest(_Request):
    """One tag request (``tag_create``, ``tag_get``, ``tag_update``, ``tag_delete``,
    ``tags``); a tag is a dict: ``name``, ``revision``, ``description``, ``author``,
    ``time``."""

    def __init__(self, ctx, binding, action, name=""):
        super().__init__(ctx, binding)
        self._action = action
        self._name = str(name)
        self._fields: dict[str, str] = {}

    def revision(self, revision: str) -> "TagRequest":
        """``tag_create``: the revision (id or tag) it names; the newest otherwise."""
        self._fields["revision"] = str(revision)
        return self

    def description(self, description: str) -> "TagRequest":
        self._fields["description"] = str(description)
        return self

    def author(self, author: str) -> "TagRequest":
        """``tag_create``: ``Name <email>``; the binding's author otherwise."""
        self._fields["author"] = str(author)
        return self

    def rename(self, name: str) -> "TagRequest":
        """``tag_update``: the tag's new name."""
        self._fields["rename"] = str(name)
        return self

    def _run(self, wg):
        # A setter the action does not take (a revision on tag_update) fails as InvalidInput.
        return self._ctx._n.object_tags(self._path, self._action, self._name, self._fields, self._options, wg)


class Objects:
    """Object requests: ``ctx.object.get(path)``, ``put``, ``head``, ``delete``, ``list``,
    ``watch``; on a binding that keeps versions, ``versions``, ``revert``, ``diff`` and tags."""

    def __init__(self, ctx: "Context") -> None:
        self._ctx = ctx

    def get(self, path: str) -> Get:
        return Get(self._ctx, path)

    def put(self, path: str, data=None) -> Put:
        return Put(self._ctx, path, data)

    def head(self, path: str) -> Head:
        return Head(self._ctx, path)

    def delete(self, path: str) -> Delete:
        return Delete(self._ctx, path)

    def list(self, prefix: str = "") -> List:
        return List(self._ctx, prefix)

    def watch(self, prefix: str = "") -> Watch:
        """Changes to the objects under ``prefix``, also those made outside bindery."""
        return Watch(self._ctx, prefix)

    def versions(self, path: str) -> Versions:
        """The revisions that changed an object, newest first."""
        return Versions(self._ctx, path)

    def revert(self, path: str, revision: str) -> Revert:
        """A new revision of ``path`` with its state at ``revision`` (history is kept)."""
        return Revert(self._ctx, path, revision)

    def diff(self, path: str, from_: str) -> Diff:
        """The difference of ``path`` from revision ``from_`` to now (or ``.to(rev)``)."""
        return Diff(self._ctx, path, from_)

    def tag_create(self, binding: str, name: str) -> TagRequest:
        """Names the binding's newest revision (or ``.revision(rev)``) ``name``."""
        return TagRequest(self._ctx, binding, "create", name)

    def tag_get(self, binding: str, name: str) -> TagRequest:
        return TagRequest(self._ctx, binding, "get", name)

    def tag_update(self, binding: str, name: str) -> TagRequest:
        """Renames a tag (``.rename(new)``) or changes its description."""
        return TagRequest(self._ctx, binding, "update", name)

    def tag_delete(self, binding: str, name: str) -> TagRequest:
        return TagRequest(self._ctx, binding, "delete", name)

    def tags(self, binding: str) -> TagRequest:
        """Every tag of the binding, by name."""
        return TagRequest(self._ctx, binding, "list")


class TableReader:
    """A table read: iterate it for ``pyarrow.RecordBatch``es (prefetched while Python works),
    ``read_all()`` for a ``pyarrow.Table``, ``scan()`` for rows as dicts (or tuples)."""

    def __init__(self, native) -> None:
        # A pyarrow.RecordBatchReader over the host's batches, and where the bindery error
        # that ends them is kept (pyarrow's stream carries only its text, as ArrowInvalid).
        self._reader, self._failure = native

    def _raise_bindery_error(self, e):
        err = self._failure.take()
        if err is not None:
            raise err from None
        raise e

    @property
    def schema(self):
        """The ``pyarrow.Schema`` (known even without rows)."""
        return self._reader.schema

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            raise
        except Exception as e:  # an error after the schema: raised as the bindery.Error it is
            self._raise_bindery_error(e)

    def read_all(self):
        """Every remaining batch as one ``pyarrow.Table`` (no copy of the data)."""
        try:
            return self._reader.read_all()
        except Exception as e:
            self._raise_bindery_error(e)

    @property
    def next_page(self):
        """After a paged read (``read(p).page(n)``) has been read to its end: the token of the
        next page, for ``read(p).page(n).after(token)``; ``None`` when this page was the last."""
        return self._failure.next_page()

    def scan(self, as_tuples: bool = False) -> list:
        """Every remaining row, as dicts by column name (or tuples)."""
        rows = self.read_all().to_pylist()
        if as_tuples:
            return [tuple(r.values()) for r in rows]
        return rows

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "TableReader":
        return self

    def __repr__(self) -> str:
        return f"TableReader(schema=[{', '.join(self._reader.schema.names)}])"

    def __exit__(self, *exc) -> None:
        self.close()

    def __arrow_c_stream__(self, requested_schema=None):
        """The Arrow PyCapsule stream protocol: ``pyarrow.RecordBatchReader.from_stream``,
        ``polars.from_arrow``, ``duckdb`` and other Arrow consumers take the reader directly,
        batch by batch, without a copy. (Through the capsule an error after the schema
        arrives as the consumer's Arrow error, with bindery's message as its text.)"""
        return self._reader.__arrow_c_stream__(requested_schema)


class Read(_Request):
    """``read(path)``: ``key()``, ``keys()``, ``where_()``, ``select()``, ``sql()``,
    ``partition()``, ``limit()``, ``order_by()``, ``page()``, ``after()``, ``schema()``, then
    ``load()`` or ``do()`` (a ``pyarrow.Table``)."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._keys: list[list] = []
        self._filter = None
        self._select: list[str] = []
        self._sql = None
        self._partition = None
        self._limit = None
        self._schema = None
        self._order_by: list[str] = []
        self._page = None
        self._after = None

    def key(self, *values) -> "Read":
        """One row by primary key (partition key, then sorting key)."""
        self._keys.append(list(values))
        return self

    def keys(self, keys: Iterable) -> "Read":
        """Several rows by key; each key a value or a sequence of values."""
        for k in keys:
            self._keys.append(list(k) if isinstance(k, (list, tuple)) else [k])
        return self

    def where_(self, filter: str) -> "Read":
        """A filter: ``age > 30 AND city = 'NY'``."""
        self._filter = filter
        return self

    def select(self, *fields) -> "Read":
        """The columns to read (``select("a", "b")`` or ``select(["a", "b"])``)."""
        for f in fields:
            self._select.extend([f] if isinstance(f, str) else list(f))
        return self

    def sql(self, query: str) -> "Read":
        self._sql = query
        return self

    def partition(self, part: int, in_parts: int) -> "Read":
        self._partition = (part, in_parts)
        return self

    def limit(self, n: int) -> "Read":
        self._limit = n
        return self

    def order_by(self, *columns) -> "Read":
        """The rows in this order: ``order_by("age desc", "user")`` (``asc``/``desc``, or
        ``-age``); ``None`` values sort last either way."""
        for c in columns:
            self._order_by.extend([c] if isinstance(c, str) else list(c))
        return self

    def page(self, rows: int) -> "Read":
        """A page of at most ``rows`` rows in ``order_by`` then primary-key order; after
        reading it, ``reader.next_page`` is the token of the next (or ``None``)."""
        self._page = rows
        return self

    def after(self, token: str) -> "Read":
        """Only the rows after the page that gave ``token`` (same order_by, filter, select)."""
        self._after = token
        return self

    def schema(self, schema: str) -> "Read":
        self._schema = schema
        return self

    def load(self) -> TableReader:
        return TableReader(
            self._ctx._n.table_read(
                self._path, self._keys, self._filter, self._select, self._sql, self._partition,
                self._limit, self._schema, self._options, self._order_by, self._page, self._after,
            )
        )

    def _run(self, wg):
        if wg is not None:
            raise TypeError("a table read is not sent with do_async; use load() or do()")
        return self.load().read_all()


def _item_value(v):
    """A value ``json`` cannot write, as the table reads it; a ``TypeError`` for the rest."""
    import datetime
    import decimal
    import uuid

    if isinstance(v, (bytes, bytearray, memoryview)):
        return list(bytes(v))  # a binary column takes its bytes as a list of numbers
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            raise TypeError(f"with_items: {v!r} is not a number a table can hold")
        if v == v.to_integral_value() and abs(v) < 2**63:
            return int(v)
        # A number when a float holds it exactly (its shortest text is the Decimal), else its
        # text, which decimal columns read exactly (and other columns refuse, naming it).
        f = float(v)
        return f if decimal.Decimal(repr(f)) == v else str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    raise TypeError(
        f"with_items: a {type(v).__name__} ({v!r}) is not a table value; give str, int, float, bool, None, "
        "bytes, Decimal, datetime, date, time, UUID, or a dict or list for a json column"
    )


class Write(_Request):
    """``write(path)``: ``with_items()`` (dicts) or ``with_batches()`` (pyarrow), ``to_keys()``,
    ``with_expression()``, ``condition()``, then ``do()`` (rows written)."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._items = None
        self._batches = None
        self._keys: list[list] = []
        self._expression = None
        self._params: list[tuple[str, Any]] = []
        self._condition = None

    def with_items(self, items: Iterable[Mapping[str, Any]]) -> "Write":
        """Rows as dicts of column → value: ``str``, ``int``, ``float``, ``bool``, ``None``,
        ``bytes`` (binary columns), ``decimal.Decimal``, ``datetime``/``date``/``time``,
        ``uuid.UUID``, and ``dict``/``list`` (json columns). Anything else is a ``TypeError``
        naming it (it is never written as its ``repr``)."""
        self._items = json.dumps(list(items), default=_item_value)
        return self

    def with_batches(self, batches) -> "Write":
        """A ``pyarrow.RecordBatch``, a ``pyarrow.Table`` or a list of batches."""
        self._batches = batches
        return self

    def to_keys(self, keys: Iterable) -> "Write":
        for k in keys:
            self._keys.append(list(k) if isinstance(k, (list, tuple)) else [k])
        return self

    def with_expression(self, expression: str, params: Optional[Mapping[str, Any]] = None) -> "Write":
        self._expression = expression
        self._params = list((params or {}).items())
        return self

    def condition(self, condition: str) -> "Write":
        self._condition = condition
        return self

    def _run(self, wg) -> int:
        return self._ctx._n.table_write(
            self._path, self._items, self._batches, self._keys, self._expression, self._params,
            self._condition, self._options, wg,
        )


class DeleteRows(_Request):
    """``delete(path)``: ``key()`` / ``keys()``, ``where_()`` (``"true"`` for every row), ``condition()``,
    then ``do()`` (rows removed). Atomic: a condition that fails for any row removes none."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._keys: list[list] = []
        self._filter = None
        self._condition = None

    def key(self, *values) -> "DeleteRows":
        """One row by primary key (partition key, then sorting key)."""
        self._keys.append(list(values))
        return self

    def keys(self, keys: Iterable) -> "DeleteRows":
        """Several rows by key; each key a value or a sequence of values."""
        for k in keys:
            self._keys.append(list(k) if isinstance(k, (list, tuple)) else [k])
        return self

    def where_(self, filter: str) -> "DeleteRows":
        self._filter = filter
        return self

    def condition(self, condition: str) -> "DeleteRows":
        self._condition = condition
        return self

    def _run(self, wg) -> int:
        return self._ctx._n.table_delete(
            self._path, self._keys, self._filter, self._condition, self._options, wg
        )


class Create(_Request):
    """``create(path)``: ``schema(text)``, ``primary_key()``, then ``do()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._schema = ""
        self._key = (None, None)

    def schema(self, schema: str) -> "Create":
        self._schema = schema
        return self

    def primary_key(self, partition_key: str, sorting_key: Optional[str] = None) -> "Create":
        self._key = (partition_key, sorting_key)
        return self

    def _run(self, wg) -> None:
        return self._ctx._n.table_create(self._path, self._schema, self._key[0], self._key[1], self._options, wg)


class Alter(_Request):
    """``alter(path)``: ``add_column(text)`` or ``schema(text)``, then ``do()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._add: list[str] = []
        self._schema = None

    def add_column(self, column: str) -> "Alter":
        self._add.append(column)
        return self

    def schema(self, schema: str) -> "Alter":
        self._schema = schema
        return self

    def _run(self, wg) -> None:
        return self._ctx._n.table_alter(self._path, self._add, self._schema, self._options, wg)


class _Call(_Request):
    def __init__(self, ctx, path, fn):
        super().__init__(ctx, path)
        self._fn = fn

    def _run(self, wg):
        return self._fn(self._path, wg)


class Schema(_Request):
    """``schema(path)``: the table's schema as a dict with ``text``, ``key``, ``columns``,
    ``arrow``, and on a driver that keeps the history of a table's schemas (sqlite,
    postgres, files) ``version`` (1 is what ``create`` made, each ``alter`` adds one) and
    ``time`` (seconds since the epoch, or None when not known); ``version(n)`` asks for an
    older one."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._version: Optional[int] = None

    def version(self, n: int) -> "Schema":
        self._version = int(n)
        return self

    def _run(self, wg) -> dict[str, Any]:
        return self._ctx._n.table_schema(self._path, self._version)


class Tables:
    """Table requests: ``ctx.table.read(path)``, ``write``, ``delete``, ``create``, ``drop``,
    ``alter``, ``schema``, ``watch``."""

    def __init__(self, ctx: "Context") -> None:
        self._ctx = ctx

    def read(self, path: str) -> Read:
        return Read(self._ctx, path)

    def write(self, path: str) -> Write:
        return Write(self._ctx, path)

    def delete(self, path: str) -> DeleteRows:
        """Removes rows by ``keys()`` or ``where_()``, atomically; ``do()`` answers how many."""
        return DeleteRows(self._ctx, path)

    def create(self, path: str) -> Create:
        return Create(self._ctx, path)

    def drop(self, path: str) -> _Request:
        return _Call(self._ctx, path, lambda p, wg: self._ctx._n.table_drop(p, wg))

    def alter(self, path: str) -> Alter:
        return Alter(self._ctx, path)

    def schema(self, path: str) -> Schema:
        """The table's schema (see :class:`Schema`); ``.version(n)`` for an older one."""
        return Schema(self._ctx, path)

    def watch(self, path: str) -> Watch:
        """Every insert, update and delete of the table's rows, also by other programs."""
        return Watch(self._ctx, path, table=True)


class Consumer:
    """A stream being consumed: iterate it (blocking, the GIL released), or ``poll(timeout)``.
    ``checkpoint(msg)``, ``checkpoint_consumed()``, ``close()``; messages are read ahead.
    Waiting for the next message, Ctrl-C raises ``KeyboardInterrupt`` within 100 ms, and
    ``close()`` from another thread ends the iteration."""

    def __init__(self, native) -> None:
        self._n = native
        self._peeked: Optional[ConsumedMessage] = None

    def __iter__(self):
        return self

    def __next__(self) -> ConsumedMessage:
        if self._peeked is not None:
            message, self._peeked = self._peeked, None
            return message
        return next(self._n)

    def has_next(self) -> bool:
        """Waits for the next message (or the end of a consumer that does not follow) and
        says whether there is one; the message is kept for the next ``next()``."""
        if self._peeked is None:
            self._peeked = next(self._n, None)
        return self._peeked is not None

    def next_bytes(self) -> Optional[bytes]:
        """The next message's value alone, or None at the end."""
        message = next(self, None)
        return None if message is None else bytes(message.value)

    def poll(self, timeout: float) -> Optional[ConsumedMessage]:
        """The next message if one arrives within ``timeout`` seconds, else None."""
        if self._peeked is not None:
            return next(self)
        return self._n.poll(timeout)

    def ended(self) -> bool:
        return self._peeked is None and self._n.ended()

    def get_position(self, message: ConsumedMessage) -> str:
        return message.position_string()

    def checkpoint(self, message: ConsumedMessage) -> None:
        """The group is done with ``message`` and everything before it in its shard."""
        self._n.checkpoint(message.shard, message.position)

    def checkpoint_consumed(self) -> None:
        """Records everything handed out so far, every shard, in one request."""
        self._n.checkpoint_consumed()

    def close(self) -> None:
        self._n.close()

    def __repr__(self) -> str:
        return f"Consumer(ended={self.ended()})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Consume(_Request):
    """``consume(path)``: ``group()``, ``from_()``, ``where_()``, ``select()``, ``format()``,
    ``follow()``, then ``load()``."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._group = None
        self._from = None
        self._filter = None
        self._select: list[str] = []
        self._format = None
        self._follow = True

    def group(self, group: str) -> "Consume":
        self._group = group
        return self

    def from_(self, kind: str, value: str = "") -> "Consume":
        """``earliest``, ``latest``, ``checkpoint``, ``position`` (``"0:17,1:4"``), ``timestamp`` (ms)."""
        self._from = (kind, str(value))
        return self

    def where_(self, filter: str) -> "Consume":
        self._filter = filter
        return self

    def select(self, *fields) -> "Consume":
        for f in fields:
            self._select.extend([f] if isinstance(f, str) else list(f))
        return self

    def format(self, format: str) -> "Consume":
        self._format = format
        return self

    def follow(self, follow: bool) -> "Consume":
        """True (the default): wait for new messages at the end; False: end when caught up."""
        self._follow = follow
        return self

    def load(self) -> Consumer:
        return Consumer(
            self._ctx._n.stream_consume(
                self._path, self._group, self._from, self._filter, self._select, self._format,
                self._follow, self._options,
            )
        )

    def _run(self, wg):
        raise TypeError("a consume is not run with do(); use load()")


class Publish(_Request):
    """``publish(path)``: ``messages()`` and/or ``buffers()``, then ``do()`` → [(shard, position)]."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._messages: list = []

    def messages(self, messages: Iterable) -> "Publish":
        """:class:`Message`s, dicts (``value``, ``key``, ``headers``) or plain values."""
        for m in messages:
            self._messages.append(m._native() if isinstance(m, Message) else m)
        return self

    def buffers(self, buffers: Iterable) -> "Publish":
        """Values without keys or headers."""
        self._messages.extend(buffers)
        return self

    def _run(self, wg) -> list:
        return self._ctx._n.stream_publish(self._path, self._messages, self._options, wg)


class _StreamAdmin(_Request):
    def __init__(self, ctx, verb, path, shards, name=""):
        super().__init__(ctx, path)
        self._verb = verb
        self._shards = shards
        self._name = name

    def _run(self, wg) -> None:
        return self._ctx._n.stream_admin(self._verb, self._path, self._name, self._shards, self._options, wg)


class Streams:
    """Stream requests: ``ctx.stream.publish(path)``, ``consume``, ``create``, ``update``,
    ``delete``, ``list_shards``."""

    def __init__(self, ctx: "Context") -> None:
        self._ctx = ctx

    def publish(self, path: str) -> Publish:
        return Publish(self._ctx, path)

    def consume(self, path: str) -> Consume:
        return Consume(self._ctx, path)

    def create(self, path: str, name: str = "", shards: int = 1) -> _Request:
        """Creates the stream ``name`` under ``path`` (either may be empty, as in the Rust
        SDK's ``create(path, name, shards)``): ``create("ev://", "orders", 3)`` and
        ``create("ev://orders", shards=3)`` make the same stream."""
        if not isinstance(name, str):
            raise TypeError(
                f"create(path, name, shards): name must be a str, not {type(name).__name__} "
                "(give the shards by keyword: create(path, shards=3))"
            )
        return _StreamAdmin(self._ctx, "create", path, shards, name)

    def update(self, path: str, shards: int) -> _Request:
        return _StreamAdmin(self._ctx, "update", path, shards)

    def delete(self, path: str) -> _Request:
        return _StreamAdmin(self._ctx, "delete", path, 0)

    def list_shards(self, path: str) -> _Request:
        """[{id, first, next}] per shard."""
        return _Call(self._ctx, path, lambda p, wg: self._ctx._n.stream_shards(p))


class Call(_Request):
    """``call(path)``: ``operation()``, ``payload()``, ``idempotent()``, then ``do()`` → :class:`CallOutput`."""

    def __init__(self, ctx, path):
        super().__init__(ctx, path)
        self._operation = ""
        self._payload: Any = b""
        self._idempotent = False

    def operation(self, operation: str) -> "Call":
        self._operation = operation
        return self

    def payload(self, payload) -> "Call":
        self._payload = payload
        return self

    def idempotent(self, idempotent: bool = True) -> "Call":
        """The call may be retried after a retryable error (doing it twice = doing it once)."""
        self._idempotent = idempotent
        return self

    def _run(self, wg) -> CallOutput:
        return self._ctx._n.generic_call(self._path, self._operation, self._payload, self._idempotent, self._options, wg)


class Generics:
    """Generic requests: ``ctx.generic.call(path)``."""

    def __init__(self, ctx: "Context") -> None:
        self._ctx = ctx

    def call(self, path: str) -> Call:
        return Call(self._ctx, path)


class Context:
    """A function's connection to its data bindings: ``bindery.Context("function.yaml")``
    loads the spec and connects every binding once."""

    def __init__(self, spec: Any = "function.yaml", _native=None) -> None:
        self._n = _native if _native is not None else _bindery.Native(str(spec))
        self.object = Objects(self)
        self.table = Tables(self)
        self.stream = Streams(self)
        self.generic = Generics(self)

    @property
    def name(self) -> str:
        """The function's name (``metadata.name``)."""
        return self._n.name()

    def bindings(self) -> list:
        """(name, kind, driver) of every binding, in spec order."""
        return self._n.bindings()

    def wait(self, wg: WaitGroup) -> Waited:
        """Waits for every request sent to the group with ``do_async``."""
        return wg.wait()

    def __repr__(self) -> str:
        return f"Context({self.name!r}, bindings={self.bindings()!r})"
