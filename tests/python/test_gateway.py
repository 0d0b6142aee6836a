"""`bindery serve` from the outside: the command line started as a user would, driven by
Python's own HTTP client (urllib), stopped with SIGTERM."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import SPEC, write_spec, ends_within


@pytest.fixture
def served(tmp_path):
    cli = os.environ.get("BINDERY_CLI")
    if not cli:
        pytest.skip("BINDERY_CLI (the bindery binary) is set by scripts/test")
    spec = write_spec(tmp_path, SPEC)
    # The gateway reads and writes the rows of tables and streams that exist: made first, by
    # the command line.
    for args in (["table", "--spec", str(spec), "create", "db://users", "--schema", "user string NOT NULL, age int64",
                  "--key", "user"],
                 ["stream", "--spec", str(spec), "create", "ev://clicks"]):
        subprocess.run([cli, *args], check=True, capture_output=True)
    proc = subprocess.Popen([cli, "serve", str(spec), "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True)
    with ends_within(60):
        line = proc.stderr.readline()
    found = re.search(r"http://[0-9.]+:[0-9]+", line)
    assert found, line
    yield found.group(0), proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_objects_tables_and_streams_over_http(served):
    base, proc = served
    status, headers, body = call("PUT", f"{base}/v1/objects/files/a/doc.json", b'{"n": 1}',
                                 {"Content-Type": "application/json", "x-bindery-meta-owner": "ana"})
    assert status == 200, body
    etag = headers["ETag"]
    status, headers, body = call("GET", f"{base}/v1/objects/files/a/doc.json")
    assert (status, body, headers["ETag"]) == (200, b'{"n": 1}', etag)
    assert headers["Content-Type"] == "application/json" and headers["x-bindery-meta-owner"] == "ana"
    status, _, _ = call("GET", f"{base}/v1/objects/files/a/doc.json", headers={"If-None-Match": etag})
    assert status == 304
    status, headers, body = call("GET", f"{base}/v1/objects/files/nope")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["kind"], problem["status"], problem["binding"], problem["operation"]) == ("NotFound", 404, "files", "get")
    assert problem["path"].endswith("nope"), problem

    status, _, body = call("POST", f"{base}/v1/tables/db/users", b'[{"user": "ana", "age": 41}, {"user": "bob", "age": 17}]',
                           {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"written": 2})
    status, _, body = call("GET", f"{base}/v1/tables/db/users?where=age%20%3E%2030")
    assert json.loads(body) == [{"user": "ana", "age": 41}]
    status, _, body = call("GET", f"{base}/v1/tables/db/users?select=user", headers={"Accept": "text/csv"})
    assert body.decode() == "user\nana\nbob\n"

    status, _, body = call("POST", f"{base}/v1/streams/ev/clicks", b'[{"value": "one"}, {"value": {"n": 2}}]',
                           {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"positions": ["0:0", "0:1"]})
    with ends_within(30):
        with urllib.request.urlopen(f"{base}/v1/streams/ev/clicks?from=earliest", timeout=30) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            data = []
            while len(data) < 2:
                line = r.readline().decode()
                if line.startswith("data:"):
                    data.append(json.loads(line[5:])["value"])
    assert data == ["one", '{"n":2}']

    # SIGTERM: the gateway stops, exit 0.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "stopping" in proc.stderr.read()


def test_openapi_document_is_valid_and_the_server_keeps_to_it(served, tmp_path):
    """The document passes an independent validator, and schemathesis, generating requests
    from it, finds no server error and no answer outside it. Streams and watches are left out:
    their GETs are endless event streams (their own tests cover them)."""
    from openapi_spec_validator import validate

    base, proc = served
    status, _, body = call("GET", f"{base}/v1/openapi.json")
    assert status == 200
    doc = json.loads(body)
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    run = subprocess.run(
        [st, "run", f"{base}/v1/openapi.json", "--checks", "not_a_server_error,response_schema_conformance",
         "--max-examples", "10", "--request-timeout", "5", "--exclude-path-regex", "/v1/(streams|watch)",
         "--workers", "1", "--seed", "7", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "generated" in run.stdout, run.stdout[-2000:]


def test_sighup_reads_the_processors_again(served, tmp_path):
    """`kill -HUP` makes a running `bindery serve` take the spec's processors as they are now;
    a spec that does not load is logged with its place, and the pipeline in use is kept."""
    base, proc = served
    url = f"{base}/v1/objects/files/h.json"
    json_type = {"Content-Type": "application/json"}
    assert call("PUT", url, b'{"n": 1}', json_type)[0] == 200
    spec = tmp_path / "function.yaml"
    text = spec.read_text()
    good = text.replace("      path: up\n", "      path: up\n      processors:\n        - kind: maxSize\n          bytes: 4\n")
    assert good != text
    spec.write_text(good)
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while True:
        status, _, body = call("PUT", url, b'{"n": 2}', json_type)
        if status == 413:
            break
        assert status == 200 and time.monotonic() < deadline, (status, body)
        time.sleep(0.1)
    assert b"processor 1 (maxSize)" in body, body
    spec.write_text(good.replace("kind: maxSize", "kind: maxSiz"))
    proc.send_signal(signal.SIGHUP)
    with ends_within(30):
        line = proc.stderr.readline()
        while "did not load" not in line:
            line = proc.stderr.readline()
    assert "unknown processor kind 'maxSiz'" in line and "function.yaml:" in line, line
    assert call("PUT", url, b'{"n": 3}', json_type)[0] == 413
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
