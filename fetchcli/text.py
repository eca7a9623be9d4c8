"""The one sanitiser of untrusted text, in two forms.

``clean_line`` (``sanitise``) makes a server's or the OS's string one clean line of bounded
length for a record: controls, escape and bidi characters removed, whitespace runs made one space.

``for_terminal`` is the one gate between untrusted text and a terminal.

URLs from the input (lists are often scraped), redirect targets, reason phrases, error messages,
headers and snippets all pass ``for_terminal`` before the table or a stderr line shows them.
Nothing is dropped: a character that could move the cursor, retitle the window, change colours
or reorder what is shown (C0 and C1 controls, ESC, DEL, bidi overrides and isolates, zero-width
and other format characters, line and paragraph separators) is shown escaped, as ``\\x1b`` or
``\\u202e``. The table, stderr and every CSV and TSV cell use it, and so do the certificate's
names where they are read (``tls.py``). JSON output keeps the exact text of everything else,
which JSON escapes itself.

A stream in an encoding that cannot write every character (``PYTHONIOENCODING=latin-1``, a
legacy locale) shows the others escaped the same way (``encodable``), never a traceback.
"""

from __future__ import annotations

import codecs
import re

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+")
_WHITESPACE = re.compile(r"\s+")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def for_terminal(text: str) -> str:
    """``text`` with every non-printable character escaped; printable text is returned as is.

    ``str.isprintable`` is False exactly for the categories that can hurt (Cc, Cf, Zl, Zp, Cs,
    Co, Cn) and for spaces other than U+0020, so the common case costs one C-level scan."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def stream_encoding(stream: object) -> str:
    """The canonical name of the encoding ``stream`` writes in (``utf-8`` when it names none,
    as an in-memory stream, or one Python does not know)."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str) or not encoding:
        return "utf-8"
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return "utf-8"


def can_write(text: str, encoding: str) -> bool:
    """Whether ``encoding`` (a canonical name) can write every character of ``text``."""
    if encoding.startswith("utf-") and text.isprintable():  # surrogates are not printable
        return True
    try:
        text.encode(encoding)
    except UnicodeError:
        return False
    return True


def encodable(text: str, encoding: str) -> str:
    """``text`` with each character ``encoding`` cannot write shown escaped (``\\u4e2d``), as
    ``for_terminal`` shows what it escapes: what a renderer measures is then what it writes
    (a stream in a legacy encoding, e.g. ``PYTHONIOENCODING=latin-1``, would escape it anyway)."""
    if can_write(text, encoding):
        return text
    return "".join(ch if can_write(ch, encoding) else _escape(ch) for ch in text)


def sanitise(text: str, length: int) -> str:
    """First ``length`` characters with controls removed and whitespace runs made one space."""
    # The length first: a body's text (the snippet) is longer, and isprintable scans every
    # character of it (about 22 instructions each: 22,000 for a 1,000-byte body).
    if len(text) <= length and text.isprintable() and "  " not in text and text == text.strip():
        return text  # the common case (reason phrases, content types, URLs): nothing to remove
    # Only as much text as the result needs: a window a little longer than ``length`` (16 more:
    # it was twice as long, scanned for nothing in the common case of clean text), grown fourfold
    # while cleaning it leaves too few characters (controls and runs of whitespace shrink it) and
    # there is more text.
    window = length + 16
    while True:
        head = text[:window]
        if head.isprintable() and "  " not in head:
            cleaned = head.strip()
        else:
            cleaned = _WHITESPACE.sub(" ", _CONTROL.sub("", head)).strip()
        if len(cleaned) > length or window >= len(text):
            return cleaned[:length].rstrip()
        window *= 4


def clean_line(text: str, length: int = 500) -> str:
    """Sanitise any other server- or OS-supplied string (reason phrase, error message)."""
    return sanitise(text, length)
