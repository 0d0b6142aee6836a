"""``python -m bindery run [SPEC]`` / ``python -m bindery invoke [SPEC] --body …``: runs a
Python function (``runtime: python``, ``handler: module:function``) under the bindery host,
with the spec's triggers. ``bindery run function.yaml`` starts this for a Python function."""

import logging
import signal
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
    # The host stops gracefully on SIGINT, as on SIGTERM, and returns its exit code. Python's
    # own SIGINT handler would also see the signal and raise KeyboardInterrupt once the host
    # returned, ending the process by the signal: SIGINT is the host's while it runs.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return _bindery.main(sys.argv[1:])
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
