"""Fixtures for the Python SDK's tests: a spec in a temporary folder, connected."""

import contextlib
import faulthandler
import os
import signal
import textwrap
import threading
import time

import pytest

import bindery

SPEC = """
metadata:
  name: pytests
spec:
  dataBindings:
    mem:
      kind: object
      driver: memory
    files:
      kind: object
      driver: fs
      url: ./objects
      path: up
    db:
      kind: table
      driver: sqlite
      url: ./tables.db
    lake:
      kind: table
      driver: files
      url: ./lake
    ev:
      kind: stream
      driver: log
      url: ./streams
"""


def write_spec(folder, text):
    path = folder / "function.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def spec(tmp_path):
    return write_spec(tmp_path, SPEC)


@pytest.fixture
def ctx(spec):
    return bindery.Context(spec)


@contextlib.contextmanager
def ends_within(seconds):
    """Ends the whole run (with a traceback) if the block has not finished within `seconds`:
    for waits that would otherwise last for ever when what they test is broken."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@contextlib.contextmanager
def sigint_after(delay):
    """Sends this process SIGINT after `delay` seconds, with Python's own handler installed
    whatever the process inherited (a shell starting a job in the background without job
    control leaves SIGINT ignored); yields a list that receives the time it was sent."""
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ends_within(30):
            threading.Timer(delay, interrupt).start()
            yield sent
    finally:
        signal.signal(signal.SIGINT, previous)
