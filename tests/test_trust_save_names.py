"""--save names: two different URLs never share a file (review r5a, issue 22).

Unicode normalisation, bytes that are not UTF-8 and hosts longer than a segment may hold each
made two URLs map to one name, the later body silently replacing the earlier one."""

from __future__ import annotations

import pytest

from fetchcli.engine.savename import COMPONENT_BYTES, saved_name
from fetchcli.settings import DEFAULT_SAVE_NAME


def _name(url: str, template: str = DEFAULT_SAVE_NAME) -> list[str]:
    return saved_name(template, 0, url, None)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://h/cafe%CC%81", "http://h/caf%C3%A9"),  # NFD and NFC spellings of café
        ("http://h/%FF", "http://h/%FE"),  # not UTF-8: both became U+FFFD
        ("http://h/%FF", "http://h/%EF%BF%BD"),  # ... as the real U+FFFD
        ("http://h/a%FFb/c", "http://h/a%FEb/c"),  # in a folder's segment too
    ],
)
def test_urls_that_differ_never_share_a_name(first: str, second: str) -> None:
    assert _name(first) != _name(second)
    assert _name(first, "{path}") != _name(second, "{path}")


def test_a_name_already_normal_keeps_its_plain_form() -> None:
    assert _name("http://h/caf%C3%A9") == ["h", "café"]
    assert _name("http://h/%E2%82%AC.txt") == ["h", "€.txt"]


def test_long_hosts_that_share_a_prefix_get_their_own_folders() -> None:
    common = "a" * 240
    first, second = _name(f"http://{common}.example.com/x"), _name(f"http://{common}.example.org/x")
    assert first != second
    for names in (first, second):
        assert len(names[0].encode()) <= COMPONENT_BYTES
        assert names[-1] == "x"


def test_a_short_host_is_unchanged() -> None:
    assert _name("http://example.com:8080/a") == ["example.com_8080", "a"]
