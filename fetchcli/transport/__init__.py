"""Stage 2, the transports: send one request and hand back its response. ``contract`` is the
documented contract with the engine (``WireRequest`` in, ``WireResponse`` out), in fetchcli's own
types with its own URL type (``wireurl``); ``hints`` the context the engine sets for a request
(demand, phase timing, ALPN). ``wires`` builds a run's wire (``build_wire``), ``client`` the httpx
client of the httpx backend (``build_client``), with ``backendchoice`` (``--backend``),
``sslcontext`` (the run's TLS context) and ``headers`` (default headers, how each proxy is
reached); the wires are ``aio`` (aiohttp called directly, made of ``aioconnector`` its connector,
``aioresponse`` its response, ``aiofailures`` aiohttp's exceptions made fetchcli's, and
``aiodirect`` its short way past the session) and ``httpxwire`` (over an httpx client: the
sharded httpx pool, ``pool``, made of ``shardtable``, ``handoff`` and ``h2sharing``, over
``coretransport`` and ``netbackend``; or a caller's client); ``tls``, ``addressmap``
(``--resolve``, ``--connect-to``), ``proxies``, ``protocol`` (HTTP bounds) with ``h2responses``
(on HTTP/2), ``lightimport``, ``slots`` (the slots' semaphore, asked cheaply whether it is
locked).

May import the kernel only; never the engine or any stage above it (enforced by import-linter,
see pyproject.toml). Nothing is imported here.
"""
