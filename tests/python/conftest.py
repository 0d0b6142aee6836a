"""Fixtures for the Python SDK's tests: a spec in a temporary folder, connected."""

import textwrap

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
