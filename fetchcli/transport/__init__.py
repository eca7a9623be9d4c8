"""Stage 2, the transports: send one request and hand back its response. ``client`` builds an
``httpx.AsyncClient`` from ``Settings`` (TLS context, headers, timeouts, backend choice, proxies);
``aio`` (aiohttp), ``pool``, ``coretransport`` and ``netbackend`` (the sharded httpx pool) are the
backends; ``tls``, ``proxies``, ``protocol`` (HTTP bounds), ``lightimport``. ``hints`` is the
documented contract with the engine: the context it sets for a request (demand, phase timing,
ALPN) and the response extensions a transport adds.

May import the kernel only; never the engine or any stage above it (enforced by import-linter,
see pyproject.toml). Nothing is imported here.
"""
