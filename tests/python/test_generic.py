"""The generic kind from Python: the http driver against a real HTTP server (http.server)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import bindery
from conftest import sigint_after, write_spec


class Echo(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        if self.path.startswith("/v1/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            out, status = f"status {code}".encode(), code
        else:
            out = json.dumps({"method": self.command, "path": self.path, "body": body,
                              "auth": self.headers.get("authorization")}).encode()
            status = 201 if self.command == "POST" else 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def test_calls_and_statuses(tmp_path, server, monkeypatch):
    monkeypatch.setenv("PY_HTTP_TOKEN", "tok")
    spec = write_spec(tmp_path, f"""
        spec:
          dataBindings:
            api:
              driver: http
              url: http://127.0.0.1:{server}/v1
              secret: {{ env: PY_HTTP_TOKEN }}
        """)
    ctx = bindery.Context(spec)
    out = ctx.generic.call("api://users").operation("POST").payload('{"name": "ana"}').option("query.x", "1").do()
    assert out.status == 201 and out.get("Content-Type") == "application/json"
    j = json.loads(bytes(out.body))
    assert j == {"method": "POST", "path": "/v1/users?x=1", "body": '{"name": "ana"}', "auth": "Bearer tok"}
    with pytest.raises(bindery.NotFound, match="answered 404: status 404"):
        ctx.generic.call("api://status/404").operation("GET").do()
    with pytest.raises(bindery.InvalidInput, match="not an HTTP method"):
        ctx.generic.call("api://x").operation("FETCH").do()


def test_ctrl_c_interrupts_a_blocking_do(tmp_path):
    """A server that answers `/slow` after a minute: `do()` would wait that long (the binding's
    timeout is longer); Ctrl-C ends the wait at once with KeyboardInterrupt."""
    import time

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.endswith("/slow"):
                time.sleep(60)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    spec = write_spec(tmp_path, f"""
        spec:
          dataBindings:
            api:
              driver: http
              url: http://127.0.0.1:{srv.server_address[1]}/
              timeout: 90s
              retries: 0
        """)
    ctx = bindery.Context(spec)
    try:
        with sigint_after(0.3) as sent, pytest.raises(KeyboardInterrupt):
            ctx.generic.call("api://slow").operation("GET").do()
        assert time.monotonic() - sent[0] < 0.5
    finally:
        srv.shutdown()
