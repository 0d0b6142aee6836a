"""Python functions end to end: the Python versions of the examples run under
``python -m bindery run`` (what ``bindery run`` starts for ``runtime: python``) with their
real triggers, over HTTP and streams, and stop cleanly on SIGTERM."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import bindery

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "function-examples"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(proc, port, log):
    for _ in range(2400):
        if proc.poll() is not None:
            raise AssertionError(f"the function exited ({proc.returncode}):\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.025)
    raise AssertionError(f"nothing listens on {port}:\n{log.read_text()}")


def http(port, method, path, body=b"", headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body if method in ("PUT", "POST", "PATCH") else None,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class Function:
    def __init__(self, spec, env, tmp_path):
        self.log = tmp_path / f"log-{time.time_ns()}.txt"
        self.proc = subprocess.Popen([sys.executable, "-m", "bindery", "run", str(spec)],
                                     env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return code, self.log.read_text()


def serve_example(example, prefix, tmp_path, **extra):
    """Runs an example's Python version on a free port (``{prefix}_PORT``) with its data in
    ``tmp_path`` (``{prefix}_DATA``); the function, its port and its environment."""
    port = free_port()
    env = {f"{prefix}_PORT": str(port), f"{prefix}_DATA": str(tmp_path), **extra}
    f = Function(EXAMPLES / example / "python/function.yaml", env, tmp_path)
    wait_port(f.proc, port, f.log)
    return f, port, env


def invoke(spec, env, *args):
    out = subprocess.run([sys.executable, "-m", "bindery", "invoke", str(spec), *args],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_http_ingest_in_python(tmp_path):
    spec = EXAMPLES / "http-ingest/python/function.yaml"
    f, port, env = serve_example("http-ingest", "INGEST", tmp_path)
    status, body, _ = http(port, "PUT", "/notes/a.txt", b"hello", {"content-type": "text/plain"})
    assert status == 201, body
    j = json.loads(body)
    assert (j["key"], j["size"], j["position"]) == ("notes/a.txt", 5, "0:0")
    status, body, headers = http(port, "GET", "/notes/a.txt")
    assert (status, body, headers.get("content-type")) == (200, b"hello", "text/plain")
    assert http(port, "GET", "/missing")[0] == 404
    code, log = f.stop()
    assert code == 0, log
    assert "Stopping" in log
    # Python's logging goes to the host's log inside the event's span.
    assert any("Ingested notes/a.txt (5 bytes) at 0:0." in line and "event_id=" in line for line in log.splitlines()), log
    os.environ.update(env)
    ctx = bindery.Context(spec)
    rows = ctx.table.read("db0://ingested").load().scan()
    assert [(r["key"], r["size"]) for r in rows] == [("notes/a.txt", 5)]
    events = list(ctx.stream.consume("events://ingested").follow(False).load())
    assert [json.loads(bytes(m.value))["key"] for m in events] == ["notes/a.txt"]


def test_metastore_in_python(tmp_path):
    f, port, _ = serve_example("metastore", "METASTORE", tmp_path)

    def call(method, path, body=b"", headers=None):
        status, raw, hdrs = http(port, method, path, body, headers)
        return status, (json.loads(raw) if raw else None), hdrs

    status, j, hdrs = call("PUT", "/datasets/iris", b'{"name": "iris"}', {"x-author": "Ada <ada@example.com>"})
    assert status == 201, j
    first, etag = j["revision"], hdrs["etag"]
    status, j, _ = call("PUT", "/datasets/iris", b'{"name": "iris", "title": "Iris"}', {"if-match": etag})
    assert status == 200, j
    assert call("PUT", "/datasets/iris", b'{"name": "x"}', {"if-match": etag})[0] == 412
    assert call("PUT", "/datasets/iris", b"[1]")[0] == 400
    assert call("GET", "/datasets")[1] == ["iris"]
    revs = call("GET", "/datasets/iris/revisions")[1]
    assert [r["message"] for r in revs] == ["update dataset iris", "create dataset iris"]
    assert revs[1]["author"] == "Ada <ada@example.com>" and revs[1]["revision"] == first
    status, tag, _ = call("PUT", "/tags/v1", json.dumps({"revision": first, "description": "first"}).encode())
    assert (status, tag["revision"]) == (201, first)
    assert call("PUT", "/tags/v1", b"{}")[0] == 409
    assert call("GET", "/datasets/iris?version=v1")[1] == {"name": "iris"}
    assert call("GET", "/datasets/iris/diff?from=v1")[1] == [{"op": "add", "path": "/title", "value": "Iris"}]
    assert call("PATCH", "/tags/v1", b'{"name": "release-1"}')[1]["name"] == "release-1"
    assert call("POST", "/datasets/iris/revert?to=release-1")[0] == 200
    assert call("GET", "/datasets/iris")[1] == {"name": "iris"}
    assert call("GET", "/datasets/iris?version=nope")[0] == 400
    assert call("DELETE", "/datasets/iris")[0] == 204
    assert call("GET", "/datasets/iris")[0] == 404
    assert len(call("GET", "/datasets/iris/revisions")[1]) == 4
    code, log = f.stop()
    assert code == 0, log
    out = subprocess.run(["git", "-C", str(tmp_path / "repo"), "log", "--format=%s", "main"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "delete dataset iris"


def test_an_async_python_handler_and_its_errors(tmp_path):
    (tmp_path / "fn.py").write_text(
        "import asyncio\n"
        "async def handler(ctx, event):\n"
        "    if event.path == '/boom':\n"
        "        raise ValueError('no good')\n"
        "    await asyncio.sleep(0)\n"
        "    ctx.object.put('obj://last', event.path).do()\n"
        "    last = await ctx.object.get('obj://last')\n"
        "    return {'path': event.path, 'last': bytes(last.data).decode()}\n"
    )
    port = free_port()
    spec = tmp_path / "function.yaml"
    spec.write_text(
        "spec:\n  runtime: python\n  handler: fn:handler\n  triggers:\n    web:\n      kind: http\n"
        f"      attributes: {{ port: {port} }}\n  dataBindings:\n    obj:\n      driver: memory\n"
    )
    f = Function(spec, {}, tmp_path)
    wait_port(f.proc, port, f.log)
    status, body, _ = http(port, "GET", "/boom")
    assert status == 500 and b"ValueError: no good" in body
    status, body, _ = http(port, "GET", "/ok")
    assert status == 200 and json.loads(body) == {"path": "/ok", "last": "/ok"}
    code, log = f.stop()
    assert code == 0, log


def test_stream_enrich_in_python(tmp_path):
    spec = EXAMPLES / "stream-enrich/python/function.yaml"
    env = {"ENRICH_DATA": str(tmp_path)}
    code, out, err = invoke(spec, env, "--body", '{"order": "o-9", "user": "bob", "amount": 3}')
    assert code == 0, err
    assert json.loads(out)["name"] == "Bob Stone"
    os.environ.update(env)
    ctx = bindery.Context(spec)
    ctx.stream.publish("events://orders").messages([
        bindery.Message(json.dumps({"order": "o-1", "user": "ana", "amount": 120.5}), key="ana"),
        bindery.Message(json.dumps({"order": "o-2", "user": "zed", "amount": 1}), key="zed"),
    ]).do()
    del ctx  # one process writes a log stream at a time: let go of it before the function starts
    f = Function(spec, env, tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and "sent to the dead-letter stream" not in f.log.read_text():
        time.sleep(0.05)
    code, log = f.stop()
    assert code == 0, log
    ctx = bindery.Context(spec)
    rows = {r["order"]: r for r in ctx.table.read("db0://orders_enriched").load().scan()}
    assert set(rows) == {"o-1", "o-9"}, log
    assert rows["o-1"]["name"] == "Ana Lima"
    dead = list(ctx.stream.consume("events://orders-dead").follow(False).load())
    assert len(dead) == 1
    assert b"no user 'zed'" in dict(dead[0].headers)["bindery-error"]


def test_file_drop_in_python(tmp_path):
    spec = EXAMPLES / "file-drop/python/function.yaml"
    f, port, env = serve_example("file-drop", "DROP", tmp_path, DROP_MAX_BYTES="64")
    status, body, _ = http(port, "PUT", "/files/prices.csv", b"item,price\npen,2\n")
    assert (status, json.loads(body)["type"]) == (201, "created")
    status, body, _ = http(port, "PUT", "/files/prices.csv", b"item,price\npen,3\n")
    assert (status, json.loads(body)["type"]) == (200, "updated")
    status, body, _ = http(port, "PUT", "/files/bad.csv", b"a,b\n1,2,3\n")
    assert (status, body) == (422, b"'bad.csv' is not a CSV file: row 2 has 3 fields, the header 2\n")
    assert http(port, "PUT", "/files/big.txt", b"x" * 65)[0] == 413
    assert http(port, "DELETE", "/files/prices.csv")[0] == 200
    assert http(port, "DELETE", "/files/prices.csv")[0] == 404
    # Another program drops a file in: announced too.
    (tmp_path / "files" / "dropped.txt").write_bytes(b"by hand")
    os.environ.update(env)

    def announced(n):
        # A reader in another process sees the log as it was when it connected: connect anew.
        for _ in range(200):
            ctx = bindery.Context(spec)
            got = [json.loads(bytes(m.value)) for m in ctx.stream.consume("events://files").follow(False).load()]
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"fewer than {n} announcements: {got}")

    seen = [(e["type"], e["name"]) for e in announced(4)]
    code, log = f.stop()
    assert code == 0, log
    assert seen == [("created", "prices.csv"), ("updated", "prices.csv"), ("deleted", "prices.csv"),
                    ("created", "dropped.txt")]


def test_bindery_invoke_starts_a_python_function(tmp_path):
    """``bindery invoke`` (the CLI, built by scripts/test) runs ``runtime: python`` functions
    on the Python found on PATH."""
    cli = os.environ.get("BINDERY_CLI")
    if not cli:
        pytest.skip("BINDERY_CLI (the bindery binary) is set by scripts/test")
    spec = EXAMPLES / "file-drop/python/function.yaml"
    env = {**os.environ, "DROP_DATA": str(tmp_path), "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run([cli, "invoke", str(spec), "--method", "PUT", "--path", "/files/a.json", "--body", '{"a": 1}'],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["type"] == "created"
    assert (tmp_path / "files" / "a.json").read_bytes() == b'{"a": 1}'


def test_ctrl_c_stops_a_python_function_gracefully_with_exit_code_0(tmp_path):
    spec = EXAMPLES / "http-ingest/python/function.yaml"
    port = free_port()
    env = {"INGEST_PORT": str(port), "INGEST_DATA": str(tmp_path)}
    log = tmp_path / "log.txt"
    # SIGINT as a terminal delivers it, whatever this test process inherited.
    proc = subprocess.Popen([sys.executable, "-m", "bindery", "run", str(spec)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_port(proc, port, log)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "Stopping" in text and "KeyboardInterrupt" not in text and "Traceback" not in text, text
