#!/usr/bin/env python3
"""LwM2M 1.1 Bootstrap-Server on aiocoap (host side, CPython).

Answers a Bootstrap-Request (POST /bs?ep=NAME&pct=...) from a client whose
endpoint has a configuration, then provisions it: Bootstrap-Discover of /0
(to learn which Security instance is the client's Bootstrap-Server account:
Security instances without an "iid" get other ids, an entry with
"bootstrap": true updates that account), Bootstrap-Delete of the
configured paths (default "/"), one Bootstrap-Write per Security, Server
and Access Control instance (TLV), the extra resource writes, and
Bootstrap-Finish. Configurations: {endpoint: config} ("*" matches any
endpoint), each in the format of tools/bsconfig.py, plus optional
"delete": [paths] and "manual": true (answer the request, send nothing:
the caller drives the client with read/write/delete/discover/finish).

Library use (blocking calls, loop in a background thread, like
tools/lwm2m_server.py whose Server this extends)::

    bs = BootstrapServer(port=0, configs={"dev": {...}}).start()
    res = bs.wait_finished("dev")     # {"code": "2.04", "ops": [...]}
    bs.stop()

CLI::

    python tools/bootstrap_server.py --port 5783 --config endpoints.json \
        [--dtls-psk IDENTITY:HEXKEY --dtls-port 5784]
"""
import argparse
import asyncio
import itertools
import sys

from aiocoap import Message
from aiocoap.numbers.codes import Code

from . import bsconfig
from .cli import dtls_options, serve
from .common import _parse_query
from .formats import tlv_multiple, tlv_resource
from .registry import Registration
from .server import Server

__all__ = ["BootstrapServer", "tlv_of", "main"]

TLV = 11542


class _Dropped(Exception):
    pass


def tlv_of(res):
    """TLV payload of one instance's resources {rid: value | {riid: value}}."""
    out = b""
    for rid, v in sorted(res.items()):
        out += tlv_multiple(rid, v) if isinstance(v, dict) else tlv_resource(rid, v)
    return out


def check_configs(configs):
    """configs must be {endpoint or "*": config}: a ValueError with a clear
    message for one client's configuration given without that wrapper."""
    if not isinstance(configs, dict):
        raise ValueError('configurations must be a JSON object {"endpoint name" or "*": config}')
    bare = sorted(k for k in configs if k in ("security", "server", "acl", "write", "delete"))
    if bare:
        raise ValueError('this is one client\'s configuration (it has "%s" at the top): put it under '
                         'its endpoint name, {"my-endpoint": {...}}, or under "*" for any endpoint'
                         % '", "'.join(bare))
    for ep, cfg in configs.items():
        if not isinstance(cfg, dict):
            raise ValueError('the configuration of endpoint "%s" is not an object' % ep)
    return configs


class BootstrapServer(Server):
    """See the module docstring. configs may be changed between bootstraps."""

    def __init__(self, host="127.0.0.1", port=0, configs=None, log=None, name="bootstrap"):
        super().__init__(host, port, log=log, name=name)
        self.configs = dict(check_configs(configs or {}))
        self._sessions = {}     # ep -> the provisioning task running for it

    # -- the Bootstrap-Request ---------------------------------------------
    async def _handle(self, request):
        if request.opt.uri_path == ("bs",):
            if request.code != Code.POST:
                return Message(code=Code.METHOD_NOT_ALLOWED)
            return self._bootstrap_request(request)
        return Message(code=Code.NOT_FOUND)

    def _config(self, ep):
        return self.configs.get(ep, self.configs.get("*"))

    def _bootstrap_request(self, request):
        q = _parse_query(request.opt.uri_query)
        ep = q.get("ep")
        cfg = self._config(ep) if ep else None
        if cfg is None:
            return self._reject("bootstrap", Code.BAD_REQUEST, "unknown endpoint", request, ep)
        # a pseudo registration: requests to ep go to where the request came from
        reg = Registration(ep, "bs-" + ep, q, "", request.remote, 86400, "U", "1.1", False)
        with self._cond:
            self._regs[ep] = reg
        self._event("bootstrap-request", ep, pct=q.get("pct"), addr=reg.addr)
        self._log("bootstrap request ep=%s pct=%s from %s:%d" % ((ep, q.get("pct")) + reg.addr))
        # a new Bootstrap-Request ends the session running for ep (the client
        # gave up on it: its timeout, a reboot): one session per client
        old = self._sessions.pop(ep, None)
        if old and not old.done():
            old.cancel()
            self._log("bootstrap of ep=%s: superseded by a new request" % ep)
        if not cfg.get("manual"):
            self._sessions[ep] = self._loop.create_task(self._provision(ep, cfg))
        return Message(code=Code.CHANGED)

    async def _provision(self, ep, cfg):
        ops = []

        async def op(method, path, payload=b"", ct=None, accept=None):
            r = await self._arequest(ep, method, path, payload, ct, accept, (), None, True)
            ops.append((method, path, r.code))
            if r.code == "4.03":    # the client is not bootstrapping (it gave up
                raise _Dropped()    # on this session): a new request will come
            return r
        try:
            await asyncio.sleep(0)      # the 2.04 to the request goes first
            r = await op("GET", "/0", accept=40)
            cfg = self._place(cfg, r.payload.decode() if r.code == "2.05" else "")
            for p in cfg.get("delete", ["/"]):
                await op("DELETE", p)
            for oid, insts in sorted(bsconfig.resources(cfg).items()):
                for iid, res in sorted(insts.items()):
                    await op("PUT", "/%d/%d" % (oid, iid), tlv_of(res), TLV)
            for path, v in bsconfig.writes(cfg):
                rid = int(path.split("/")[-1])
                await op("PUT", path, tlv_of({rid: v}), TLV)
            r = await op("POST", "/bs")
            result = {"code": r.code, "ops": ops}
        except _Dropped:
            self._log("bootstrap of ep=%s: the client left the session" % ep)
            return
        except Exception as e:  # noqa: BLE001 - reported to the waiter
            result = {"code": None, "error": "%s: %s" % (type(e).__name__, e), "ops": ops}
        self._event("bootstrap-finish", ep, **result)
        self._log("bootstrap of ep=%s: %s" % (ep, result["code"] or result["error"]))

    @staticmethod
    def _place(cfg, links):
        # Security instance ids: the client's bootstrap account keeps its own
        # (a Bootstrap-Discover link without ssid), the others go around it
        bs = [int(l[4:l.index(">")]) for l in links.split(",")
              if l.startswith("</0/") and ";ssid=" not in l]
        used = set(bs) | {int(e["iid"]) for e in cfg.get("security", ()) if "iid" in e}
        free = (i for i in itertools.count() if i not in used)
        out = []
        for e in cfg.get("security", ()):
            e = dict(e)
            if "iid" not in e:
                e["iid"] = bs[0] if e.get("bootstrap") and bs else next(free)
            out.append(e)
        return dict(cfg, security=out)

    def _log_request(self, ep, msg):
        # Security payloads hold credentials: never shown
        if msg.opt.uri_path[:1] == ("0",) and msg.payload:
            self._log("-> %s %s ep=%s (%d bytes, Security values not shown)" % (
                str(getattr(msg.code, "name", msg.code)).upper(), "/" + "/".join(msg.opt.uri_path),
                ep, len(msg.payload)))
            return
        super()._log_request(ep, msg)

    # -- sync API -----------------------------------------------------------
    def wait_request(self, ep, timeout=10, after=0):
        """The next Bootstrap-Request event of ep (index > after)."""
        return self.wait_event("bootstrap-request", ep, timeout, after)

    def wait_finished(self, ep, timeout=10, after=0):
        """Result of the next automatic provisioning of ep (event index >
        after): {"code": "2.04" | "4.06" | None, "ops": [(method, path,
        code)], "error": str when it broke off}."""
        ev = self.wait_event("bootstrap-finish", ep, timeout, after)
        out = {"code": ev["code"], "ops": ev["ops"]}
        if "error" in ev:
            out["error"] = ev["error"]
        return out

    def finish(self, ep, timeout=10):
        """Bootstrap-Finish (POST /bs)."""
        return self.request(ep, "POST", "/bs", timeout=timeout)

    def write_instance(self, ep, oid, iid, res, timeout=10):
        """Bootstrap-Write of one instance from {rid: value}."""
        return self.write(ep, "/%d/%d" % (oid, iid), tlv_of(res), TLV, timeout=timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description="LwM2M Bootstrap-Server (provisions from a per-endpoint config file)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5783)
    ap.add_argument("--config", required=True,
                    help='JSON file {endpoint or "*": config} (see tools/bsconfig.py)')
    dtls_options(ap)
    args = ap.parse_args(argv)
    import json
    try:
        with open(args.config) as f:
            configs = check_configs(json.load(f))
    except (OSError, ValueError) as e:
        ap.exit(2, "bootstrap_server.py: %s: %s\n" % (args.config, e))
    srv = BootstrapServer(args.host, args.port, configs, log=lambda s: print(s, flush=True))
    return serve(srv, args)


if __name__ == "__main__":
    sys.exit(main())
