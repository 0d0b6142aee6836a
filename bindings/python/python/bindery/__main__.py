"""``python -m bindery run [SPEC]`` / ``python -m bindery invoke [SPEC] --body …``: runs a
Python function (``runtime: python``, ``handler: module:function``) under the bindery host,
with the spec's triggers. ``bindery run function.yaml`` starts this for a Python function."""

import sys

from . import _bindery


def main() -> int:
    return _bindery.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
