# Device-to-device CoAP (seed 003): an optional plain CoAP endpoint that
# serves the device's IPSO objects, with the same engine, formats, Observe
# and Access Control as the LwM2M servers, to peers on the local network
# (other devices, a browser or phone app). LwM2M stays for management; the
# management objects (Security 0, Server 1, Access Control 2, and every
# object below 3200 unless configured) are never exposed: 4.01.
# Reads, Discover and Observe are open; a Write or Execute needs an Access
# Control instance granting it to the local endpoint's Short Server ID
# (SSID_LOCAL). Nothing is reachable while the radio is off (queue mode).
from micropython import const
from client.coap import Msg
from client.exchange import Exchange
from client.codes import CONTENT, CONTENT_FORMAT, FMT_LINK, GET, METHOD_NOT_ALLOWED, R, URI_PATH

SSID_LOCAL = const(65534)   # the local endpoint in ACL entries
_PEERS = const(4)           # peers served at once; the oldest goes first


class _Tr:
    # one peer's view of the shared socket, as an Exchange transport
    def __init__(self, lis, addr):
        self.lis = lis
        self.addr = addr

    def send(self, data):
        self.lis.sendto(data, self.addr)

    def deadline(self):
        return None

    def close(self):
        pass


class Peer:
    # a local peer, seen by the engine and the reporter as a server without
    # registration: its own exchange (MIDs, tokens, dedup), attributes and
    # observations under SSID_LOCAL
    ssid = SSID_LOCAL

    def __init__(self, loc, addr):
        b = loc.c.board
        self.loc = loc
        self.ex = Exchange(_Tr(loc.lis, addr), b.clock, b.random, self)
        self.used = b.clock.ms()

    def res(self, rid, default=None):
        return default      # Server object defaults (pmin, pmax, NON notifications)

    def ready(self):
        return True

    def registered(self):
        return True

    def queue(self):
        return False

    def grant(self, op, path):
        # the engine's access check for this peer
        if not path or path[0] not in self.loc.oids:
            return False
        if op == R:
            return True
        acl = self.loc.c.objs.get(2)
        return bool(acl and len(path) > 1 and (acl.rights(SSID_LOCAL, path[0], path[1]) or 0) & op)

    def request(self, m):
        p = m.all(URI_PATH)
        if len(p) == 2 and bytes(p[0]) == b".well-known" and bytes(p[1]) == b"core":
            if m.code != GET:
                return Msg(code=METHOD_NOT_ALLOWED)
            r = Msg(code=CONTENT, payload=self.loc.core().encode())
            return r.add(CONTENT_FORMAT, FMT_LINK)
        return self.loc.c.engine.request(m, self)

    def reset(self, token):
        r = self.loc.c.reporter
        if r:
            r.cancel(self, token)

    def crash(self, e):
        self.loc.c.log("error", "local", repr(e))


class Local:
    def __init__(self, client, port=5683, oids=None):
        self.c = client
        self.lis = client.board.listen(port)
        # exposed objects: the IPSO range (3200 up) by default
        self.oids = oids or [o for o in client.objs if o >= 3200]
        self.peers = {}

    def core(self):
        # RFC 6690 discovery: one link per instance, rt= the object's URN in
        # the OMA registry, obs: observable
        out = []
        for oid in sorted(self.oids):
            o = self.c.objs.get(oid)
            for iid in sorted(o.inst) if o else ():
                out.append('</%d/%d>;rt="urn:oma:lwm2m:ext:%d";obs' % (oid, iid, oid))
        return ",".join(out)

    def step(self):
        for _ in range(8):      # bounded per step
            d, a = self.lis.recvfrom()
            if d is None:
                break
            a = bytes(a)
            p = self.peers.get(a)
            if not p:
                if len(self.peers) >= _PEERS:
                    self.drop(min(self.peers.values(), key=lambda x: x.used))
                p = self.peers[a] = Peer(self, a)
            p.used = self.c.board.clock.ms()
            p.ex.feed(d)
        for p in self.peers.values():
            p.ex.step()

    def drop(self, p):
        r = self.c.reporter
        if r:
            r.drop(p)
        p.ex.cancel()
        self.peers.pop(p.ex.tr.addr, None)

    def deadline(self):
        d = None
        for p in self.peers.values():
            x = p.ex.deadline()
            if x is not None and (d is None or x < d):
                d = x
        return d

    def close(self):
        for p in list(self.peers.values()):
            self.drop(p)
        self.lis.close()
