# LwM2M Security object (0): server URIs and credentials. Never exposed to
# management servers; written by bootstrap or the factory configuration.
from client.model import Obj
from client.codes import R, W, RW, STR, BOOL, INT, OPAQUE, CoapError, UNAUTHORIZED


class Security(Obj):
    ID = 0
    RES = (
        (0, RW, STR, 0, 1, 255),        # LwM2M Server URI (0-255 bytes)
        (1, RW, BOOL, 0, 1),    # Bootstrap-Server
        (2, RW, INT, 0, 1, (0, 4)),     # Security Mode (0 PSK, 1 RPK, 2 cert, 3 NoSec, 4 EST)
        (3, RW, OPAQUE, 0, 1),  # Public Key or Identity
        (4, RW, OPAQUE, 0, 1),  # Server Public Key
        (5, W, OPAQUE, 0, 1),   # Secret Key: write-only, never read back
        (6, RW, INT, 0, 0, (0, 255)),   # SMS Security Mode (1 DTLS, 2 secure packet, 3 NoSec)
        (9, RW, STR, 0, 0, 32),         # LwM2M Server SMS Number (MSISDN)
        (10, RW, INT, 0, 0, (0, 65535)),    # Short Server ID (DM accounts 1-65534: Bootstrap-Finish checks)
        (11, RW, INT, 0, 0, (0, 0x7FFFFFFF)),   # Client Hold Off Time (s)
        (12, RW, INT, 0, 0, (0, 0x7FFFFFFF)),   # Bootstrap-Server Account Timeout (s)
        (14, RW, STR, 0, 0, 255),       # SNI
        (15, RW, INT, 0, 0, (0, 3)),    # Certificate Usage (0-3; none: 3, domain-issued)
    )

    def defaults(self, iid):
        return {0: "", 1: False, 2: 3, 3: b"", 4: b"", 5: b""}

    def read(self, iid, rid):
        if rid == 5:
            raise CoapError(UNAUTHORIZED)
        return super().read(iid, rid)

    def add(self, iid, uri, ssid=None, bootstrap=False, mode=3, identity=b"", key=b""):
        i = self.defaults(iid)
        i.update({0: uri, 1: bootstrap, 2: mode, 3: identity, 5: key})
        if ssid is not None:
            i[10] = ssid
        self.inst[iid] = i
