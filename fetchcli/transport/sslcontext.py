"""The TLS context of a run: built once, shared by every connection and both backends; the
files it was given checked before anything is fetched (a usage error naming the option)."""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import threading

from fetchcli.settings import RequestSettings, SettingProblem, SettingsError


def _no_password() -> bytes:
    raise SettingProblem(
        "request.client_key", "is encrypted: fetchcli cannot ask for its password; give it an unencrypted key"
    )


_SSL_BUILDING = threading.Lock()  # one build at a time: a second caller waits for the first's


def ssl_context(req: RequestSettings) -> ssl.SSLContext:
    """The TLS context of a run, built once (loading a CA bundle takes tens of milliseconds) and
    shared by every connection and both backends. See ``_ssl_context``."""
    with _SSL_BUILDING:
        return _ssl_context(req)


def prepare_ssl_context(req: RequestSettings) -> None:
    """Build the TLS context now: in this thread when files were given for it (so that one that
    cannot be used is a usage error before anything is fetched), else in a thread of its own,
    alongside the rest of the start-up (the CA bundle loads while aiohttp is imported); whoever
    needs it first waits for it, and an error is raised to them."""
    if req.insecure or req.cacert is not None or req.capath is not None or req.client_cert is not None:
        ssl_context(req)
        return

    def build() -> None:
        with contextlib.suppress(SettingsError):  # raised again to the first that needs it
            ssl_context(req)

    # Not a daemon: a run that ends early (a usage error found meanwhile) waits for the load at
    # exit, instead of finalising the interpreter under a thread inside OpenSSL (a crash, SIGSEGV,
    # was seen in place of exit status 2).
    threading.Thread(target=build, name="fetchcli-tls", daemon=False).start()


def _default_context() -> ssl.SSLContext:
    """What ``httpx.create_ssl_context(verify=True)`` builds (``default_trust``), without
    importing httpx: ``--dry-run`` and the TLS checks before a run need none of it
    (tests/test_tls_context.py compares the two)."""
    source, where = default_trust()
    if source == "SSL_CERT_DIR":
        return ssl.create_default_context(capath=where)
    return ssl.create_default_context(cafile=where)


def default_trust() -> tuple[str, str]:
    """What a run trusts without ``--cacert``/``--capath``, read as httpx reads it: (where
    that came from, the file or directory): ``SSL_CERT_FILE`` when set, else ``SSL_CERT_DIR``,
    else certifi's bundle."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(variable):
            return variable, os.environ[variable]
    import certifi

    return "certifi", certifi.where()


@functools.lru_cache(maxsize=8)
def _ssl_context(req: RequestSettings) -> ssl.SSLContext:
    """The TLS context of a run, built once (loading a CA bundle takes tens of milliseconds) and
    shared by every connection and both backends. Trusts ``--cacert``/``--capath`` when given,
    else what httpx trusts (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's
    bundle); presents ``--cert``/``--key``. A file that cannot be used is a usage error."""
    try:
        if req.insecure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # as httpx.create_ssl_context(verify=False)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif req.cacert is not None or req.capath is not None:
            if req.capath is not None and not os.path.isdir(req.capath):  # OpenSSL would take it silently
                raise SettingProblem("request.capath", f"cannot be used: {req.capath!r} is not a folder")
            context = ssl.create_default_context(cafile=req.cacert, capath=req.capath)
        else:
            context = _default_context()
    except (OSError, ssl.SSLError) as exc:
        if req.cacert is not None or req.capath is not None:
            source = "request.cacert" if req.cacert is not None else "request.capath"
        else:  # what httpx read from the environment
            source = default_trust()[0]
        raise SettingProblem(source, f"cannot be used: {exc}") from None
    if req.client_cert is not None:
        try:
            context.load_cert_chain(req.client_cert, req.client_key, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise SettingProblem("request.client_cert", f"cannot be used: {exc}") from None
    return context
