"""What servers say, as a record shows it: the reason phrase, the ``Server`` and ``Content-Type``
headers, the page's title, the snippet of its body and the URLs redirects led to.

A server can repeat what it was sent: an echo service (``/headers``) puts the request's
``Authorization`` in its body, a proxy its ``Proxy-Authorization`` in a 407's reason phrase and
page. So the run's known secrets (``redact.Redactor``) are masked in each of these first, then the
text is cleaned and cut to length (``text.clean_line``): a secret cut in two would no longer be
found. A run without secrets (no secret header, no password in a proxy or in the URL) pays for
nothing of it.
"""

from __future__ import annotations

from fetchcli.engine.snippet import html_title
from fetchcli.redact import Redactor, mask_credentials
from fetchcli.text import sanitise

URL_LENGTH = 8192  # a URL a record shows (final_url, redirects) is cut to this length


class ServerText:
    """The record of one URL's view of server text, masking what its redactor knows."""

    __slots__ = ("_redact",)

    def __init__(self, redact: Redactor) -> None:
        self._redact = redact if redact.holds_secrets else None

    def line(self, text: str, length: int = 500) -> str:
        """A header's value or a reason phrase: masked, then one clean line of ``length`` at most."""
        return sanitise(self._redact(text) if self._redact is not None else text, length)  # clean_line's own

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.line(text)

    def url(self, url: object) -> str:
        """A URL a server led to: its password masked (``mask_credentials``), known secrets too."""
        return self.line(mask_credentials(str(url)), URL_LENGTH)

    def title(self, text: str) -> str | None:
        return html_title(text, self._redact)

    def snippet(self, text: str, length: int) -> str:
        """``sanitise(text, length)`` of the body's text masked. Only the start of the text is
        masked (a body may be megabytes): as much as sanitise reads, grown as it does when
        cleaning leaves too little."""
        if self._redact is None:
            return sanitise(text, length)
        window = 2 * length + 16
        while True:
            shown = sanitise(self._redact.head(text, window), length)
            if len(shown) >= length or window >= len(text):
                return shown
            window *= 4
