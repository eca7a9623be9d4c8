"""One frozen settings object for a run, built once from flags (or by Python callers).

No httpx here: ``client.py`` is the only place these values become httpx objects.
Validation raises ``SettingsError`` naming the flag, which the CLI turns into a one-line usage error.
"""

from __future__ import annotations

import enum
import importlib.util
import math
import re
import typing
from dataclasses import dataclass, field

from fetchcli.redact import authority, hides_userinfo

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_KEEPALIVE_EXPIRY = 5.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_TIME = 30.0
DEFAULT_METHOD = "GET"
DEFAULT_MAX_REDIRECTS = 20
DEFAULT_MAX_BODY_BYTES = 65536
DEFAULT_MAX_SAVE_BYTES = 100 * 1024 * 1024  # --save: a body larger is not saved (100 MiB)
DEFAULT_SAVE_NAME = "{host}/{path}"  # --save-name
DEFAULT_SNIPPET_LENGTH = 80
DEFAULT_RETRY_ON = (408, 429, 500, 502, 503, 504)
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_RETRY_MAX_WAIT = 30.0
MAX_RETRY_MAX_WAIT = 86_400.0  # a day: a longer wait inside one run makes no sense
# Each connection takes a file descriptor, and Linux allows a process at most 1,048,576 of them
# (fs.nr_open). The pools size their tables by --max-connections up front (the httpx backend's
# shard table: ~100 bytes a connection), so a larger value cost gigabytes or failed with a
# traceback (OverflowError past 2**63) instead of a usage error.
MAX_CONNECTIONS = 1_048_576
# The reorder window for --order input, as a multiple of the concurrency (with a floor):
# how far admission may run ahead of the oldest result not yet written.
ORDER_WINDOW_FACTOR = 8
MIN_ORDER_WINDOW = 256

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Controls a header value may not hold (RFC 9110 5.5: obs-text and HTAB are allowed; non-ASCII
# text is sent as UTF-8).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_PROXY_SCHEMES_TOLD = "fetchcli takes http://, https://, socks5:// and socks5h:// proxies"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
# Python's stand-ins for bytes that are not UTF-8 (os.fsdecode, argv, the environment).
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def not_utf8(text: str) -> str | None:
    """``None`` when ``text`` came from valid UTF-8, else how to say which byte was not:
    ``is not valid UTF-8 (byte 0xff)``, to follow an option's name."""
    found = _NOT_UTF8.search(text)
    if found is None:
        return None
    return f"is not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x}): give it as UTF-8 text"


class SettingsError(ValueError):
    """A bad option value. ``option`` is the flag as the user typed it, e.g. ``--timeout``."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option} {message}")
        self.option = option


# Where each setting the core judges (``SettingProblem.setting``) is given on the command line:
# the one place the core's names meet the flags (a test keeps it equal to the CLI's option table).
FLAGS: dict[str, str] = {
    "backend": "--backend",
    "request.http2": "--http2",
    "request.cacert": "--cacert",
    "request.capath": "--capath",
    "request.client_cert": "--cert",
    "request.client_key": "--key",
    "request.resolve": "--resolve",
    "request.connect_to": "--connect-to",
    "request.ipv4": "--ipv4",
    "request.ipv6": "--ipv6",
    "request.all_ips": "--all-ips",
    "shard": "--shard",
    "urls": "URL",
    "input": "--input",
    "resume": "--resume",
    "fields": "--fields",
    "state": "--state",
    "watch": "--watch",
}


class SettingProblem(SettingsError):
    """What the core (a transport, the input, a resume file, selection, the record fields) finds
    wrong with a setting, in its own words: ``setting`` names the setting as data — a ``Settings``
    field (``backend``, ``request.client_key``, ``shard``), else the input or output it concerns
    (``urls``, ``input``, ``resume``, ``fields``), else the environment variable it came from
    (``SSL_CERT_FILE``) — and ``problem`` says what is wrong. It is a ``SettingsError`` whose
    ``option`` is the flag that sets it (``FLAGS``), so a caller catching ``SettingsError`` and the
    CLI's one-line usage error read ``--key is encrypted: ...`` as before."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(FLAGS.get(setting, setting), problem)
        self.setting = setting
        self.problem = problem


class Order(str, enum.Enum):
    input = "input"
    completion = "completion"


class Backend(str, enum.Enum):
    """How requests are sent: ``aiohttp`` (fast, HTTP/1.1, HTTP proxies), ``httpx`` (sharded
    httpcore pools: HTTP/2, SOCKS proxies), or ``auto``: aiohttp when it is installed and the
    settings need nothing only httpx has."""

    auto = "auto"
    aiohttp = "aiohttp"
    httpx = "httpx"


class InputFormat(str, enum.Enum):
    """``--input-format``: how ``-i`` files and stdin are read. ``auto``: JSON Lines for a file
    named ``*.jsonl`` or ``*.ndjson``, else a URL a line (stdin too); ``text``: a URL a line;
    ``jsonl``: a request a line (``input/jsonl.py``). URLs given as arguments are URLs."""

    auto = "auto"
    text = "text"
    jsonl = "jsonl"


class ColorMode(str, enum.Enum):
    """``--color``: ``auto`` colours a terminal unless ``NO_COLOR`` is set."""

    auto = "auto"
    always = "always"
    never = "never"


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Maps onto ``httpx.Limits``. ``max_keepalive=None`` means "as many as max_connections"."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_keepalive: int | None = None
    keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY

    @property
    def effective_max_keepalive(self) -> int:
        if self.max_keepalive is None:
            return self.max_connections
        return min(self.max_keepalive, self.max_connections)


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """Seconds; ``None`` for a phase means "use ``timeout``"; ``0`` means no limit."""

    timeout: float = DEFAULT_TIMEOUT
    connect: float | None = None
    read: float | None = None
    write: float | None = None
    pool: float | None = None
    max_time: float = DEFAULT_MAX_TIME

    def phase(self, value: float | None) -> float | None:
        """The effective limit of one phase, ``None`` meaning unlimited."""
        chosen = self.timeout if value is None else value
        return None if chosen == 0 else chosen

    @property
    def total(self) -> float | None:
        return None if self.max_time == 0 else self.max_time


@dataclass(frozen=True, slots=True)
class RequestSettings:
    method: str = DEFAULT_METHOD
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str | None = None
    follow_redirects: bool = False
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    insecure: bool = False
    http2: bool = False
    proxy: str | None = None  # every scheme (``--proxy``)
    # (scheme, proxy URL) when ``proxy`` is None: from the environment
    proxy_by_scheme: tuple[tuple[str, str], ...] = ()
    no_proxy: tuple[str, ...] = ()  # hosts, domains, networks reached directly (``NO_PROXY``, ``--noproxy``)
    cacert: str | None = None  # PEM file of CA certificates to trust instead of the default bundle
    capath: str | None = None  # directory of CA certificates (OpenSSL's c_rehash layout)
    client_cert: str | None = None  # PEM client certificate (and key, unless client_key)
    client_key: str | None = None
    # More headers whose values are secrets (lower case), besides redact.SECRET_HEADERS
    secret_headers: tuple[str, ...] = ()
    # An input without a scheme: https://, then http:// when the https:// try meets a TLS
    # handshake failure or a refused connection (``--scheme-fallback``)
    scheme_fallback: bool = False
    # The body every URL is sent (-d, --data-binary, --json), read once; None: none
    body: bytes | None = None
    # -X HEAD answered 405 or 501 (or 403/404 where a GET gives 2xx): asked again with GET (--head-fallback)
    head_fallback: bool = False
    # Where connections go (--resolve HOST:PORT:ADDRS, --connect-to H1:P1:H2:P2; transport/addressmap.py)
    resolve: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    connect_to: tuple[tuple[str | None, int | None, str | None, int | None], ...] = ()
    ipv4: bool = False  # -4: resolve and connect over IPv4 only
    ipv6: bool = False  # -6: over IPv6 only
    all_ips: bool = False  # --all-ips: one request per address of the URL's host (engine/allips.py)

    @property
    def family(self) -> int:
        """4 (-4), 6 (-6), or 0: either."""
        return 4 if self.ipv4 else 6 if self.ipv6 else 0

    @property
    def proxies(self) -> tuple[str, ...]:
        """Every proxy a request may go through."""
        return (self.proxy,) if self.proxy is not None else tuple(url for _, url in self.proxy_by_scheme)


@dataclass(frozen=True, slots=True)
class BodySettings:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    snippet_length: int = DEFAULT_SNIPPET_LENGTH
    read_all: bool = False  # read every body to its end (not kept): exact size and sha256
    save_dir: str | None = None  # --save DIR: every body written whole, decoded, under DIR
    max_save_bytes: int = DEFAULT_MAX_SAVE_BYTES
    save_name: str = DEFAULT_SAVE_NAME  # --save-name: the template of a saved file's name
    save_fsync: bool = False  # --fsync: each saved file synced before its rename
    # --save: the run's own files (inputs, outputs; savefile.run_files), never replaced by a body
    save_keep: frozenset[tuple[int, int, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """``retries`` more tries after a connection error, a timeout or a status in ``retry_on``,
    with full-jitter exponential backoff from ``backoff`` seconds, capped at ``max_wait``
    (which also caps a server's ``Retry-After``)."""

    retries: int = 0
    retry_on: frozenset[int] = frozenset(DEFAULT_RETRY_ON)
    backoff: float = DEFAULT_RETRY_BACKOFF
    max_wait: float = DEFAULT_RETRY_MAX_WAIT
    all_methods: bool = False  # also retry non-idempotent methods once a request was sent


@dataclass(frozen=True, slots=True)
class PolitenessSettings:
    """``per_host``: requests in flight to one host at most; ``rate`` and ``host_rate``:
    requests per second overall and per host. ``None``: no limit."""

    per_host: int | None = None
    rate: float | None = None
    host_rate: float | None = None


@dataclass(frozen=True, slots=True)
class SuccessSettings:
    """What makes a response ``ok``: a status in ``ok_status`` (ranges, inclusive; empty means
    below 400), and a body whose first ``--max-body-bytes``, decoded, contain ``expect_text`` and
    match ``expect_regex`` when given (a health check in one line); and a whole body that, parsed
    as JSON, makes the jq expression ``expect_jq`` yield only ``true`` (``engine/jqcheck.py``)."""

    ok_status: tuple[tuple[int, int], ...] = ()
    expect_text: str | None = None
    expect_regex: str | None = None
    expect_jq: str | None = None
    cert_expiry_days: int | None = None  # an https certificate with fewer whole days left fails

    def status_ok(self, status: int) -> bool:
        if not self.ok_status:
            return status < 400
        return any(low <= status <= high for low, high in self.ok_status)

    @property
    def checks_body(self) -> bool:
        return self.expect_text is not None or self.expect_regex is not None


@dataclass(frozen=True, slots=True)
class Settings:
    pool: PoolSettings = field(default_factory=PoolSettings)
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    request: RequestSettings = field(default_factory=RequestSettings)
    body: BodySettings = field(default_factory=BodySettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    politeness: PolitenessSettings = field(default_factory=PolitenessSettings)
    success: SuccessSettings = field(default_factory=SuccessSettings)
    concurrency: int | None = None
    order: Order = Order.input
    order_window: int | None = None
    backend: Backend = Backend.auto
    deadline: float | None = None  # seconds for the whole run; None: no limit
    shard: tuple[int, int] | None = None  # (K, N): fetch only shard K (1-based) of N (selection.py)
    unique: bool = False  # fetch each URL once: later repeats are left out
    workers: int = 1  # processes that fetch (workers.py); the engine stays in the caller's
    input_format: InputFormat = InputFormat.auto  # how -i files and stdin are read (--input-format)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def effective_concurrency(self) -> int:
        return self.concurrency if self.concurrency is not None else self.pool.max_connections

    @property
    def resolver_threads(self) -> int:
        """Threads for name lookups: as many as requests in flight (so lookups of many distinct
        hosts run side by side), at least 4, at most 512."""
        return min(max(self.effective_concurrency, 4), 512)

    @property
    def effective_order_window(self) -> int:
        if self.order_window is not None:
            return self.order_window
        return max(MIN_ORDER_WINDOW, ORDER_WINDOW_FACTOR * self.effective_concurrency)


def _at_least(option: str, value: float | None, minimum: float, what: str) -> None:
    if value is not None and not (value >= minimum and math.isfinite(value)):  # also rejects NaN, inf
        raise SettingsError(option, f"must be {what}")


def validate(settings: Settings) -> None:
    """Check every value; raise ``SettingsError`` naming the first bad flag."""
    pool, timeouts, req, body = settings.pool, settings.timeouts, settings.request, settings.body
    _at_least("--max-connections", pool.max_connections, 1, "1 or more")
    if pool.max_connections > MAX_CONNECTIONS:
        raise SettingsError(
            "--max-connections", f"must be at most {MAX_CONNECTIONS} (each connection takes a file descriptor)"
        )
    _at_least("--max-keepalive", pool.max_keepalive, 0, "0 or more")
    _at_least("--keepalive-expiry", pool.keepalive_expiry, 0, "0 or more")
    _at_least("--concurrency", settings.concurrency, 1, "1 or more")
    _at_least("--timeout", timeouts.timeout, 0, "0 or more")
    _at_least("--connect-timeout", timeouts.connect, 0, "0 or more")
    _at_least("--read-timeout", timeouts.read, 0, "0 or more")
    _at_least("--write-timeout", timeouts.write, 0, "0 or more")
    _at_least("--pool-timeout", timeouts.pool, 0, "0 or more")
    _at_least("--max-time", timeouts.max_time, 0, "0 or more")
    _at_least("--max-redirects", req.max_redirects, 0, "0 or more")
    _at_least("--max-body-bytes", body.max_body_bytes, 0, "0 or more")
    _at_least("--max-save-bytes", body.max_save_bytes, 0, "0 or more")
    _at_least("--snippet-length", body.snippet_length, 0, "0 or more")
    _at_least("order_window", settings.order_window, 1, "1 or more")  # Python API only
    _at_least("--deadline", settings.deadline, 0, "0 or more")
    _at_least("--workers", settings.workers, 1, "1 or more")
    if settings.shard is not None:
        check_shard(*settings.shard)
    retry, polite = settings.retry, settings.politeness
    _at_least("--retries", retry.retries, 0, "0 or more")
    _at_least("--retry-backoff", retry.backoff, 0, "0 or more")
    _at_least("--retry-max-wait", retry.max_wait, 0, "0 or more")
    if retry.max_wait > MAX_RETRY_MAX_WAIT:
        raise SettingsError("--retry-max-wait", f"must be at most {MAX_RETRY_MAX_WAIT:g} (a day)")
    if any(not 100 <= code <= 599 for code in retry.retry_on):  # no response has another (as --ok-status)
        raise SettingsError("--retry-on", "takes HTTP status codes from 100 to 599 (no response has another)")
    _at_least("--per-host", polite.per_host, 1, "1 or more")
    _at_least("--rate", polite.rate, 0.001, "more than 0")
    _at_least("--host-rate", polite.host_rate, 0.001, "more than 0")
    if req.ipv4 and req.ipv6:
        raise SettingsError("--ipv4", "and --ipv6 (-4, -6) cannot be used together")
    if req.all_ips and req.proxies and "*" not in req.no_proxy:
        raise SettingsError(
            "--all-ips",
            "cannot go through a proxy: the proxy looks the names up, not fetchcli (add --noproxy '*' or --no-env-proxy)",
        )
    if not _TOKEN.match(req.method):
        raise SettingsError("--method", f"must be an HTTP method token, not {req.method!r}")
    for name, value in req.headers:
        if (problem := header_problem(name, value)) is not None:
            raise SettingsError("--header", problem)
    for name in req.secret_headers:
        if not _TOKEN.match(name):
            raise SettingsError("--secret-header", f"must be a header name, not {name!r}")
    if req.user_agent is not None and _CONTROL.search(req.user_agent):
        raise SettingsError("--user-agent", "must not contain control characters")
    if req.user_agent is not None and (problem := not_utf8(req.user_agent)) is not None:
        raise SettingsError("--user-agent", problem)
    success = settings.success
    # A status above 599 is refused as a protocol error (protocol.status_problem): no response has
    # one, so a code or class that starts above it (6xx, 650) could never match.
    if any(not 100 <= low <= high <= 999 or low > 599 for low, high in success.ok_status):
        raise SettingsError(
            "--ok-status", "takes statuses and ranges from 100 to 599 (no response has another), e.g. 2xx,301,400-403"
        )
    _at_least("--cert-expiry-days", success.cert_expiry_days, 0, "0 or more")
    if success.expect_regex is not None:
        try:
            re.compile(success.expect_regex)
        except re.error as exc:
            raise SettingsError("--expect-regex", f"is not a regular expression: {exc}") from None
    if req.client_key is not None and req.client_cert is None:
        raise SettingsError("--key", "needs --cert (the certificate that goes with the key)")
    for proxy in req.proxies:
        check_proxy("--proxy" if req.proxy is not None else "proxy from the environment", proxy)


def check_proxy(option: str, proxy: str) -> None:
    """A proxy URL a run can use; else a usage error naming ``option`` (``--proxy``, or the
    environment variable it came from: ``proxies.resolve_proxies``), quoting nothing of the
    URL, whose user information may be a password."""
    scheme, sep, _ = proxy.partition("://")
    if sep and _SCHEME.fullmatch(scheme) and scheme.lower() not in PROXY_SCHEMES:
        raise SettingsError(option, f"has an unsupported proxy scheme {scheme!r}: {_PROXY_SCHEMES_TOLD}")
    if not re.match(r"^(https?|socks5h?)://[^\s]+$", proxy):
        raise SettingsError(option, "must be a URL such as http://host:port")
    _check_proxy_address(option, proxy)
    if proxy.startswith("socks") and importlib.util.find_spec("socksio") is None:
        raise SettingsError(option, f"socks5:// needs the socksio package: {install_hint('socks')}")


def is_token(text: str) -> bool:
    """Whether ``text`` is an HTTP token (RFC 9110 5.6.2): what a method or a header name is."""
    return _TOKEN.match(text) is not None


_FRAMING = frozenset({"content-length", "transfer-encoding"})


def header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent as a header (``-H``, a JSON Lines line's ``headers``),
    quoting no value; None when it can."""
    if not _TOKEN.match(name):
        return _bad_header_name(name)
    if name.lower() in _FRAMING:
        # Given by hand it disagrees with the body sent: aiohttp cut the body to it, or waited,
        # httpx refused; both sent Transfer-Encoding and Content-Length together.
        return f"cannot set {name}: fetchcli sets it from the body it sends (-d, --json, a line's data or json)"
    if (problem := not_utf8(value)) is not None:
        return f"value for {name!r} {problem}"
    if _CONTROL.search(value):
        return f"value for {name!r} must not contain control characters"
    return None


def _bad_header_name(name: str) -> str:
    """Why ``name`` is not a header name, quoting nothing of it: ``-H 'Authorization Bearer
    TOKEN:x'`` (a colon missing, or ``=`` for ``:``) makes a "name" of a secret. Its first
    character that a name may not hold, and where."""
    if not name:
        return "has an empty header name ('Name: value')"
    position, char = next((n, c) for n, c in enumerate(name, 1) if not _TOKEN.match(c))
    what = "a space" if char == " " else (repr(char) if char.isprintable() and char.isascii() else f"U+{ord(char):04X}")
    return f"has an invalid header name: character {position} ({what}) may not be part of one ('Name: value')"


def install_hint(extra: str) -> str:
    """How to add an optional extra (``http2``, ``socks``; httpx's extras of the same names):
    fetchcli is installed from a clone, not from the package index."""
    return f"in fetchcli's clone, pip install '.[{extra}]' (or pip install 'httpx[{extra}]' into its environment)"


def _check_proxy_address(option: str, proxy: str) -> None:
    """A proxy's host and port, checked before anything is fetched (a library would raise on
    every URL); nothing of the URL is quoted: its user information may be a password."""
    _, hostport = authority(proxy)
    if hostport.startswith("["):
        host, _, after = hostport.partition("]")
        port = after[1:] if after.startswith(":") else after
    else:
        host, _, port = hostport.partition(":")
    if not host.strip("["):
        raise SettingsError(option, "has no host: it must be a URL such as http://host:port")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):  # empty: the default
        hint = ""
        if hides_userinfo(proxy):
            hint = " (a user name or password holding '/', '?' or '#' must be percent-encoded: %2F, %3F, %23)"
        raise SettingsError(option, f"has an invalid port: it must be a number from 1 to 65535{hint}")


_NO_LIMIT_WORDS = ("inf", "infinity", "none", "unlimited")
E = typing.TypeVar("E", bound=enum.Enum)


def parse_int(option: str, text: str) -> int:
    """A whole number from the command line, an environment variable or a config file."""
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise SettingsError(option, f"must be a whole number, not {text!r}") from None


def parse_float(option: str, text: str, *, unit: str = "a number", no_limit: bool = False) -> float:
    """A finite number; with ``no_limit``, also ``inf`` (or ``none``), which means 0: no limit."""
    word = text.strip().lower()
    if no_limit and word in _NO_LIMIT_WORDS:
        return 0.0
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        allowed = f"{unit} (0 or inf for no limit)" if no_limit else unit
        raise SettingsError(option, f"must be {allowed}, not {text!r}")
    return value


def parse_choice(option: str, text: str, choices: type[E]) -> E:
    """One of an enum's values, case-insensitively."""
    try:
        return choices(text.strip().lower())
    except ValueError:
        names = ", ".join(str(member.value) for member in choices)
        raise SettingsError(option, f"must be one of {names}, not {text!r}") from None


def check_shard(k: int, n: int) -> None:
    """``--shard K/N`` names one of N shards, 1-based."""
    if not 1 <= k <= n:
        raise SettingsError("--shard", f"must be K/N with 1 <= K <= N, not {k}/{n}")


def parse_status_list(text: str) -> frozenset[int]:
    """``'429,503'`` -> ``{429, 503}``, for ``--retry-on``."""
    try:
        codes = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SettingsError("--retry-on", f"must be comma-separated status codes, not {text!r}") from None
    return codes


def parse_status_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``'2xx,301,400-403'`` -> ``((200, 299), (301, 301), (400, 403))``, for ``--ok-status``:
    codes, ranges and classes (``2xx``, any case, is 200-299)."""
    ranges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if len(part) == 3 and part[0] in "123456789" and part[1:].lower() == "xx":
            ranges.append((int(part[0]) * 100, int(part[0]) * 100 + 99))
            continue
        low, dash, high = part.partition("-")
        try:
            ranges.append((int(low), int(high) if dash else int(low)))
        except ValueError:
            raise SettingsError(
                "--ok-status", f"must be statuses, ranges and classes such as 2xx,301,400-403, not {text!r}"
            ) from None
    if not ranges:
        raise SettingsError("--ok-status", "needs at least one status, range or class, e.g. 2xx or 200-299")
    return tuple(ranges)


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``('Name', 'value')``, as curl's ``-H`` takes it."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        # The text is not repeated: it may be a secret with its colon missing.
        raise SettingsError("--header", "must look like 'Name: value'")
    return name, value.strip()
