# LwM2M Device object (3): identity, reboot, factory reset, time, errors,
# battery and memory where the board knows them.
from client.model import Obj
from client.codes import R, W, RW, E, STR, INT, TIME, NONE


class Device(Obj):
    ID = 3
    VER = "1.1"
    MULTI = False
    RES = (
        (0, R, STR, 0, 0),      # Manufacturer
        (1, R, STR, 0, 0),      # Model Number
        (2, R, STR, 0, 0),      # Serial Number
        (3, R, STR, 0, 0),      # Firmware Version
        (4, E, NONE, 0, 1),     # Reboot
        (5, E, NONE, 0, 0),     # Factory Reset
        (6, R, INT, 1, 0, (0, 7)),      # Available Power Sources
        (7, R, INT, 1, 0),      # Power Source Voltage (mV)
        (9, R, INT, 0, 0, (0, 100)),    # Battery Level (%)
        (10, R, INT, 0, 0, (0, None)),  # Memory Free (KB)
        (11, R, INT, 1, 1, (0, 32)),    # Error Code
        (12, E, NONE, 0, 0),    # Reset Error Code
        (13, RW, TIME, 0, 0, (0, None)),    # Current Time (s since 1970)
        (14, RW, STR, 0, 0, "UTC+-:0123456789"),  # UTC Offset (ISO 8601, "+01:00")
        (15, RW, STR, 0, 0, 64),  # Timezone (IANA name)
        (16, R, STR, 0, 1),     # Supported Binding and Modes
        (17, R, STR, 0, 0),     # Device Type
        (19, R, STR, 0, 0),     # Software Version
        (21, R, INT, 0, 0, (0, None)),  # Memory Total (KB)
    )

    def __init__(self, board, **info):
        super().__init__()
        self.board = board
        self.skew = 0           # Current Time written by a server - board time
        i = {0: "lwm2m-mpy", 1: "unix", 2: "0", 3: "0.1", 4: None, 5: None,
             11: {0: 0}, 12: None, 13: 0, 14: "+00:00", 15: "UTC", 16: "UQ",
             17: "mpy", 19: "0.1", 10: 0, 21: 0}
        if board.battery() is not None:
            i[9] = i[6] = 0
            if hasattr(board, "battery_mv"):    # a board that measures it
                i[7] = 0
        i.update(info)
        self.inst[0] = i

    def read(self, iid, rid):
        b = self.board
        if rid == 13:
            return b.time() + self.skew
        if rid == 9:
            return b.battery()
        if rid == 6:
            return {0: 1}   # internal battery
        if rid == 7:
            return {0: b.battery_mv()}
        if rid == 10:
            return b.mem_free()
        if rid == 21:
            return b.mem_total()
        return super().read(iid, rid)

    def write(self, iid, rid, val, riid=None):
        if rid == 13:
            self.skew = val - self.board.time()
        else:
            super().write(iid, rid, val, riid)

    def error(self, code):
        # record an error code (0 = no error): applications call this
        e = self.inst[0][11]
        if e == {0: 0}:
            e.clear()
        e[len(e)] = code

    def execute(self, iid, rid, arg):
        if rid == 12:
            self.inst[0][11] = {0: 0}
        elif rid in (4, 5):
            self.client.reboot = rid   # the loop ends; the board restarts
