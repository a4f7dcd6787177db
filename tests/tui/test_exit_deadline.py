"""Once the app has closed everything, the process ends within its teardown deadline (``tui/exit_deadline.py``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.checkout import checkout_env

# a teardown that would hang for a minute: a thread the interpreter joins, and an atexit handler that waits
HANGING_TEARDOWN = """
import atexit, threading, time
from tui.exit_deadline import end_within

threading.Thread(target=time.sleep, args=(60,), name="stuck").start()
atexit.register(time.sleep, 60)
print("cleaned up", flush=True)
end_within(0.2)
"""


@pytest.mark.slow
def test_a_hanging_teardown_is_cut_at_the_deadline_with_a_clean_status() -> None:
    done = subprocess.run([sys.executable, "-c", HANGING_TEARDOWN], env=checkout_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "cleaned up\n", done.stderr
