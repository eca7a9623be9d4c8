"""``fetch(client=...)`` with a client of the caller's own: it connects where its own transport
says, so ``--resolve``, ``--connect-to``, ``-4``/``-6`` and ``--all-ips`` (whose probes are
pinned to an address) cannot apply to it. Each is a ``SettingProblem`` naming it, before any
request (counted at a server), rather than silence. A client ``build_client`` made with the
same settings connects by them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fetchcli import build_client
from fetchcli.settings import RequestSettings, SettingProblem, Settings
from fetchcli.transport.addressmap import parse_connect_to, parse_resolve
from tests.helpers import collect
from tests.test_all_ips import servers_on


def _request(setting: str, port: int) -> dict[str, Any]:
    requests: dict[str, dict[str, Any]] = {
        "resolve": {"resolve": (parse_resolve("--resolve", f"site.test:{port}:127.0.0.1"),)},
        "connect_to": {"connect_to": (parse_connect_to("--connect-to", f"site.test:{port}:127.0.0.1:{port}"),)},
        "ipv4": {"ipv4": True},
        "ipv6": {"ipv6": True},
        "all_ips": {"all_ips": True},
    }
    return requests[setting]


async def _with_own_client(urls: list[str], settings: Settings) -> list[Any]:
    async with httpx.AsyncClient() as client:
        return await collect(urls, settings, client)


@pytest.mark.live
@pytest.mark.parametrize("setting", ["resolve", "connect_to", "ipv4", "ipv6", "all_ips"])
def test_a_callers_client_with_where_to_connect_settings_is_a_setting_problem(setting: str) -> None:
    with servers_on("127.0.0.1") as (server,):
        settings = Settings(request=RequestSettings(**_request(setting, server.port)))
        with pytest.raises(SettingProblem) as caught:
            asyncio.run(_with_own_client([f"http://127.0.0.1:{server.port}/"], settings))
        assert server.hits == 0
    assert caught.value.setting == f"request.{setting}"
    assert "fetch(client=...)" in caught.value.problem and "build_client" in caught.value.problem


@pytest.mark.live
def test_build_clients_own_transport_connects_by_the_same_settings() -> None:
    with servers_on("127.0.0.1") as (server,):
        settings = Settings(request=RequestSettings(**_request("resolve", server.port)))

        async def go(built_with: Settings) -> list[Any]:
            async with build_client(built_with) as client:
                return await collect([f"http://site.test:{server.port}/"], settings, client)

        [record] = asyncio.run(go(settings))
        assert record.ok and record.remote_ip == "127.0.0.1" and server.hits == 1
        with pytest.raises(SettingProblem, match="--resolve"):  # built without them: it would not
            asyncio.run(go(Settings()))
        assert server.hits == 1
        [plain] = asyncio.run(_with_own_client([f"http://127.0.0.1:{server.port}/"], Settings()))
        assert plain.ok and server.hits == 2  # nothing to ignore: as before
