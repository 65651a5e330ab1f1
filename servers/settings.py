"""Settings the harness hands to every app through ``ASYNCBENCH_*`` environment variables.

ASYNCBENCH_STACK               stack name echoed by /health        (default "unnamed")
ASYNCBENCH_UPSTREAM_URL        base URL of the mock upstream       (required by the apps)
ASYNCBENCH_POOL_SIZE           upstream connection pool size, >= 1 (default 100)
ASYNCBENCH_UPSTREAM_TIMEOUT_S  upstream timeout in seconds, > 0    (default 30)
ASYNCBENCH_CPU_ITERS_PER_MS    iterations of servers.cpu_work.burn per ms, >= 1
                               (default: the app calibrates itself on first use)
ASYNCBENCH_CPU_OFFLOAD         1: async apps run the CPU work in a thread pool (default 0)
ASYNCBENCH_QUOTA_RPS           upstream calls per second this process may make, > 0
                               (default: no quota)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from servers.errors import SettingsError

ENV_STACK = "ASYNCBENCH_STACK"
ENV_UPSTREAM_URL = "ASYNCBENCH_UPSTREAM_URL"
ENV_POOL_SIZE = "ASYNCBENCH_POOL_SIZE"
ENV_UPSTREAM_TIMEOUT_S = "ASYNCBENCH_UPSTREAM_TIMEOUT_S"
ENV_CPU_ITERS_PER_MS = "ASYNCBENCH_CPU_ITERS_PER_MS"
ENV_CPU_OFFLOAD = "ASYNCBENCH_CPU_OFFLOAD"
ENV_QUOTA_RPS = "ASYNCBENCH_QUOTA_RPS"

DEFAULT_STACK = "unnamed"
DEFAULT_POOL_SIZE = 100
DEFAULT_UPSTREAM_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Settings:
    """What an app needs to know about its place in a stack; validated on construction."""

    upstream_url: str
    stack: str = DEFAULT_STACK
    pool_size: int = DEFAULT_POOL_SIZE
    upstream_timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S
    cpu_iterations_per_ms: int | None = None
    cpu_offload: bool = False
    quota_rps: float | None = None

    def __post_init__(self) -> None:
        if not self.stack.strip():
            raise SettingsError(f"{ENV_STACK} must not be blank, got {self.stack!r}")
        _check_url(self.upstream_url)
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int):
            raise SettingsError(f"{ENV_POOL_SIZE} must be an integer, got {self.pool_size!r}")
        if self.pool_size < 1:
            raise SettingsError(f"{ENV_POOL_SIZE} must be >= 1, got {self.pool_size}")
        timeout = self.upstream_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise SettingsError(f"{ENV_UPSTREAM_TIMEOUT_S} must be a number, got {timeout!r}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise SettingsError(f"{ENV_UPSTREAM_TIMEOUT_S} must be > 0 and finite, got {timeout}")
        iters = self.cpu_iterations_per_ms
        if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int)
                                  or iters < 1):
            raise SettingsError(f"{ENV_CPU_ITERS_PER_MS} must be an integer >= 1, got {iters!r}")
        quota = self.quota_rps
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int | float)
                                  or not math.isfinite(quota) or quota <= 0):
            raise SettingsError(f"{ENV_QUOTA_RPS} must be a number > 0, got {quota!r}")

    @property
    def delay_url(self) -> str:
        """The upstream's ``/delay`` endpoint, without the query string."""
        return self.upstream_url + "/delay"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the ``ASYNCBENCH_*`` variables of ``environ`` (default os.environ).

        Raises:
            SettingsError: a variable is missing or invalid; the message names it.
        """
        env = os.environ if environ is None else environ
        url = env_required(env, ENV_UPSTREAM_URL, "http://127.0.0.1:41234")
        return cls(
            upstream_url=url.rstrip("/"),
            stack=env.get(ENV_STACK, DEFAULT_STACK),
            pool_size=env_int(env, ENV_POOL_SIZE, DEFAULT_POOL_SIZE),
            upstream_timeout_s=env_float(env, ENV_UPSTREAM_TIMEOUT_S, DEFAULT_UPSTREAM_TIMEOUT_S),
            cpu_iterations_per_ms=_env_optional_int(env, ENV_CPU_ITERS_PER_MS),
            cpu_offload=_env_flag(env, ENV_CPU_OFFLOAD),
            quota_rps=_env_optional_float(env, ENV_QUOTA_RPS),
        )


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise SettingsError(
            f"{ENV_UPSTREAM_URL} must look like http://HOST:PORT with no path, got {url!r}"
        )


def env_required(env: Mapping[str, str], name: str, example: str) -> str:
    """The stripped value of ``env[name]``; SettingsError, with an example, when unset or blank."""
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required, e.g. {example}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """The integer in ``env[name]``, ``default`` when unset or blank; SettingsError otherwise."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """The number in ``env[name]``, ``default`` when unset or blank; SettingsError otherwise."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _env_optional_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    return None if raw is None or not raw.strip() else env_int(env, name, 0)


def _env_optional_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    return None if raw is None or not raw.strip() else env_float(env, name, 0.0)


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "0").strip()
    if raw not in ("0", "1", ""):
        raise SettingsError(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"
