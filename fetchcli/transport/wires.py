"""A run's wire (``contract.Wire``): aiohttp called directly, or httpx over the sharded pool.
Imports neither library until the choice is made: a run on the default backend never imports
httpx."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fetchcli.settings import Settings
from fetchcli.transport.backendchoice import uses_aiohttp
from fetchcli.transport.contract import Wire

if TYPE_CHECKING:  # imported when used: aiohttp is a start-up cost (lightimport.py)
    from fetchcli.transport.aio import AiohttpWire


def aiohttp_wire(settings: Settings) -> AiohttpWire:
    """The default backend's wire (aiohttp called directly)."""
    from fetchcli.transport.lightimport import import_aiohttp

    import_aiohttp()  # before fetchcli.transport.aio imports it: without aiohttp's unused CA-bundle loads
    from fetchcli.transport.aio import wire_for

    return wire_for(settings)


def build_wire(settings: Settings) -> Wire:
    """The run's wire: aiohttp called directly (``--backend aiohttp``, or ``auto`` where it can),
    else httpx over the sharded pool (HTTP/2, SOCKS and https proxies)."""
    if uses_aiohttp(settings):
        return aiohttp_wire(settings)
    from fetchcli.transport.client import build_client
    from fetchcli.transport.httpxwire import HttpxWire

    return HttpxWire(build_client(settings), owned=True)
