"""Request API of the dev LwM2M server: Device Management (Read, Write,
Execute, Create, Delete, Discover, Write-Attributes) and Information
Reporting (Observe, its two cancellations, block-wise notifications), each a
blocking call with a timeout that runs on the server's loop. Mixed into
devserver.server.Server."""
import asyncio
import concurrent.futures
import threading
import time

from aiocoap import Message
from aiocoap import error as coap_error
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from aiocoap.numbers.constants import Unreliable
from aiocoap.optiontypes import BlockOption

from .common import RequestError, Response, _addr, _path_str, _path_tuple, _query_list, code_str

_METHODS = {
    "GET": Code.GET, "POST": Code.POST, "PUT": Code.PUT, "DELETE": Code.DELETE,
    "FETCH": Code.FETCH, "PATCH": Code.PATCH, "IPATCH": Code.iPATCH,
}


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



class RequestsMixin:
    """The requesting side of Server."""

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
        r.path = path
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
            self._log_payload(msg.payload, None if cf is None else int(cf), msg.opt.uri_path)

    def _log_response(self, ep, msg, r):
        self._log("<- %s %s ep=%s%s%s" % (
            r.code, _path_str(msg.opt.uri_path), ep,
            "" if r.content_format is None else " ct=%d" % r.content_format,
            " (%d bytes)" % len(r.payload) if r.payload else ""))
        self._log_payload(r.payload, r.content_format, msg.opt.uri_path)

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
                self._event("notify", obs.ep, path=obs.path, code=r.code, n=n, text=r.pretty(obs.path))
                self._log("notify ep=%s %s #%d %s%s" % (
                    obs.ep, obs.path, n, r.code,
                    "" if r.content_format is None else " ct=%d" % r.content_format))
                self._log_payload(r.payload, r.content_format, obs.path)
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
