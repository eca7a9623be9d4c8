"""Which transport a run takes (``--backend``): aiohttp when it can serve the settings and is
installed, else httpx's; a choice that cannot be honoured is a ``SettingProblem``."""

from __future__ import annotations

import importlib.util

from fetchcli.settings import Backend, SettingProblem, Settings, install_hint


def check_http2(settings: Settings) -> None:
    if settings.request.http2:
        try:
            import h2  # noqa: F401
        except ImportError:
            raise SettingProblem("request.http2", f"needs the h2 package: {install_hint('http2')}") from None


def _aiohttp_unsupported(settings: Settings) -> str | None:
    """Why the aiohttp backend cannot serve these settings, or None when it can."""
    if settings.request.http2:
        return "--http2"
    if any(not proxy.startswith("http://") for proxy in settings.request.proxies):
        return "a proxy other than http://"
    return None


def uses_aiohttp(settings: Settings) -> bool:
    """Whether ``--backend`` picks aiohttp; raises ``SettingProblem`` (``backend``) when it cannot be honoured."""
    check_http2(settings)
    unsupported = _aiohttp_unsupported(settings)
    installed = importlib.util.find_spec("aiohttp") is not None
    if settings.backend is Backend.aiohttp:
        if unsupported is not None:
            raise SettingProblem("backend", f"aiohttp does not support {unsupported}: use --backend httpx")
        if not installed:
            raise SettingProblem("backend", "aiohttp is not installed: pip install aiohttp")
        return True
    return settings.backend is Backend.auto and unsupported is None and installed
