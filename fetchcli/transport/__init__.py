"""Stage 2, the transports: send one request and hand back its response. ``client`` builds an
``httpx.AsyncClient`` from ``Settings``, with ``backendchoice`` (``--backend``), ``sslcontext``
(the run's TLS context) and ``headers`` (default headers, how each proxy is reached); ``aio``
(aiohttp) and the sharded httpx pool (``pool``, made of ``shardtable``, ``handoff`` and
``h2sharing``, over ``coretransport`` and ``netbackend``) are the backends; ``tls``, ``proxies``,
``protocol`` (HTTP bounds), ``lightimport``. ``hints`` is the
documented contract with the engine: the context it sets for a request (demand, phase timing,
ALPN) and the response extensions a transport adds.

May import the kernel only; never the engine or any stage above it (enforced by import-linter,
see pyproject.toml). Nothing is imported here.
"""
