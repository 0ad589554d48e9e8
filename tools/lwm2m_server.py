#!/usr/bin/env python3
"""Development LwM2M 1.1 server on aiocoap (host side, CPython).

Implements the server side of the Registration interface (Register, Update,
De-register, lifetime expiry, queue mode), the Send operation (POST /dp),
and the requesting side of Device Management and Information Reporting
(Read, Write, Execute, Create, Delete, Discover, Write-Attributes, Observe
and its two cancellations).

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
import argparse
import asyncio
import concurrent.futures
import logging
import os
import secrets
import signal
import sys
import threading
import time

import aiocoap
from aiocoap import Message
from aiocoap import error as coap_error
from aiocoap import resource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from aiocoap.numbers.constants import Unreliable
from aiocoap.optiontypes import BlockOption

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lwm2m_formats  # noqa: E402

__all__ = ["Server", "Registration", "Response", "Observation", "RequestError",
           "code_str", "main"]

log = logging.getLogger("lwm2m_server")

DEFAULT_LIFETIME = 86400
SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
SEND_FORMATS = (110, 112, 11543, 11544)

_METHODS = {
    "GET": Code.GET, "POST": Code.POST, "PUT": Code.PUT, "DELETE": Code.DELETE,
    "FETCH": Code.FETCH, "PATCH": Code.PATCH, "IPATCH": Code.iPATCH,
}


def code_str(code):
    """CoAP code as "c.dd", e.g. 0x45 -> "2.05"."""
    code = int(code)
    return "%d.%02d" % (code >> 5, code & 0x1F)


def _path_tuple(path):
    if isinstance(path, (tuple, list)):
        return tuple(str(p) for p in path)
    return tuple(p for p in str(path).strip("/").split("/") if p != "")


def _path_str(parts):
    return "/" + "/".join(parts)


def _query_list(query):
    if query is None:
        return []
    if isinstance(query, str):
        return [q for q in query.lstrip("?").split("&") if q]
    if isinstance(query, dict):
        return [k if v is None else "%s=%s" % (k, v) for k, v in query.items()]
    return [str(q) for q in query]


def _parse_query(items):
    out = {}
    for q in items:
        k, sep, v = q.partition("=")
        out[k] = v if sep else ""
    return out


def _addr(remote):
    """(host, port) of an aiocoap remote, v4-mapped addresses unwrapped."""
    sa = getattr(remote, "sockaddr", None)
    if sa:
        host = sa[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        return (host, sa[1])
    return (str(getattr(remote, "hostinfo", remote)), 0)


def _objects_text(objects):
    """The object links of a registration payload without the root link."""
    links = [l.strip() for l in lwm2m_formats._split_outside_quotes(objects or "", ",")]
    links = [l for l in links if l and not l.startswith("</>")]
    return ",".join(links) if links else "(none)"


class RequestError(Exception):
    """A request to a client failed for a reason other than a timeout
    (reset by the client, network error, no such registration...)."""


class Response:
    """A CoAP response from a client.

    code            "2.05" style string
    payload         bytes
    content_format  int or None
    observe         Observe option value or None
    options         {option name (lower case): value or list of values}
    raw             the aiocoap Message
    """

    def __init__(self, msg):
        self.raw = msg
        self.code = code_str(msg.code)
        self.payload = bytes(msg.payload)
        cf = msg.opt.content_format
        self.content_format = None if cf is None else int(cf)
        self.observe = msg.opt.observe
        self.t = time.time()
        opts = {}
        for o in msg.opt.option_list():
            try:
                name = o.number.name.lower()
            except Exception:  # noqa: BLE001 - unknown numbers have no name
                name = str(int(o.number))
            val = o.value
            if isinstance(val, int) and not isinstance(val, bool):
                val = int(val)
            if name in opts:
                if not isinstance(opts[name], list):
                    opts[name] = [opts[name]]
                opts[name].append(val)
            else:
                opts[name] = val
        self.options = opts

    @property
    def ok(self):
        return self.code.startswith("2.")

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def pretty(self):
        return lwm2m_formats.pretty(self.payload, self.content_format)

    def __repr__(self):
        return "<Response %s ct=%s %d bytes%s>" % (
            self.code, self.content_format, len(self.payload),
            "" if self.observe is None else " observe=%d" % self.observe)


class Registration:
    """One registered client. Live object: the server updates it.

    ep, id, location ("/rd/<id>"), lifetime (s), binding (the b= value),
    version (lwm2m=), queue (bool), sms, objects (link-format payload str),
    links (parsed [(path, attrs)]), query (dict of the Register query),
    addr ((host, port)), remote (aiocoap address), updates (count),
    registered_at / updated_at (time.time()), last_seen (time.monotonic()).
    """

    def __init__(self, ep, rid, query, objects, remote, lifetime, binding, version, queue):
        self.ep = ep
        self.id = rid
        self.location = "/rd/" + rid
        self.query = query
        self.objects = objects
        self.links = lwm2m_formats.parse_links(objects) if objects else []
        self.remote = remote
        self.addr = _addr(remote)
        self.lifetime = lifetime
        self.binding = binding
        self.version = version
        self.queue = queue
        self.sms = query.get("sms")
        self.updates = 0
        self.registered_at = self.updated_at = time.time()
        self.last_seen = time.monotonic()
        self.active = True
        self._timer = None

    @property
    def object_paths(self):
        """Object/instance paths from the registration payload, e.g. ["/1/0", "/3/0"]."""
        return [p for p, _ in self.links if p not in ("", "/") and p.startswith("/")]

    def __repr__(self):
        return "<Registration ep=%s %s lt=%s b=%s%s %s:%d>" % (
            self.ep, self.location, self.lifetime, self.binding,
            " Q" if self.queue else "", self.addr[0], self.addr[1])


class Observation:
    """An observation the server holds on a client resource.

    first          the Response to the Observe=0 request
    notifications  list of Responses received afterwards, in order
    active         True while notifications are expected
    final          the last response that ended the observation (the
                   answer to cancel(), or an error notification), if any
    rejected       number of notifications answered with RST after cancel_rst()
    """

    def __init__(self, server, ep, path, accept, method="GET", payload=b"", ct=None):
        self._server = server
        self.ep = ep
        self.path = path
        self.accept = accept
        self.method = method
        self.payload = payload
        self.ct = ct
        self.first = None
        self.notifications = []
        self.active = False
        self.cancelled = False
        self.final = None
        self.rejected = 0
        self.token = None
        self.remote = None
        self._cancel_fut = None
        self._cancel_mid = None
        self._queue = None

    def wait(self, n=1, timeout=10):
        """Block until at least n notifications arrived; return the list.
        Raises TimeoutError, or RequestError at once when the observation is
        not active (any more) and fewer than n arrived."""
        cond = self._server._cond
        deadline = time.monotonic() + timeout
        with cond:
            while len(self.notifications) < n:
                if not self.active:
                    raise RequestError("observation %s ep=%s is not active (%d of %d notifications)"
                                       % (self.path, self.ep, len(self.notifications), n))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("observation %s ep=%s: %d of %d notifications after %ss"
                                       % (self.path, self.ep, len(self.notifications), n, timeout))
                cond.wait(left)
            return list(self.notifications)

    @property
    def latest(self):
        return self.notifications[-1] if self.notifications else self.first

    def cancel(self, timeout=10):
        """Cancel with the same request carrying Observe=1 and the
        observation's token; return the client's Response (None if the
        observation was not active)."""
        return self._server._call(self._server._cancel_observation(self), timeout,
                                  what="cancel observe %s ep=%s" % (self.path, self.ep))

    def cancel_rst(self):
        """Cancel by answering the next notification(s) with RST."""
        self._server._call(self._server._cancel_rst(self), 5)

    def __repr__(self):
        return "<Observation ep=%s %s %s, %d notifications>" % (
            self.ep, self.path, "active" if self.active else "inactive", len(self.notifications))


class _Root(resource.Resource, resource.PathCapable):
    """Every incoming request goes here; the server dispatches on the path."""

    def __init__(self, server):
        super().__init__()
        self._server = server

    async def render(self, request):
        try:
            return await self._server._handle(request)
        except Exception as e:  # noqa: BLE001 - never crash on odd requests
            log.exception("error handling %r", request)
            self._server._log("error handling %s %s: %r" % (
                request.code, _path_str(request.opt.uri_path), e))
            return Message(code=Code.INTERNAL_SERVER_ERROR, payload=b"server error")


class Server:
    """LwM2M server. See the module docstring.

    Server(host="127.0.0.1", port=0, awake_s=93, log=None, name="server",
           lifetime_grace=0.0, flush_delay=0.05)

    log: a callable receiving readable lines ("[server] registered ep=..."),
    e.g. print. Events are always recorded in .events.
    """

    def __init__(self, host="127.0.0.1", port=0, awake_s=93.0, log=None, name="server",
                 lifetime_grace=0.0, flush_delay=0.05):
        self.host = host
        self.port = port
        self.awake_s = awake_s
        self.log = log
        self.name = name
        self.lifetime_grace = lifetime_grace
        self.flush_delay = flush_delay
        self.on_send = None          # callable(ep, payload, content_format)
        self.events = []
        self.sends = []              # (payload, content_format)
        self.observations = []
        self._regs = {}              # ep -> Registration
        self._by_id = {}             # id -> Registration
        self._used_ids = set()
        self._held = {}              # ep -> [future]
        self._rst_tokens = {}        # (token, addr) -> Observation
        self._cond = threading.Condition(threading.RLock())
        self._loop = None
        self._thread = None
        self._ctx = None
        self._mman = None

    # ------------------------------------------------------------------
    # life cycle

    def start(self):
        if self._loop is not None:
            raise RuntimeError("server already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="lwm2m-server", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(15)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None
            raise
        self._log("listening on %s:%d (awake window %ss)" % (self.host, self.port, self.awake_s))
        return self

    def stop(self):
        loop = self._loop
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(15)
        except Exception:  # noqa: BLE001
            log.exception("error while stopping")
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run_loop(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            try:
                self._loop.close()
            except Exception:  # noqa: BLE001
                pass

    async def _astart(self):
        self._ctx = await aiocoap.Context.create_server_context(
            _Root(self), bind=(self.host, self.port), loggername="coap-lwm2m-server",
            transports=["udp6"])
        tman = self._ctx.request_interfaces[0]
        self._mman = tman.token_interface
        sock = self._mman.message_interface.transport.get_extra_info("socket")
        self.port = sock.getsockname()[1]
        orig = self._mman.dispatch_message

        def dispatch(message, _orig=orig):
            try:
                if self._incoming(message):
                    return
            except Exception:  # noqa: BLE001
                log.exception("incoming message hook")
            _orig(message)

        self._mman.dispatch_message = dispatch

    async def _astop(self):
        with self._cond:
            for reg in self._regs.values():
                if reg._timer:
                    reg._timer.cancel()
            for futs in self._held.values():
                for f in futs:
                    if not f.done():
                        f.cancel()
            self._held.clear()
        if self._ctx is not None:
            try:
                await asyncio.wait_for(self._ctx.shutdown(), 5)
            except Exception:  # noqa: BLE001
                log.exception("context shutdown")
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    # ------------------------------------------------------------------
    # logging and events

    def _log(self, line):
        for i, part in enumerate(str(line).split("\n")):
            text = "[%s] %s%s" % (self.name, "    " if i else "", part)
            log.info(text)
            if self.log is not None:
                try:
                    self.log(text)
                except Exception:  # noqa: BLE001
                    pass

    def _log_payload(self, payload, ct):
        if payload and (self.log is not None or log.isEnabledFor(logging.INFO)):
            for line in lwm2m_formats.pretty(payload, ct).split("\n"):
                self._log("    " + line)

    def _event(self, kind, ep, **fields):
        with self._cond:
            ev = {"i": len(self.events) + 1, "t": time.time(), "kind": kind, "ep": ep}
            ev.update(fields)
            self.events.append(ev)
            self._cond.notify_all()
        return ev

    def wait_event(self, kind=None, ep=None, timeout=10, after=0):
        """First event with index > after matching kind (str, tuple of str or
        None for any) and ep (None for any); blocks up to timeout."""
        kinds = (kind,) if isinstance(kind, str) else kind
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[max(after, 0):]:
                    if (kinds is None or ev["kind"] in kinds) and (ep is None or ev["ep"] == ep):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no %s event for ep=%s within %ss" % (kind, ep, timeout))
                self._cond.wait(left)

    def wait_registration(self, ep, timeout=10, after=None):
        """The current registration of ep, waiting for one if there is none.
        With after=N: the registration made by the first "register" event
        with index > N."""
        if after is not None:
            return self.wait_event("register", ep, timeout, after)["reg"]
        deadline = time.monotonic() + timeout
        with self._cond:
            while ep not in self._regs:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("ep=%s did not register within %ss" % (ep, timeout))
                self._cond.wait(left)
            return self._regs[ep]

    def registration(self, ep):
        with self._cond:
            return self._regs.get(ep)

    @property
    def registrations(self):
        with self._cond:
            return dict(self._regs)

    def pending(self, ep):
        """Number of requests held for a sleeping queue-mode client."""
        with self._cond:
            return sum(1 for f in self._held.get(ep, ()) if not f.done())

    def forget(self, ep):
        """Drop ep's registration without telling it (its next Update gets
        4.04). Returns whether there was one."""
        return self._call(self._aforget(ep), 5)

    async def _aforget(self, ep):
        reg = self._regs.get(ep)
        if reg is None:
            return False
        self._remove(reg)
        self._event("forget", ep, location=reg.location)
        self._log("forgot ep=%s (%s)" % (ep, reg.location))
        return True

    # ------------------------------------------------------------------
    # incoming traffic

    def _incoming(self, message):
        """Hook on every datagram the message layer accepts; returns True
        when the message was consumed here (RST for a cancelled observation)."""
        addr = _addr(message.remote)
        for reg in self._regs_at(addr):
            self._wake(reg)
        if message.code is not None and message.code.is_response() and \
                message.mtype in (Type.CON, Type.NON):
            obs = self._rst_tokens.get((bytes(message.token), addr))
            if obs is not None:
                rst = Message(_mtype=Type.RST, _mid=message.mid, code=Code.EMPTY)
                rst.remote = message.remote
                self._mman._send_via_transport(rst)
                obs.rejected += 1
                self._event("notify-rst", obs.ep, path=obs.path)
                self._log("rejected notification of %s ep=%s with RST" % (obs.path, obs.ep))
                return True
        return False

    def _awake(self, reg):
        return (time.monotonic() - reg.last_seen) < self.awake_s

    def _wake(self, reg):
        reg.last_seen = time.monotonic()
        if self._held.get(reg.ep):
            self._loop.call_later(self.flush_delay, self._flush, reg.ep)

    def _flush(self, ep):
        with self._cond:
            futs = [f for f in self._held.pop(ep, []) if not f.done()]
        if futs:
            self._log("ep=%s is awake: sending %d held request(s)" % (ep, len(futs)))
            self._event("flush", ep, n=len(futs))
        for f in futs:
            f.set_result(None)

    async def _handle(self, request):
        path = request.opt.uri_path
        code = request.code
        if path == ("rd",):
            if code == Code.POST:
                return self._register(request)
            return Message(code=Code.METHOD_NOT_ALLOWED)
        if len(path) == 2 and path[0] == "rd":
            if code == Code.POST:
                return self._update(request, path[1])
            if code == Code.DELETE:
                return self._deregister(request, path[1])
            return Message(code=Code.METHOD_NOT_ALLOWED)
        if path == ("dp",):
            if code == Code.POST:
                return self._send_op(request)
            return Message(code=Code.METHOD_NOT_ALLOWED)
        return Message(code=Code.NOT_FOUND)

    def _reject(self, op, code, reason, request, ep=None):
        self._event("reject", ep, op=op, code=code_str(code), reason=reason,
                    addr=_addr(request.remote))
        self._log("%s from %s:%d rejected %s: %s" % (op, *_addr(request.remote), code_str(code), reason))
        return Message(code=code, payload=reason.encode())

    def _register(self, request):
        q = _parse_query(request.opt.uri_query)
        ep = q.get("ep")
        if not ep:
            return self._reject("register", Code.BAD_REQUEST, "missing ep", request)
        try:
            lifetime = int(q.get("lt", DEFAULT_LIFETIME))
            if lifetime <= 0:
                raise ValueError
        except ValueError:
            return self._reject("register", Code.BAD_REQUEST, "bad lt", request, ep)
        version = q.get("lwm2m", "1.0")
        if version not in SUPPORTED_VERSIONS:
            return self._reject("register", Code.PRECONDITION_FAILED,
                                "unsupported lwm2m version %s" % version, request, ep)
        binding = q.get("b", "U")
        ct = request.opt.content_format
        if ct is not None and int(ct) != 40:
            return self._reject("register", Code.UNSUPPORTED_CONTENT_FORMAT,
                                "payload must be link-format", request, ep)
        try:
            objects = bytes(request.payload).decode("utf-8")
        except UnicodeDecodeError:
            return self._reject("register", Code.BAD_REQUEST, "payload not UTF-8", request, ep)
        queue = "Q" in q or "Q" in binding
        with self._cond:
            old = self._regs.get(ep)
            if old is not None:
                self._remove(old)
            rid = secrets.token_hex(2)
            while rid in self._used_ids:
                rid = secrets.token_hex(3)
            self._used_ids.add(rid)
            reg = Registration(ep, rid, q, objects, request.remote, lifetime, binding, version, queue)
            self._regs[ep] = reg
            self._by_id[rid] = reg
            self._schedule_expiry(reg)
            self._event("register", ep, location=reg.location, lt=lifetime, b=binding,
                        queue=queue, version=version, objects=objects, addr=reg.addr,
                        replaced=old.location if old else None, reg=reg)
        self._log("registered ep=%s lt=%d b=%s%s lwm2m=%s objects=%s%s" % (
            ep, lifetime, binding, " Q" if queue else "", version, _objects_text(objects),
            " (replaces %s)" % old.location if old else ""))
        self._wake(reg)
        return Message(code=Code.CREATED, location_path=("rd", rid))

    def _update(self, request, rid):
        reg = self._by_id.get(rid)
        if reg is None or not reg.active:
            return self._reject("update", Code.NOT_FOUND, "unknown registration /rd/%s" % rid, request)
        q = _parse_query(request.opt.uri_query)
        changes = {}
        if "lt" in q:
            try:
                lt = int(q["lt"])
                if lt <= 0:
                    raise ValueError
            except ValueError:
                return self._reject("update", Code.BAD_REQUEST, "bad lt", request, reg.ep)
            changes["lt"] = lt
        if "b" in q:
            changes["b"] = q["b"]
        if "sms" in q:
            changes["sms"] = q["sms"]
        ct = request.opt.content_format
        if request.payload:
            if ct is not None and int(ct) != 40:
                return self._reject("update", Code.UNSUPPORTED_CONTENT_FORMAT,
                                    "payload must be link-format", request, reg.ep)
            try:
                changes["objects"] = bytes(request.payload).decode("utf-8")
            except UnicodeDecodeError:
                return self._reject("update", Code.BAD_REQUEST, "payload not UTF-8", request, reg.ep)
        with self._cond:
            if "lt" in changes:
                reg.lifetime = changes["lt"]
            if "b" in changes:
                reg.binding = changes["b"]
                if "Q" in changes["b"]:
                    reg.queue = True
            if "Q" in q:
                reg.queue = True
            if "sms" in changes:
                reg.sms = changes["sms"]
            if "objects" in changes:
                reg.objects = changes["objects"]
                reg.links = lwm2m_formats.parse_links(reg.objects)
            addr = _addr(request.remote)
            if addr != reg.addr:
                changes["addr"] = addr
                reg.addr = addr
            reg.remote = request.remote
            reg.updates += 1
            reg.updated_at = time.time()
            self._schedule_expiry(reg)
            self._event("update", reg.ep, location=reg.location, n=reg.updates, **changes)
        self._log("update ep=%s %s #%d%s" % (
            reg.ep, reg.location, reg.updates,
            "".join(" %s=%s" % kv for kv in changes.items())))
        self._wake(reg)
        return Message(code=Code.CHANGED)

    def _deregister(self, request, rid):
        reg = self._by_id.get(rid)
        if reg is None or not reg.active:
            return self._reject("deregister", Code.NOT_FOUND, "unknown registration /rd/%s" % rid, request)
        self._remove(reg)
        self._event("deregister", reg.ep, location=reg.location)
        self._log("deregistered ep=%s (%s)" % (reg.ep, reg.location))
        return Message(code=Code.DELETED)

    def _send_op(self, request):
        regs = self._regs_at(_addr(request.remote))
        if not regs:
            return self._reject("send", Code.FORBIDDEN, "not registered", request)
        ep = max(regs, key=lambda r: r.updated_at).ep
        ct = request.opt.content_format
        ct = None if ct is None else int(ct)
        if ct not in SEND_FORMATS:
            return self._reject("send", Code.UNSUPPORTED_CONTENT_FORMAT,
                                "send needs SenML or LwM2M JSON/CBOR", request, ep)
        payload = bytes(request.payload)
        with self._cond:
            self.sends.append((payload, ct))
            self._event("send", ep, payload=payload, ct=ct)
        self._log("send from ep=%s ct=%s (%d bytes)" % (ep, lwm2m_formats.format_name(ct), len(payload)))
        self._log_payload(payload, ct)
        code = Code.CHANGED
        if self.on_send is not None:
            try:
                r = self.on_send(ep, payload, ct)
                if isinstance(r, str) and "." in r:
                    c, d = r.split(".")
                    code = Code((int(c) << 5) | int(d))
            except Exception:  # noqa: BLE001
                log.exception("on_send callback")
        return Message(code=code)

    def _remove(self, reg):
        with self._cond:
            reg.active = False
            if reg._timer is not None:
                reg._timer.cancel()
                reg._timer = None
            if self._regs.get(reg.ep) is reg:
                del self._regs[reg.ep]
            self._by_id.pop(reg.id, None)
            for obs in self.observations:
                if obs.ep == reg.ep and obs.active and obs.remote is not None:
                    # the client drops its observations on a new registration
                    # and a forgotten one is unknown: stale notifications get RST
                    obs.active = False
                    self._ctx.request_interfaces[0].outgoing_requests.pop((obs.token, obs.remote), None)
                    if obs._queue is not None:
                        obs._queue.put_nowait(RequestError("registration ended"))
            self._cond.notify_all()

    def _regs_at(self, addr):
        return [r for r in list(self._regs.values()) if r.addr == addr]

    def _schedule_expiry(self, reg):
        if reg._timer is not None:
            reg._timer.cancel()
        reg._timer = self._loop.call_later(reg.lifetime + self.lifetime_grace, self._expire, reg)

    def _expire(self, reg):
        if not reg.active:
            return
        reg._timer = None
        self._remove(reg)
        self._event("expire", reg.ep, location=reg.location)
        self._log("registration of ep=%s (%s) expired after lt=%ds" % (reg.ep, reg.location, reg.lifetime))

    # ------------------------------------------------------------------
    # requests to clients

    def _call(self, coro, timeout, block=True, what="server call"):
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("server not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("blocking server call from the server thread; use block=False")

        async def bounded():
            try:
                return await asyncio.wait_for(coro, timeout)
            except TimeoutError as e:
                if str(e):
                    raise
                raise TimeoutError("%s: no answer within %ss" % (what, timeout)) from None

        cf = asyncio.run_coroutine_threadsafe(bounded(), loop)
        if not block:
            return cf
        try:
            return cf.result(None if timeout is None else timeout + 5)
        except concurrent.futures.TimeoutError:
            if cf.done():
                raise  # the request's own TimeoutError
            cf.cancel()
            raise TimeoutError("%s: did not finish within %ss" % (what, timeout)) from None

    def request(self, ep, method, path, payload=b"", ct=None, accept=None, query=(),
                observe=None, confirmable=True, timeout=10, block=True):
        """Send one request to ep's client and return its Response.

        method: "GET", "PUT", "POST", "DELETE", "FETCH", "IPATCH"... or a code.
        Raises TimeoutError (no response in time, also while held for a
        sleeping queue-mode client), LookupError (ep not registered) or
        RequestError. With block=False returns a concurrent.futures.Future."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        desc = "%s %s" % (method if isinstance(method, str) else code_str(method), path)
        coro = self._arequest(ep, method, path, payload, ct, accept, query, observe, confirmable)
        return self._call(coro, timeout, block, "%s ep=%s" % (desc, ep))

    def _build(self, method, path, payload, ct, accept, query, observe, confirmable):
        if isinstance(method, str):
            code = _METHODS[method.upper()]
        else:
            code = Code(int(method))
        msg = Message(code=code, payload=bytes(payload or b""),
                      transport_tuning=None if confirmable else Unreliable())
        msg.opt.uri_path = _path_tuple(path)
        qs = _query_list(query)
        if qs:
            msg.opt.uri_query = qs
        if ct is not None:
            msg.opt.content_format = ct
        if accept is not None:
            msg.opt.accept = accept
        if observe is not None:
            msg.opt.observe = observe
        return msg

    async def _ready(self, ep, desc):
        """Wait until a request to ep may go out; return the registration."""
        reg = self._regs.get(ep)
        if reg is None:
            raise LookupError("ep=%s is not registered" % ep)
        if reg.queue and not self._awake(reg):
            fut = self._loop.create_future()
            with self._cond:
                self._held.setdefault(ep, []).append(fut)
            self._event("held", ep, request=desc)
            self._log("holding %s for ep=%s (queue mode, sleeping)" % (desc, ep))
            try:
                await fut
            finally:
                with self._cond:
                    lst = self._held.get(ep)
                    if lst and fut in lst:
                        lst.remove(fut)
            reg = self._regs.get(ep)
            if reg is None:
                raise LookupError("ep=%s is no longer registered" % ep)
        return reg

    async def _arequest(self, ep, method, path, payload, ct, accept, query, observe, confirmable):
        desc = "%s %s" % (method if isinstance(method, str) else code_str(method), path)
        reg = await self._ready(ep, desc)
        msg = self._build(method, path, payload, ct, accept, query, observe, confirmable)
        msg.remote = reg.remote
        self._log_request(ep, msg)
        req = self._ctx.request(msg, handle_blockwise=observe is None)
        resp = await self._await_response(req.response, ep, desc)
        r = Response(resp)
        self._log_response(ep, msg, r)
        return r

    async def _await_response(self, fut, ep, desc):
        try:
            return await fut
        except (coap_error.ConRetransmitsExceeded, coap_error.RequestTimedOut) as e:
            raise TimeoutError("%s ep=%s: %s" % (desc, ep, e)) from None
        except coap_error.Error as e:
            raise RequestError("%s ep=%s: %s" % (desc, ep, e.__class__.__name__ + (": %s" % e if str(e) else ""))) from None

    def _log_request(self, ep, msg):
        extra = []
        if msg.opt.uri_query:
            extra.append("?" + "&".join(msg.opt.uri_query))
        if msg.opt.accept is not None:
            extra.append("accept=%d" % int(msg.opt.accept))
        if msg.opt.observe is not None:
            extra.append("observe=%d" % msg.opt.observe)
        if msg.opt.content_format is not None:
            extra.append("ct=%d" % int(msg.opt.content_format))
        if msg.payload:
            extra.append("(%d bytes)" % len(msg.payload))
        self._log(" ".join(["->", str(getattr(msg.code, "name", msg.code)).upper(),
                            _path_str(msg.opt.uri_path), "ep=%s" % ep] + extra))
        if msg.payload:
            cf = msg.opt.content_format
            self._log_payload(msg.payload, None if cf is None else int(cf))

    def _log_response(self, ep, msg, r):
        self._log("<- %s %s ep=%s%s%s" % (
            r.code, _path_str(msg.opt.uri_path), ep,
            "" if r.content_format is None else " ct=%d" % r.content_format,
            " (%d bytes)" % len(r.payload) if r.payload else ""))
        self._log_payload(r.payload, r.content_format)

    # DM / information reporting conveniences ---------------------------

    def read(self, ep, path, accept=None, timeout=10, **kw):
        return self.request(ep, "GET", path, accept=accept, timeout=timeout, **kw)

    def write(self, ep, path, payload, ct, partial=False, timeout=10, **kw):
        """Write: PUT (replace) or, with partial=True, POST (partial update)."""
        return self.request(ep, "POST" if partial else "PUT", path, payload, ct=ct,
                            timeout=timeout, **kw)

    def execute(self, ep, path, arg=b"", timeout=10, **kw):
        if arg and "ct" not in kw:
            kw["ct"] = 0
        return self.request(ep, "POST", path, arg, timeout=timeout, **kw)

    def create(self, ep, path, payload, ct, timeout=10, **kw):
        return self.request(ep, "POST", path, payload, ct=ct, timeout=timeout, **kw)

    def delete(self, ep, path, timeout=10, **kw):
        return self.request(ep, "DELETE", path, timeout=timeout, **kw)

    def discover(self, ep, path, depth=None, timeout=10, **kw):
        query = () if depth is None else ["depth=%d" % depth]
        return self.request(ep, "GET", path, accept=40, query=query, timeout=timeout, **kw)

    def write_attributes(self, ep, path, attrs, timeout=10, **kw):
        """PUT with only Uri-Query options, e.g. attrs "pmin=10&pmax=60"
        or {"pmin": 10, "pmax": 60, "cancel": None}."""
        return self.request(ep, "PUT", path, query=attrs, timeout=timeout, **kw)

    def observe(self, ep, path, accept=None, timeout=10, block=True, method="GET",
                payload=b"", ct=None):
        """GET with Observe=0 (or, for Observe-Composite, method="FETCH" with
        a payload and ct); returns an Observation (also when the client
        answered without Observe: then .active is False)."""
        obs = Observation(self, ep, path, accept, method, payload, ct)
        return self._call(self._aobserve(obs), timeout, block, "observe %s ep=%s" % (path, ep))

    async def _aobserve(self, obs):
        desc = "observe %s" % obs.path
        reg = await self._ready(obs.ep, desc)
        msg = self._build(obs.method, obs.path, obs.payload, obs.ct, obs.accept, (), 0, True)
        msg.remote = reg.remote
        obs.remote = reg.remote
        self._log_request(obs.ep, msg)
        req = self._ctx.request(msg, handle_blockwise=False)
        queue = obs._queue = asyncio.Queue()
        req.observation.register_callback(queue.put_nowait, _suppress_deprecation=True)
        req.observation.register_errback(queue.put_nowait, _suppress_deprecation=True)
        first = await self._await_response(req.response, obs.ep, desc)
        obs.token = bytes(first.token)
        first = await self._complete_block2(first, msg)
        r = Response(first)
        self._log_response(obs.ep, msg, r)
        with self._cond:
            obs.first = r
            obs.active = r.ok and first.opt.observe is not None
            self.observations.append(obs)
        if obs.active:
            self._loop.create_task(self._observation_reader(obs, queue, msg))
        return obs

    async def _observation_reader(self, obs, queue, template):
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    break
                if obs._cancel_fut is not None and not obs._cancel_fut.done() and (
                        (item.mtype == Type.ACK and item.mid == obs._cancel_mid)
                        or item.opt.observe is None):
                    obs._cancel_fut.set_result(item)
                    continue
                if item.opt.observe is None:
                    # the client ended the observation (error or final response)
                    with self._cond:
                        obs.final = Response(item)
                        obs.active = False
                        self._cond.notify_all()
                    self._event("notify-end", obs.ep, path=obs.path, code=obs.final.code)
                    self._log("observation of %s ep=%s ended by the client: %s" % (
                        obs.path, obs.ep, obs.final.code))
                    continue
                if obs.cancelled:
                    continue
                try:
                    full = await self._complete_block2(item, template)
                except Exception as e:  # noqa: BLE001
                    self._log("notification of %s: block2 fetch failed: %r" % (obs.path, e))
                    full = item
                r = Response(full)
                with self._cond:
                    if not obs.active:
                        continue
                    obs.notifications.append(r)
                    n = len(obs.notifications)
                    self._cond.notify_all()
                self._event("notify", obs.ep, path=obs.path, code=r.code, n=n)
                self._log("notify ep=%s %s #%d %s%s" % (
                    obs.ep, obs.path, n, r.code,
                    "" if r.content_format is None else " ct=%d" % r.content_format))
                self._log_payload(r.payload, r.content_format)
        finally:
            with self._cond:
                obs.active = False
                self._cond.notify_all()
            if obs._cancel_fut is not None and not obs._cancel_fut.done():
                obs._cancel_fut.set_exception(RequestError("observation ended before the cancel answer"))

    async def _complete_block2(self, msg, template):
        """If msg carries Block2 with more=1, fetch the remaining blocks."""
        b2 = msg.opt.block2
        if b2 is None or not b2.more:
            return msg
        payload = bytearray(msg.payload)
        num, szx = b2.block_number + 1, b2.size_exponent
        last = msg
        for _ in range(4096):
            req = Message(code=template.code, payload=template.payload)
            req.opt.uri_path = template.opt.uri_path
            if template.opt.accept is not None:
                req.opt.accept = template.opt.accept
            if template.opt.content_format is not None:
                req.opt.content_format = template.opt.content_format
            req.opt.block2 = BlockOption.BlockwiseTuple(num, False, szx)
            req.remote = msg.remote
            resp = await self._ctx.request(req, handle_blockwise=False).response
            if not resp.code.is_successful() or resp.opt.block2 is None:
                raise RequestError("block2 continuation got %s" % code_str(resp.code))
            payload += resp.payload
            last = resp
            if not resp.opt.block2.more:
                break
            num = resp.opt.block2.block_number + 1
            szx = resp.opt.block2.size_exponent
        out = msg.copy(payload=bytes(payload))
        out.opt.block2 = None
        if last.opt.content_format is not None and out.opt.content_format is None:
            out.opt.content_format = last.opt.content_format
        return out

    async def _cancel_observation(self, obs):
        if not obs.active or obs.token is None:
            obs.cancelled = True
            return None
        msg = self._build(obs.method, obs.path, obs.payload, obs.ct, obs.accept, (), 1, True)
        msg.token = obs.token
        msg.remote = obs.remote
        fut = self._loop.create_future()
        obs._cancel_fut = fut

        def on_error():
            if not fut.done():
                fut.set_exception(RequestError("cancel of %s: reset by the client" % obs.path))

        self._log_request(obs.ep, msg)
        self._mman.send_message(msg, on_error)
        obs._cancel_mid = msg.mid
        try:
            resp = await fut
        finally:
            obs.cancelled = True
        r = Response(resp)
        with self._cond:
            obs.final = r
            obs.active = False
            self._cond.notify_all()
        self._log_response(obs.ep, msg, r)
        self._event("cancel", obs.ep, path=obs.path, code=r.code)
        if resp.opt.observe is not None:
            # the client kept Observe in its answer: drop the token ourselves
            self._ctx.request_interfaces[0].outgoing_requests.pop((obs.token, obs.remote), None)
        return r

    async def _cancel_rst(self, obs):
        with self._cond:
            obs.cancelled = True
            obs.active = False
            self._cond.notify_all()
        if obs.token is not None:
            self._rst_tokens[(obs.token, _addr(obs.remote))] = obs
        self._event("cancel-rst", obs.ep, path=obs.path)
        self._log("observation of %s ep=%s: next notification gets RST" % (obs.path, obs.ep))


# ----------------------------------------------------------------------
# CLI


def _psk(s):
    from dtls_front import psk_arg
    return psk_arg(s)


def dtls_options(ap):
    """--dtls-psk / --dtls-port of the servers' CLIs (see serve())."""
    ap.add_argument("--dtls-psk", type=_psk, action="append", default=[],
                    metavar="IDENTITY:HEXKEY",
                    help="also serve coaps:// (DTLS 1.2 PSK front end, tools/dtls_front.py); repeatable")
    ap.add_argument("--dtls-port", type=int, help="its port (with --dtls-psk; default: --port + 1)")


def serve(srv, args=None):
    """CLI: run a started-on-call server until SIGINT/SIGTERM; with
    args.dtls_psk, a DTLS front end (tools/dtls_front.py) before it."""
    srv.start()
    front = None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args is not None and args.dtls_psk:
            from dtls_front import DtlsFront
            port = srv.port + 1 if args.dtls_port is None else args.dtls_port
            front = DtlsFront((srv.host, srv.port), dict(args.dtls_psk),
                              listen=(srv.host, port)).start()
            srv._log("DTLS (PSK, %d identities) on %s:%d" % (len(args.dtls_psk), *front.addr))
        while not stop.wait(0.2):
            pass
    finally:
        if front is not None:
            front.stop()
        srv.stop()
        print("[%s] stopped" % srv.name, flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Development LwM2M 1.1 server (logs registrations)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5683)
    ap.add_argument("--awake", type=float, default=93.0, help="queue-mode awake window, s")
    ap.add_argument("-v", "--verbose", action="store_true", help="aiocoap debug logging")
    dtls_options(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    srv = Server(args.host, args.port, awake_s=args.awake, log=lambda s: print(s, flush=True))
    return serve(srv, args)


if __name__ == "__main__":
    sys.exit(main())
