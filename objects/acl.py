# LwM2M Access Control object (2) and the access check the engine calls
# before every Device Management operation (core spec, Access Control).
# One instance per governed object instance: Object ID, Object Instance ID,
# ACL {Short Server ID: rights} (ssid 0 = default for servers not listed)
# and the Access Control Owner (65535: created by the Bootstrap-Server).
# Instance ID 65535 governs the object itself: only its Create right counts.
from micropython import const
from client.model import Obj
from client.codes import R, W, INT

# access right bits (also the op codes of check); Read covers Observe,
# Discover and Write-Attributes
_D = const(8)
_C = const(16)
_OWNER = const(15)      # an owner without an ACL entry: R, W, E, D
_MAX_ID = const(65535)


class AccessControl(Obj):
    ID = 2
    RES = (
        (0, R, INT, 0, 1, (1, 65534)),         # Object ID
        (1, R, INT, 0, 1, (0, 65535)),         # Object Instance ID
        (2, R | W, INT, 1, 0, (0, 31)),    # ACL: riid = ssid, value = rights bit set
        (3, R | W, INT, 0, 1, (0, 65535)),     # Access Control Owner
    )

    def defaults(self, iid):
        return {0: 0, 1: 0, 3: _MAX_ID}

    def find(self, oid, iid):
        for k, i in self.inst.items():
            if i.get(0) == oid and i.get(1) == iid:
                return k
        return None

    def rights(self, ssid, oid, iid):
        k = self.find(oid, iid)
        if k is None:
            return None
        i = self.inst[k]
        acl = i.get(2) or {}
        if ssid in acl:
            return acl[ssid]
        if i.get(3) == ssid:
            return _OWNER
        return acl.get(0, 0)

    def _single(self):
        # with one management server there is nothing to arbitrate: it may
        # do everything (the single-server shortcut)
        return len(self.client.objs[1].inst) < 2

    def check(self, srv, op, path):
        # True if server srv may do op (R/W/E/D/C bit) on path; op 0 after a
        # Create or Delete by srv: keep the ACL instances in step
        if op == 0:
            self.track(srv, path)
            return True
        if self._single():
            return True
        c = self.client
        oid = path[0]
        ssid = srv.ssid
        o = c.objs.get(oid)
        if o is None:
            return True             # the engine answers 4.04
        if op == _C:
            return bool((self.rights(ssid, oid, _MAX_ID) or 0) & _C)
        if len(path) == 1:
            # object level: allowed when some instance is readable; the
            # engine leaves out the others
            return self._some(srv, oid, o)
        iid = path[1]
        if iid not in o.inst:
            return True
        if oid == 2:
            # ACL instances: anyone may read, only the owner may change them
            return op == R or (op == W and self.inst[iid].get(3) == ssid)
        r = self.rights(ssid, oid, iid)
        if r is None:
            # no ACL instance: a server manages its own Server instance
            r = _OWNER if oid == 1 and o.inst[iid].get(0) == ssid else 0
        return bool(r & op)

    def _some(self, srv, oid, o):
        # (a loop, not a generator in check: check allocates nothing per call)
        if not o.inst:
            return True
        for i in o.inst:
            if self.check(srv, R, (oid, i)):
                return True
        return False

    def track(self, srv, path):
        if len(path) < 2:
            return
        oid, iid = path[0], path[1]
        o = self.client.objs.get(oid)
        k = self.find(oid, iid)
        if o and iid in o.inst:
            if k is None and not self._single():
                self.inst[self.free_iid()] = {0: oid, 1: iid, 2: {}, 3: srv.ssid}
        elif k is not None:
            del self.inst[k]

    def forget(self, ssid):
        # unbootstrapping (transport spec §5.2.5) of server ssid: what only it
        # could reach goes with its ACL instance; elsewhere its ACL entry goes
        # and ownership moves to the server with most of Write + Delete
        objs = self.client.objs
        for k in list(self.inst):
            i = self.inst[k]
            acl = i.get(2) or {}
            acl.pop(ssid, None)
            if i.get(3) != ssid:
                continue
            if not acl:
                o = objs.get(i.get(0))
                if o and o.MULTI and i.get(0) > 2 and i.get(1) in o.inst:
                    del o.inst[i[1]]
                del self.inst[k]
                continue
            best, score = _MAX_ID, -1
            for s in sorted(acl):
                n = (acl[s] >> 1 & 1) + (acl[s] >> 3 & 1)
                if s and n > score:
                    best, score = s, n
            i[3] = best
