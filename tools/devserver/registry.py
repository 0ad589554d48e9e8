"""Registration interface of the dev LwM2M server (the resource directory):
Register, Update, De-register, lifetime expiry, Send (POST /dp), queue-mode
wake-ups, and the RST answer to cancelled observations. Mixed into
devserver.server.Server, which owns the loop, the lock and the events."""
import collections
import logging
import secrets
import time

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type

from . import formats as lwm2m_formats
from .common import (DEFAULT_LIFETIME, SEND_FORMATS, SUPPORTED_VERSIONS, RequestError,
                     _addr, _objects_text, _parse_query, code_str)

log = logging.getLogger("lwm2m_server")


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
        self.seen = collections.deque([self.last_seen], 2000)  # when datagrams came (energy view)
        self.active = True
        self._timer = None

    @property
    def object_paths(self):
        """Object/instance paths from the registration payload, e.g. ["/1/0", "/3/0"]."""
        return [p for p, _ in self.links if p not in ("", "/") and p.startswith("/")]

    def energy(self, awake_s):
        """The radio's duty as the server sees it: datagrams closer than
        awake_s belong to one session, the radio stays on awake_s after its
        last one (queue mode). {elapsed_s, sessions, radio_on_s, radio_on_ratio,
        wakeups_per_day}."""
        t = list(self.seen)
        now = time.monotonic()
        on, sessions, start = 0.0, 0, None
        for i, x in enumerate(t):
            if start is None or x - t[i - 1] > awake_s:
                if start is not None:
                    on += t[i - 1] - start + awake_s
                start, sessions = x, sessions + 1
        if start is not None:
            on += min(now, t[-1] + awake_s) - start
        elapsed = max(now - t[0], 1.0) if t else 1.0
        return {"elapsed_s": round(elapsed, 1), "sessions": sessions, "radio_on_s": round(on, 1),
                "radio_on_ratio": round(on / elapsed, 3), "wakeups_per_day": round(sessions * 86400 / elapsed, 1)}

    def __repr__(self):
        return "<Registration ep=%s %s lt=%s b=%s%s %s:%d>" % (
            self.ep, self.location, self.lifetime, self.binding,
            " Q" if self.queue else "", self.addr[0], self.addr[1])



class RegistryMixin:
    """The registration side of Server (state: _regs, _by_id, _held...)."""

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
        reg.seen.append(reg.last_seen)
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

