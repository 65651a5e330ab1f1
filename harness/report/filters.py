"""Formatting filters and the Jinja environments of the report.

Escaping. HTML templates are autoescaped. Markdown has no autoescape, so its
environment *finalizes* every ``{{ }}`` output through :func:`md_escape` (table
pipes, newlines, HTML and Markdown punctuation), except text a filter marked
:class:`MdSafe` because the filter built it from numbers. In both formats a
``{{ }}`` that would print a float, ``None``, a bool or a container fails loudly:
numbers go through a formatting filter (``ratio``, ``ci``, ``measure`` ...), so
every printed number is rounded in exactly one place.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from harness.analyse.sentences import format_number
from harness.paths import TEMPLATES

NOT_RECORDED = "not recorded"


class MdSafe(str):
    """Text that is already safe in Markdown (built by a filter from numbers or escaped)."""

    __slots__ = ()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#$])")
# GitHub turns bare URLs, www. names and e-mail addresses into links (its autolink
# extension); an HTML entity for the colon, the dot or the @ reads the same and stops it.
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto)(:)|\b(www)(\.)")


def md_escape(text: object) -> MdSafe:
    """``text`` made inert in a Markdown table cell or paragraph.

    Newlines become spaces; ``&``, ``<`` and ``>`` become entities (no raw HTML);
    backslash, backtick, ``*``, ``_``, brackets, ``|``, ``#`` and ``$`` (maths) get a
    backslash; the ``:`` of a URL scheme, the ``.`` after ``www`` and ``@`` become
    entities, so a recorded string never turns into a link.
    """
    if isinstance(text, MdSafe):
        return text
    s = " ".join(str(text).splitlines())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return MdSafe(_AUTOLINK.sub(_break_link, s).replace("@", "&#64;"))


def _break_link(match: re.Match[str]) -> str:
    scheme, _, www, _ = match.groups()
    return f"{scheme}&#58;" if scheme else f"{www}&#46;"


def md_code_block(text: object) -> MdSafe:
    """``text`` (or a list of lines) as a fenced code block whose fence is longer than any
    backtick run in it; newlines inside a line are flattened, so a recorded string cannot
    add lines of its own."""
    lines = text if isinstance(text, list | tuple) else [text]
    s = "\n".join(" ".join(str(line).splitlines()) for line in lines)
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return MdSafe(f"{fence}\n{s}\n{fence}")


def fmt_number(value: float | int | None) -> str:
    """A measured value with precision that suits its size: 10.23, 0.623, 1,234."""
    if value is None:
        return "n/a"
    x = float(value)
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 10:
        return f"{x:.2f}"
    if a >= 0.01 or a == 0:
        return f"{x:.3f}"
    return f"{x:.2g}"


def fmt_significant(value: float | None, digits: int = 2) -> str:
    """``value`` to ``digits`` significant digits, never in scientific notation."""
    if value is None:
        return "n/a"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def fmt_ratio(value: float | None) -> MdSafe:
    """A speedup: ``4.62x`` (two decimals), ``n/a`` when absent."""
    return MdSafe("n/a" if value is None else f"{format_number(value)}x")


def fmt_ci(low: float | None, high: float | None) -> MdSafe:
    """An interval: ``[4.41, 4.85]``; ``no interval`` when a bound is absent."""
    if low is None or high is None:
        return MdSafe("no interval")
    if low == float("-inf") or high == float("inf"):
        return MdSafe("unbounded")
    return MdSafe(f"[{format_number(low)}, {format_number(high)}]")


def fmt_measure(cell: Mapping[str, Any] | None, unit: str) -> MdSafe:
    """A cell's mean with its unit and sample sd: ``2.876 s ± 0.012``."""
    if cell is None or cell.get("mean") is None:
        return MdSafe("n/a")
    text = f"{fmt_number(cell['mean'])} {unit}".rstrip()
    if cell.get("sd") is not None and cell.get("n", 2) > 1:
        text += f" ± {fmt_significant(cell['sd'])}"
    return MdSafe(text)


def fmt_value(value: float | None, unit: str = "") -> MdSafe:
    """A value with its unit: ``0.100 s``; ``n/a`` when absent."""
    if value is None:
        return MdSafe("n/a")
    return MdSafe(f"{fmt_number(value)} {unit}".rstrip())


def fmt_p(value: float | None) -> MdSafe:
    """A p-value: ``< 0.001``, ``0.042``, ``n/a``."""
    if value is None:
        return MdSafe("n/a")
    return MdSafe("< 0.001" if value < 0.001 else f"{value:.3f}")


def fmt_percent(value: float | None) -> MdSafe:
    """A fraction as a whole percentage: ``0.913`` -> ``91%``."""
    return MdSafe("n/a" if value is None else f"{value * 100:.0f}%")


def show(value: object, unit: str = "") -> str:
    """A config or environment value for display; ``None`` is ``not recorded``."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = ", ".join(show(v) for v in value)
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def _reject_unformatted(value: object) -> None:
    if value is None or isinstance(value, bool | float | dict | list | tuple):
        raise TypeError(f"template printed {type(value).__name__} {value!r} without a "
                        f"formatting filter (show, ratio, ci, measure, number ...)")


def _finalize_markdown(value: object) -> object:
    if isinstance(value, MdSafe):
        return value
    _reject_unformatted(value)
    return md_escape(value)


def _finalize_html(value: object) -> object:
    _reject_unformatted(value)
    return value


FILTERS: dict[str, Callable[..., Any]] = {
    "md": md_escape, "code_block": md_code_block, "number": fmt_number, "ratio": fmt_ratio,
    "ci": fmt_ci, "measure": fmt_measure, "value": fmt_value, "p": fmt_p, "percent": fmt_percent,
    "show": show,
}


@functools.cache
def environment(output: str) -> Environment:
    """The Jinja environment for ``"markdown"`` or ``"html"`` output (StrictUndefined).

    Cached: templates are compiled once per process.
    """
    if output not in ("markdown", "html"):
        raise ValueError(f"output must be 'markdown' or 'html', got {output!r}")
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                     disabled_extensions=("md", "md.j2"),
                                     default_for_string=True, default=True),
        finalize=_finalize_markdown if output == "markdown" else _finalize_html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env

