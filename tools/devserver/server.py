"""The dev LwM2M 1.1 server (host side, CPython, on aiocoap): Server joins
the registration interface (devserver.registry) and the request API
(devserver.requests) around one asyncio loop in a background thread.
See tools/lwm2m_server.py for the overview and the CLI."""
import asyncio
import logging
import threading
import time

import aiocoap
from aiocoap import Message
from aiocoap import resource
from aiocoap.numbers.codes import Code

from . import formats as lwm2m_formats
from .common import _path_str
from .registry import RegistryMixin
from .requests import RequestsMixin

log = logging.getLogger("lwm2m_server")


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



class Server(RegistryMixin, RequestsMixin):
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

    def _log_payload(self, payload, ct, path=None):
        if payload and (self.log is not None or log.isEnabledFor(logging.INFO)):
            for line in lwm2m_formats.pretty(payload, ct, path).split("\n"):
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
