#!/usr/bin/env python3
"""Development LwM2M 1.1 server on aiocoap (host side, CPython).

Implements the server side of the Registration interface (Register, Update,
De-register, lifetime expiry, queue mode), the Send operation (POST /dp),
and the requesting side of Device Management and Information Reporting
(Read, Write, Execute, Create, Delete, Discover, Write-Attributes, Observe
and its two cancellations).

The code lives in the package tools/devserver/ (server.py: life cycle and
events; registry.py: the registration interface; requests.py: the request
API; formats.py: payload encoders/decoders; dtls_*.py: the DTLS front end and
its engines; bootstrap.py + bsconfig.py: the bootstrap server; cli.py). This
file is the CLI and keeps ``from lwm2m_server import Server`` working.

Use it

* as a library (tests, demo script): all methods are blocking and take a
  timeout; the asyncio loop and the aiocoap context run in a background
  thread::

      srv = Server(port=0, log=print).start()
      reg = srv.wait_registration("demo")
      r = srv.read("demo", "/3/0", accept=11542)
      print(r.code, r.pretty())
      srv.stop()

* as a CLI that logs what clients do::

      python tools/lwm2m_server.py --port 5683 [--dtls-psk IDENTITY:HEXKEY --dtls-port 5684]

Requests to a client always leave from the server's listening socket
towards the address the client's last Register/Update came from.

Queue mode (registration with ``Q`` in the query, or a 1.0 style ``b=UQ``):
a request issued while the client is not known to be awake is held, and
sent when the client next sends anything (Register, Update, Send,
notification...). The client counts as awake for ``awake_s`` seconds after
the last message received from it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devserver import formats as lwm2m_formats  # noqa: E402,F401
from devserver.cli import dtls_options, main, serve  # noqa: E402,F401
from devserver.common import (DEFAULT_LIFETIME, SEND_FORMATS, SUPPORTED_VERSIONS,  # noqa: E402,F401
                              RequestError, Response, _addr, _parse_query, _path_str,
                              _path_tuple, _query_list, code_str)
from devserver.registry import Registration  # noqa: E402,F401
from devserver.requests import Observation  # noqa: E402,F401
from devserver.server import Server  # noqa: E402,F401

__all__ = ["Server", "Registration", "Response", "Observation", "RequestError",
           "code_str", "main", "serve", "dtls_options"]

if __name__ == "__main__":
    sys.exit(main())
