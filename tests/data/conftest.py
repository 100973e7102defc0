"""A watchdog for the data tests: a test that hangs (a worker bug) kills the run with the
stacks of every thread instead of blocking the suite forever."""

import faulthandler
import sys

import pytest

HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
