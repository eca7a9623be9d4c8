"""Import aiohttp without its two CA-bundle loads: about 30 ms of every run's start-up.

aiohttp's ``connector`` module builds two default ``SSLContext``s when it is imported, each
loading the system's CA bundle. fetchcli hands its own context (``sslcontext.ssl_context``) to
aiohttp's connector, which then never uses those two. So while aiohttp is imported, in the
importing thread only, ``ssl.create_default_context`` and ``SSLContext.set_default_verify_paths``
load no certificates: aiohttp's unused defaults trust nothing (if they were ever used, they would
refuse every certificate: they fail closed). Other threads, and everything after the import, see
the ``ssl`` module unchanged (tests/test_startup.py checks both).
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _no_ca_loading_in_this_thread() -> Iterator[None]:
    importer = threading.get_ident()
    create = ssl.create_default_context
    own_paths = ssl.SSLContext.__dict__.get("set_default_verify_paths")
    load_paths = ssl.SSLContext.set_default_verify_paths

    def create_default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if threading.get_ident() != importer:
            return create(*args, **kwargs)
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, trusting no one

    def set_default_verify_paths(self: ssl.SSLContext) -> None:
        if threading.get_ident() != importer:
            load_paths(self)

    ssl.create_default_context = create_default_context
    ssl.SSLContext.set_default_verify_paths = set_default_verify_paths  # type: ignore[method-assign]
    try:
        yield
    finally:
        ssl.create_default_context = create
        if own_paths is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own_paths  # type: ignore[method-assign]


def import_aiohttp() -> None:
    """Import aiohttp (once) without loading CA bundles; a no-op once it is imported."""
    if "aiohttp.connector" in sys.modules:
        return
    with _no_ca_loading_in_this_thread():
        import aiohttp.connector  # noqa: F401
