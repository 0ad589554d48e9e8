# IPSO digital I/O: Digital Input (3200), On/Off Switch (3342), Push Button
# (3347) - a state the application sets (press/release), with a counter of
# rising edges and, for the switch, on/off times - and Digital Output (3201),
# a state a server writes (hook it with @out.on_write(5550)).
from client.app import Obj
from client.codes import R, RW, E, STR, INT, BOOL, NONE


class Input(Obj):
    ID = 3200
    RES = (
        (5500, R, BOOL, 0, 1),      # Digital Input State
        (5501, R, INT, 0, 0),       # Digital Input Counter
        (5505, E, NONE, 0, 0),      # Digital Input Counter Reset (3200)
        (5502, RW, BOOL, 0, 0),     # Digital Input Polarity (3200)
        (5852, RW, INT, 0, 0, (0, None)),   # On Time, s (3342)
        (5854, RW, INT, 0, 0, (0, None)),   # Off Time, s (3342)
        (5750, RW, STR, 0, 0, 64),  # Application Type
    )

    def __init__(self, n=1, oid=3200):
        self.ID = oid
        self.since = {}         # iid -> board ms of the last state change
        super().__init__(n)

    def defaults(self, iid):
        i = {5500: False, 5501: 0, 5750: ""}
        if self.ID == 3200:
            i.update({5505: None, 5502: False})
        if self.ID == 3342:
            i.update({5852: 0, 5854: 0})
        return i

    def _now(self):
        return self.client.board.clock.ms() if self.client else 0

    def read(self, iid, rid):
        i = self.get(iid)
        if rid in (5852, 5854) and rid in i:
            # seconds in the current state (on time while on, off time while off)
            on = i[5500] != i.get(5502, False)
            if on == (rid == 5852):
                return (self._now() - self.since.get(iid, 0)) // 1000
            return 0
        return super().read(iid, rid)

    def store(self, iid, rid, v, riid=None):
        i = self.get(iid)
        if rid in (5852, 5854):    # a server resets (writes) the time of the current state
            self.since[iid] = self._now() - v * 1000
            return
        if rid == 5500 and v != i[5500]:
            self.since[iid] = self._now()
            if v:               # a rising edge counts
                self.set(iid, 5501, i[5501] + 1)
        super().store(iid, rid, v, riid)

    def execute(self, iid, rid, arg):
        super().execute(iid, rid, arg)
        if rid == 5505:
            self.set(iid, 5501, 0)

    def press(self, on=True, iid=0):
        # the input changed (a button pressed or released, a switch flipped)
        self.set(iid, 5500, bool(on))


def Switch(n=1):
    return Input(n, 3342)


def Button(n=1):
    return Input(n, 3347)


class Output(Obj):
    ID = 3201
    RES = (
        (5550, RW, BOOL, 0, 1),     # Digital Output State
        (5551, RW, BOOL, 0, 0),     # Digital Output Polarity
        (5750, RW, STR, 0, 0, 64),  # Application Type
    )

    def defaults(self, iid):
        return {5550: False, 5551: False, 5750: ""}
