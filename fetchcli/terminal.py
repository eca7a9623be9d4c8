"""The one gate between untrusted text and a terminal.

URLs from the input (lists are often scraped), redirect targets, reason phrases, error messages,
headers and snippets all pass ``for_terminal`` before the table or a stderr line shows them.
Nothing is dropped: a character that could move the cursor, retitle the window, change colours
or reorder what is shown (C0 and C1 controls, ESC, DEL, bidi overrides and isolates, zero-width
and other format characters, line and paragraph separators) is shown escaped, as ``\\x1b`` or
``\\u202e``. The table, stderr and every CSV and TSV cell use it, and so do the certificate's
names where they are read (``tls.py``). JSON output keeps the exact text of everything else,
which JSON escapes itself.
"""

from __future__ import annotations


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
