"""The line of a child's output that explains why it stopped."""

from __future__ import annotations

import pytest

from harness.targets.explain import MAX_CHARS, explaining_line

GUNICORN = """[2026-01-01 00:00:00 +0000] [7] [INFO] Starting gunicorn 23.0.0
Error: class uri 'gevent' invalid or not found:

[Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/gunicorn/util.py", line 99, in load_class
    mod = importlib.import_module('.'.join(components))
  File "/venv/lib/python3.11/site-packages/gunicorn/workers/ggevent.py", line 14, in <module>
    raise RuntimeError("gevent worker requires gevent 24.10.1 or higher")
RuntimeError: gevent worker requires gevent 24.10.1 or higher
]
"""

CHAINED = """Traceback (most recent call last):
  File "a.py", line 1, in <module>
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 3, in <module>
    import myapp
ModuleNotFoundError: No module named 'myapp'
[2026-01-01 00:00:01 +0000] [7] [INFO] Shutting down: Master
"""


@pytest.mark.parametrize(("text", "expected"), [
    (GUNICORN, "RuntimeError: gevent worker requires gevent 24.10.1 or higher"),
    (CHAINED, "ModuleNotFoundError: No module named 'myapp'"),
    # No traceback: the last line that reads like an error, not the noise after it.
    ('ERROR:    Error loading ASGI app. Could not import module "app".\n]\n)\n',
     'ERROR: Error loading ASGI app. Could not import module "app".'),
    ("starting\nSystemExit: 3\n", "SystemExit: 3"),
    # Neither: the last line that carries a letter or a digit.
    ("listening on 8000\nserving\n  ]\n\n", "serving"),
    ("]\n)\n", "no output"),
    ("", "no output"),
])
def test_the_line_that_explains(text: str, expected: str) -> None:
    assert explaining_line(text) == expected


def test_a_traceback_with_only_frames_falls_back_to_an_error_line() -> None:
    cut = "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
    assert explaining_line("OSError: [Errno 98] Address in use\n" + cut) == (
        "OSError: [Errno 98] Address in use")


def test_a_long_line_is_cut_to_one_terminal_line() -> None:
    line = explaining_line("ValueError: " + "x" * 5000)
    assert len(line) == MAX_CHARS and line.endswith("…")
    assert "\n" not in explaining_line("a\tb   c\n")
