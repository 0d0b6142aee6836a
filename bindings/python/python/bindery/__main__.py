"""``python -m bindery run [SPEC]`` / ``python -m bindery invoke [SPEC] --body …``: runs a
Python function (``runtime: python``, ``handler: module:function``) under the bindery host,
with the spec's triggers. ``bindery run function.yaml`` starts this for a Python function."""

import logging
import sys

from . import _bindery


class TracingHandler(logging.Handler):
    """Sends Python's log records to the host's log, inside the event's span (so each line
    names the trigger and the event id, like a Rust handler's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _bindery.log(record.levelno, record.name, self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def main() -> int:
    root = logging.getLogger()
    root.addHandler(TracingHandler())
    root.setLevel(logging.DEBUG)  # the host's BINDERY_LOG filter decides what is written
    return _bindery.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
