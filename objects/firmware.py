# LwM2M Firmware Update object (5, OMA LwM2M 1.1 Core Appendix E.6): the
# resource table and the persisted state. The state machine, push and pull
# (client/fwup.py, client/fwdl.py, client/http.py) are imported only when /5
# is written or executed, or when a download or an update was under way at
# the last reset. State and Update Result, the URI and the offset/ETag/header
# of a download live in <state>/fw.st: JSON written to a temporary file and
# renamed over the old one (client/fwup.py save), so a power cut leaves one
# or the other.
import json
from client.model import Obj
from client.codes import E, INT, NONE, OPAQUE, R, RW, STR, W

FILE = "/fw.st"


class Firmware(Obj):
    ID = 5
    VER = "1.1"
    MULTI = False
    SINK = 0        # resource written block by block (client/block.py)
    RES = (
        (0, W, OPAQUE, 0, 1),       # Package
        (1, RW, STR, 0, 1, 255),    # Package URI
        (2, E, NONE, 0, 1),         # Update
        (3, R, INT, 0, 1),          # State: 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating
        (5, R, INT, 0, 1),          # Update Result
        (6, R, STR, 0, 0),          # PkgName
        (7, R, STR, 0, 0),          # PkgVersion
        (8, R, INT, 1, 0),          # Firmware Update Protocol Support: 0 CoAP .. 3 HTTPS
        (9, R, INT, 0, 1),          # Firmware Update Delivery Method: 2 pull and push
        (10, E, NONE, 0, 0),        # Cancel
    )

    def __init__(self, board, protos=(0, 1, 2, 3)):
        # the firmware store: board.fwstore() if the board has one, else files
        # in its state folder (boards/fwstore.py), made when /5 is first used
        self._c = self.up = None
        super().__init__()
        self.board = board
        try:
            with open(board.state + FILE) as f:
                r = json.load(f)
        except (OSError, ValueError):
            r = {}
        self.rec = r
        self.inst[0] = {0: b"", 1: r.get("u", ""), 2: None, 3: r.get("s", 0), 5: r.get("r", 0),
                        6: r.get("n", ""), 7: r.get("v", ""), 8: dict(enumerate(protos)), 9: 2, 10: None}

    # the registry sets .client: a download or update under way at the reset goes on
    @property
    def client(self):
        return self._c

    @client.setter
    def client(self, c):
        self._c = c
        if c and self.inst[0][3] in (1, 3):
            from client.fwup_boot import boot
            c.at(0, lambda: boot(self.u()))

    def u(self):
        if not self.up:
            from client.fwup import Up
            self.up = Up(self)
        return self.up

    def write(self, iid, rid, val, riid=None):
        if rid == 1:
            self.u().pull(val)
        elif rid == 0:      # a whole Package in one request
            from client.fwup_push import whole
            whole(self.u(), val)
        else:
            super().write(iid, rid, val, riid)

    def execute(self, iid, rid, arg):
        from client.fwup_boot import execute
        execute(self.u(), rid)

    def block(self, num, size, more, data, size1):
        # a block of a pushed Package (client/block.py)
        from client.fwup_push import block
        return block(self.u(), num, size, more, data, size1)
