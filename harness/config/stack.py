"""A stack: one server setting of one app, in a single form for built-in and own apps.

A stack is a command template (a list of arguments, never a shell line) plus what the
harness needs to drive it: the folder it starts in, extra environment, its paradigm
(``sync`` or ``async``: drives the model and the report's grouping), the path polled
until it answers 200, the request path of each kind of request, and the JSON field
that reports its upstream call count. The built-in stacks (``harness.config.catalogue``)
are entries of this same form whose settings fill their command template.

Request path templates take the trial's parameters as placeholders: ``{delay_ms}`` and
``{n}`` (aggregate only) today; ``PATH_PLACEHOLDERS`` is the one list to extend when a
workload gains a parameter. Command templates take ``COMMAND_PLACEHOLDERS``; ``{{`` and
``}}`` stand for literal braces in both.
"""

from __future__ import annotations

import dataclasses
import re
import string
from dataclasses import dataclass
from typing import Any

from harness.config.catalogue import APP_MODULES, CONTRACT_PATHS, DB_APPS, SYNC_APPS, app_command
from harness.config.rules import check, is_int, is_number

APPS = tuple(APP_MODULES)
SERVERS = ("gunicorn", "hypercorn", "uvicorn", "granian", "dev")
WORKER_CLASSES: dict[str, tuple[str, ...]] = {
    "gunicorn": ("gthread", "sync", "gevent", "asgi"),
    "hypercorn": ("asyncio", "uvloop"),
    "uvicorn": ("asyncio", "uvloop"),
    "granian": ("wsgi", "asyncio", "uvloop"),  # wsgi: blocking threads; else the ASGI loop
    "dev": ("threaded", "asyncio"),
}
# Worker classes that run a WSGI (sync) app.
WSGI_CLASSES = ("gthread", "sync", "gevent", "threaded", "wsgi")
# Granian's own bounds: its header read timeout (our keep-alive) is 1..60000 ms, and it
# refuses a backlog below 128.
GRANIAN_KEEPALIVE_S = (1, 60)
GRANIAN_MIN_BACKLOG = 128
# An interpreter's label (``[run] pythons``): a CPython version, ``t`` for free-threaded.
PYTHON_LABEL = re.compile(r"3\.\d{1,2}t?")
PARADIGMS = ("sync", "async")
FANOUT_MODES = ("sequential", "concurrent")
# Which request path each scenario sends: fanout one aggregate request, the others single.
SCENARIO_PATHS = {"fanout": "aggregate", "clients": "single", "rate": "single",
                  "capacity": "single"}
PATH_KINDS = ("single", "aggregate")
PATH_PLACEHOLDERS: dict[str, tuple[str, ...]] = {"single": ("delay_ms", "cpu_ms"),
                                                 "aggregate": ("delay_ms", "n", "cpu_ms")}
COMMAND_PLACEHOLDERS = ("python", "host", "port", "bind", "upstream_url", "workers", "threads",
                        "worker_class", "worker_connections", "backlog", "keepalive_s",
                        "keepalive_ms", "worker_timeout_s")


def template_fields(template: str) -> list[str] | None:
    """The placeholder names in ``template``, or None when its braces are malformed."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:
        return None


def _check_template(where: str, template: object, allowed: tuple[str, ...]) -> None:
    check(isinstance(template, str), where, template, "must be a string")
    names = template_fields(str(template))
    check(names is not None, where, template, "has unbalanced braces (write {{ for a literal {)")
    for name in names or []:
        check(name in allowed, where, template,
              f"unknown placeholder {{{name}}}; known: {', '.join(allowed)}")


@dataclass(frozen=True)
class StackSpec:
    """One server setting of one app: everything needed to start and drive it, stated.

    ``app`` is one of the built-in apps or ``""`` for an own app, which then needs a
    ``command`` and a ``paradigm``; ``server`` and ``worker_class`` describe it (free text
    for an own app). Empty ``command``, ``paradigm``, ``fanout``, ``paths`` and
    ``calls_field`` are derived for a built-in app; an own app's ``calls_field`` stays
    None (the body is not checked) unless stated.
    """

    name: str
    app: str = ""
    server: str = ""
    worker_class: str = ""
    workers: int = 1
    threads: int = 1
    worker_connections: int = 1000
    backlog: int = 2048
    keepalive_s: int = 5
    pool_size: int = 100
    upstream_timeout_s: float = 30.0
    command: tuple[str, ...] = ()
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    paradigm: str = ""
    fanout: str = ""
    ready_path: str = "/health"
    paths: tuple[tuple[str, str], ...] = ()
    calls_field: str | None = ""
    cpu_offload: bool = False  # async apps: handler CPU work in a thread pool
    python: str = ""  # the interpreter's label ([run] pythons); "" runs the harness's own

    def __post_init__(self) -> None:
        where = f"[stacks.{self.name}]"
        check(isinstance(self.name, str) and bool(self.name) and self.name.strip() == self.name,
              f"{where} name", self.name, "must be a non-empty name without surrounding spaces")
        check(self.app in APPS or self.app == "", f"{where} app", self.app,
              f"must be one of {', '.join(APPS)}, or left out for an own app with a command")
        if self.app:
            self._check_builtin_app(where)
        self._derive()
        check(len(self.command) > 0, f"{where} command", list(self.command),
              "an own app needs a command (a list of arguments)")
        for arg in self.command:
            _check_template(f"{where} command", arg, COMMAND_PLACEHOLDERS)
        check(self.paradigm in PARADIGMS, f"{where} paradigm", self.paradigm,
              f"must be one of {', '.join(PARADIGMS)}")
        check(self.fanout in FANOUT_MODES, f"{where} fanout", self.fanout,
              f"must be one of {', '.join(FANOUT_MODES)}")
        check(self.cwd is None or (isinstance(self.cwd, str) and bool(self.cwd)),
              f"{where} cwd", self.cwd, "must be a folder path")
        for key, value in self.env:
            check(isinstance(key, str) and bool(key) and "=" not in key and isinstance(value, str),
                  f"{where} env {key}", value, "must map a variable name to a string")
        check(isinstance(self.ready_path, str) and self.ready_path.startswith("/"),
              f"{where} ready_path", self.ready_path, "must be a path starting with /")
        for kind, template in self.paths:
            check(kind in PATH_KINDS, f"{where} paths", kind,
                  f"unknown kind of request; known: {', '.join(PATH_KINDS)}")
            _check_template(f"{where} paths.{kind}", template, PATH_PLACEHOLDERS[kind])
            check(template.startswith("/"), f"{where} paths.{kind}", template,
                  "must be a path starting with /")
        check(self.calls_field is None or (isinstance(self.calls_field, str)
                                           and bool(self.calls_field)),
              f"{where} expect.calls_field", self.calls_field, "must be a JSON field name")
        for key, low, high in (("workers", 1, 64), ("threads", 1, 1024),
                               ("worker_connections", 1, 100_000), ("backlog", 1, 65_535),
                               ("keepalive_s", 0, 3600), ("pool_size", 1, 100_000)):
            value = getattr(self, key)
            check(is_int(value) and low <= value <= high, f"{where} {key}", value,
                  f"must be an integer in {low}..{high}")
        check(is_number(self.upstream_timeout_s) and 0 < self.upstream_timeout_s <= 600,
              f"{where} upstream_timeout_s", self.upstream_timeout_s,
              "must be a number in (0, 600]")
        check(isinstance(self.cpu_offload, bool), f"{where} cpu_offload", self.cpu_offload,
              "must be true or false")
        check(not (self.cpu_offload and self.paradigm == "sync"), f"{where} cpu_offload",
              self.cpu_offload, "only an async app has an event loop to offload from")
        check(isinstance(self.python, str) and (
            self.python == "" or PYTHON_LABEL.fullmatch(self.python) is not None),
              f"{where} python", self.python, "must be an interpreter's label such as \"3.12\"")

    def _check_builtin_app(self, where: str) -> None:
        check(self.server in SERVERS, f"{where} server", self.server,
              f"must be one of {', '.join(SERVERS)}")
        allowed = WORKER_CLASSES[self.server]
        check(self.worker_class in allowed, f"{where} worker_class", self.worker_class,
              f"must be one of {', '.join(allowed)} for server {self.server}")
        if self.app in DB_APPS:
            check(self.server != "dev" and self.worker_class != "gevent", f"{where} server",
                  f"{self.server}/{self.worker_class}",
                  f"a database app ({self.app}) runs on a production server, not dev or gevent")
        if self.app in SYNC_APPS:
            check(self.server in ("gunicorn", "granian", "dev"), f"{where} server",
                  self.server, "a WSGI app (flask) runs on gunicorn, granian or dev")
            check(self.worker_class in WSGI_CLASSES, f"{where} worker_class",
                  self.worker_class, f"a WSGI app ({self.app}) needs a sync worker class")
        else:
            check(self.worker_class not in WSGI_CLASSES,
                  f"{where} worker_class", self.worker_class,
                  f"an ASGI app ({self.app}) needs an async worker class")
        if self.server == "granian":
            self._check_granian(where)

    def _check_granian(self, where: str) -> None:
        """Granian's own limits, so a bad setting fails here rather than at its start."""
        low, high = GRANIAN_KEEPALIVE_S
        check(is_int(self.keepalive_s) and low <= self.keepalive_s <= high,
              f"{where} keepalive_s", self.keepalive_s,
              f"must be an integer in {low}..{high} on granian (its header read timeout, "
              "which also ends an idle kept-alive connection, is 1..60000 ms)")
        check(is_int(self.backlog) and self.backlog >= GRANIAN_MIN_BACKLOG, f"{where} backlog",
              self.backlog, f"granian refuses a backlog below {GRANIAN_MIN_BACKLOG}")
        if self.worker_class != "wsgi":
            check(self.threads == 1, f"{where} threads", self.threads,
                  "granian runs an ASGI app on one blocking thread per worker: must be 1")

    def _derive(self) -> None:
        """Fill what a built-in app implies; sort the pairs so equal stacks compare equal."""
        derived: dict[str, Any] = {"env": tuple(sorted(self.env)),
                                   "paths": tuple(sorted(self.paths))}
        if self.app:
            if not self.command:
                derived["command"] = app_command(self.app, self.server, self.worker_class)
            if not self.paradigm:
                derived["paradigm"] = "sync" if self.app in SYNC_APPS else "async"
            if self.calls_field == "":
                derived["calls_field"] = "calls"
        elif self.calls_field == "":
            derived["calls_field"] = None
        if not self.paths:
            derived["paths"] = CONTRACT_PATHS
        paradigm = derived.get("paradigm", self.paradigm)
        if not self.fanout and paradigm in PARADIGMS:
            derived["fanout"] = "sequential" if paradigm == "sync" else "concurrent"
        derived["command"] = tuple(derived.get("command", self.command))
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    @property
    def own(self) -> bool:
        """True for a stack that runs an app the harness does not ship."""
        return not self.app

    @property
    def kind(self) -> str:
        """``production`` or ``dev`` (development servers are reported apart)."""
        return "dev" if self.server == "dev" else "production"

    @property
    def fanout_mode(self) -> str:
        """How the aggregate request makes its calls: ``sequential`` or ``concurrent``."""
        return self.fanout

    def path(self, scenario: str) -> str | None:
        """The request path template ``scenario`` sends, or None when not declared."""
        return dict(self.paths).get(SCENARIO_PATHS.get(scenario, scenario))

    def url(self, base_url: str, scenario: str, params: dict[str, Any]) -> str:
        """The URL ``scenario`` requests with the trial's ``params`` (``KeyError`` when the
        stack declares no path for it: ask ``skip_reason`` first)."""
        template = self.path(scenario)
        if template is None:
            raise KeyError(scenario)
        # Records made before handler CPU work existed carry no cpu_ms: none was asked for.
        return base_url + template.format_map({"cpu_ms": 0, **params})

    def skip_reason(self, scenario: str) -> str | None:
        """Why ``scenario`` is not run on this stack, or None when it is."""
        if self.path(scenario) is not None:
            return None
        kind = SCENARIO_PATHS.get(scenario, scenario)
        return (f"{self.name} declares no {kind!r} path (paths.{kind}), which {scenario} "
                "requests")

    @property
    def concurrency_slots(self) -> int | None:
        """Requests the stack can serve at once; ``None`` when bounded by nothing stated.

        The server's slots (gthread: workers x threads; sync: workers; gevent and
        gunicorn's asgi worker: workers x worker_connections; granian: workers x its
        blocking threads for a WSGI app, each capped by its backpressure,
        worker_connections, which alone bounds an ASGI app), capped by the apps'
        upstream pools (workers x pool_size). An own sync app: workers x threads as
        stated; an own async app: None.
        """
        if self.own:
            return self.workers * self.threads if self.paradigm == "sync" else None
        pool = self.workers * self.pool_size
        if self.worker_class == "gthread":
            server: int | None = self.workers * self.threads
        elif self.worker_class == "sync":
            server = self.workers
        elif self.worker_class in ("gevent", "asgi"):
            server = self.workers * self.worker_connections
        elif self.server == "granian":
            per_worker = (min(self.threads, self.worker_connections)
                          if self.worker_class == "wsgi" else self.worker_connections)
            server = self.workers * per_worker
        else:
            server = None
        if server is None:
            return pool
        return min(server, pool)

    def describe(self) -> dict[str, Any]:
        """The stated settings plus the derived ones, as written to the manifest."""
        data = dataclasses.asdict(self)
        data.update(command=list(self.command), env=dict(self.env), paths=dict(self.paths),
                    kind=self.kind, fanout_mode=self.fanout_mode,
                    concurrency_slots=self.concurrency_slots)
        if not self.python:  # absent otherwise, so configs without pythons keep their digest
            del data["python"]
        return data

    @classmethod
    def from_described(cls, data: dict[str, Any]) -> StackSpec:
        """Rebuild a stack from ``describe()`` output (a manifest's config)."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        for key in ("env", "paths"):
            if isinstance(fields.get(key), dict):
                fields[key] = tuple(fields[key].items())
        if isinstance(fields.get("command"), list):
            fields["command"] = tuple(fields["command"])
        return cls(**fields)
