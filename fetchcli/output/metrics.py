"""``--metrics FILE.prom``: the run as Prometheus metrics, in the text format node_exporter's
textfile collector reads, named as blackbox_exporter names its probes so that its dashboards
and alert rules work (``docs/metrics.md`` lists every metric).

``MetricsCollector.add`` takes each record as it is written and keeps, per URL, only the few
numbers the file needs, for at most ``max_urls`` distinct URLs (``--metrics-max-urls``): a URL
beyond them is counted in ``fetchcli_metrics_urls_dropped`` and in the run's totals, never
kept, so memory is bounded whatever the length of the input. A URL given twice is one series,
the last record's; so are two URLs whose labels are written alike (a control character and the
text of its escape), never one series written twice. With ``--all-ips`` a series is a URL and
one of its addresses (label ``ip``): one bad address of a host is never hidden by a good one.
``render`` writes the file's text at the end of the run: every family's
``# HELP`` and ``# TYPE`` once, followed by all its samples (the format asks for a family's
samples together); a sample whose value is unknown (a null phase, no response) is left out,
never written as 0. Label values are escaped as the format says (backslash, double quote,
newline); any other control, bidi or invisible character is shown escaped by the one sanitiser
(``text.for_terminal``), as in CSV, so the file stays one sample a line and safe to ``cat``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from fetchcli.models import FetchResult
from fetchcli.summary import Summary
from fetchcli.text import for_terminal

__all__ = ["DEFAULT_MAX_URLS", "MetricsCollector", "escape_label"]

DEFAULT_MAX_URLS = 10_000


class _Probe(NamedTuple):
    """What the file says of one URL; None: not known (its sample is left out)."""

    success: int
    status: int | None
    duration_s: float | None
    resolve_s: float | None
    connect_s: float | None
    tls_s: float | None
    processing_s: float | None
    redirects: int
    cert_expiry: float | None
    http_version: float | None
    content_length: int | None
    ssl: int | None
    ip_protocol: int | None
    consecutive_failures: int | None


# (name, the _Probe field it shows, help) of each per-URL gauge, in the file's order.
_PER_URL: tuple[tuple[str, str, str], ...] = (
    (
        "probe_success",
        "success",
        "1 when the URL's record is ok (fetchcli's definition: status, --ok-status, --expect-*), else 0",
    ),
    ("probe_http_status_code", "status", "Status of the final response; no sample when no response came"),
    (
        "probe_duration_seconds",
        "duration_s",
        "The record's elapsed_ms in seconds: redirects, retries and the body included",
    ),
    (
        "probe_dns_lookup_time_seconds",
        "resolve_s",
        "Looking the host name up (the last request); no sample when not looked up",
    ),
    ("probe_http_redirects", "redirects", "Redirects followed (-L)"),
    (
        "probe_ssl_earliest_cert_expiry",
        "cert_expiry",
        "Expiry of the LEAF certificate (not the chain's earliest) as Unix seconds",
    ),
    ("probe_http_version", "http_version", "HTTP version of the final response (1.0, 1.1, 2)"),
    (
        "probe_http_content_length",
        "content_length",
        "Content-Length header of the final response; no sample without one",
    ),
    ("probe_http_ssl", "ssl", "1 when the final response came over TLS, else 0; no sample when no response came"),
    ("probe_ip_protocol", "ip_protocol", "4 or 6: the IP version of the address the final response came from"),
    (
        "fetchcli_consecutive_failures",
        "consecutive_failures",
        "With --state: the URL's failures in a row up to this run's, 0 when it is ok; no sample without --state",
    ),
)
_PHASES = (("resolve", "resolve_s"), ("connect", "connect_s"), ("tls", "tls_s"), ("processing", "processing_s"))
_RESULTS = ("ok", "failed", "cancelled", "not_started")


def escape_label(value: str) -> str:
    """A label value as the text exposition format writes it between double quotes."""
    if not value.isprintable() or "\\" in value or '"' in value:
        value = "\n".join(for_terminal(part) for part in value.split("\n"))
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 7)  # the record's ms, without float noise


def _unix(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _version(text: str | None) -> float | None:
    if not text or not text.startswith("HTTP/"):
        return None
    try:
        return float(text[5:])
    except ValueError:
        return None


def _probe(result: FetchResult) -> _Probe:
    timing = result.timing
    resolve = connect = tls = processing = None
    if timing is not None:
        resolve, connect, tls = timing.dns_ms, timing.connect_ms, timing.tls_ms
        if timing.ttfb_ms is not None:
            # ttfb runs from sending (looking up, connecting and the handshake included) to the
            # headers: what is left is blackbox's "processing". A null phase took no time (a
            # kept-alive connection, a name looked up moments ago).
            rest = timing.ttfb_ms - sum(ms for ms in (resolve, connect, tls) if ms is not None)
            processing = rest if rest >= 0 else None
    answered = result.status is not None
    return _Probe(
        success=1 if result.ok else 0,
        status=result.status,
        duration_s=_seconds(result.elapsed_ms),
        resolve_s=_seconds(resolve),
        connect_s=_seconds(connect),
        tls_s=_seconds(tls),
        processing_s=_seconds(processing),
        redirects=len(result.redirects),
        cert_expiry=_unix(result.tls.not_after) if result.tls is not None else None,
        http_version=_version(result.http_version),
        content_length=result.content_length,
        ssl=(1 if result.tls is not None else 0) if answered else None,
        ip_protocol=None if not result.remote_ip else (6 if ":" in result.remote_ip else 4),
        consecutive_failures=result.consecutive_failures,
    )


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


class MetricsCollector:
    """The per-URL numbers of at most ``max_urls`` URLs, gathered as records are written."""

    def __init__(self, max_urls: int = DEFAULT_MAX_URLS, *, by_address: bool = False) -> None:
        self.max_urls = max_urls
        self.by_address = by_address  # --all-ips: one series per URL and address (label ip)
        self.dropped = 0  # URLs not kept: beyond max_urls
        self._probes: dict[str, _Probe] = {}

    def add(self, result: FetchResult) -> None:
        probes = self._probes
        # By label: two URLs the file would write alike (an escape character and the text of its
        # escape, \x1b) are one series, never a series written twice, which the collector rejects.
        label = f'url="{escape_label(result.url)}"'
        if self.by_address and result.remote_ip:  # none on a URL whose name did not resolve
            label += f',ip="{escape_label(result.remote_ip)}"'
        if label in probes or len(probes) < self.max_urls:
            probes[label] = _probe(result)
        else:
            self.dropped += 1

    def render(self, summary: Summary, *, now: float) -> str:
        """The file's text: the per-URL families, then the run's (``summary``'s counts, so
        the totals count every URL, kept or dropped); ``now``: the run's end, Unix seconds."""
        return "".join(self._lines(summary, now))

    def _lines(self, summary: Summary, now: float) -> Iterator[str]:
        for name, attribute, text in _PER_URL:
            yield from _family(name, text)
            for label, probe in self._probes.items():
                value = getattr(probe, attribute)
                if value is not None:
                    yield f"{name}{{{label}}} {_number(value)}\n"
            if name == "probe_duration_seconds":  # blackbox's phases follow its total
                yield from _family(
                    "probe_http_duration_seconds",
                    "The last request's time by phase: resolve, connect, tls, processing (to the response's"
                    " headers); no sample for a phase not timed, no transfer phase",
                )
                for label, probe in self._probes.items():
                    for phase, field in _PHASES:
                        value = getattr(probe, field)
                        if value is not None:
                            yield f'probe_http_duration_seconds{{phase="{phase}",{label}}} {_number(value)}\n'
        yield from _family("fetchcli_urls", "URLs of the run by result, as the summary counts them")
        counts = (summary.ok, summary.failed, summary.cancelled, summary.not_started)
        for result, n in zip(_RESULTS, counts, strict=True):
            yield f'fetchcli_urls{{result="{result}"}} {n}\n'
        yield from _family("fetchcli_run_duration_seconds", "Wall time of the run")
        yield f"fetchcli_run_duration_seconds {_number(round(summary.elapsed_s, 6))}\n"
        yield from _family(
            "fetchcli_run_complete", "1 when the run ended by itself, 0 when --deadline or a signal stopped it"
        )
        yield f"fetchcli_run_complete {0 if summary.stopped_by else 1}\n"
        yield from _family("fetchcli_last_run_timestamp_seconds", "When the run ended, Unix seconds")
        yield f"fetchcli_last_run_timestamp_seconds {_number(round(now, 3))}\n"
        yield from _family("fetchcli_metrics_urls_dropped", "URLs with no per-URL series: beyond --metrics-max-urls")
        yield f"fetchcli_metrics_urls_dropped {self.dropped}\n"


def _family(name: str, text: str) -> Iterator[str]:
    yield f"# HELP {name} {text}.\n"
    yield f"# TYPE {name} gauge\n"
