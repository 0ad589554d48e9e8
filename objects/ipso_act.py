# IPSO actuators: Light Control (3311) and Actuation (3306): On/Off and a
# Dimmer a server writes (hook them with @light.on_write(5850) / (5851)),
# the On Time counted from the last switch-on (a server may write it: 0
# restarts it), and for the light its Colour and power figures the
# application sets.
from client.app import Obj
from client.codes import R, RW, STR, INT, FLOAT, BOOL


class Actuator(Obj):
    ID = 3306
    RES = (
        (5850, RW, BOOL, 0, 1),             # On/Off
        (5851, RW, INT, 0, 0, (0, 100)),    # Dimmer, %
        (5852, RW, INT, 0, 0, (0, None)),   # On Time, s
        (5706, RW, STR, 0, 0, 32),          # Colour (3311)
        (5701, R, STR, 0, 0),               # Sensor Units (of the colour)
        (5805, R, FLOAT, 0, 0),             # Cumulative Active Power, Wh (3311)
        (5820, R, FLOAT, 0, 0),             # Power Factor (3311)
        (5750, RW, STR, 0, 0, 64),          # Application Type
    )

    def __init__(self, n=1, oid=3306):
        self.ID = oid
        self.on_at = {}         # iid -> board ms of the last switch-on
        super().__init__(n)

    def defaults(self, iid):
        i = {5850: False, 5851: 100, 5852: 0, 5750: ""}
        if self.ID == 3311:
            i.update({5706: "", 5701: "", 5805: 0.0, 5820: 1.0})
        return i

    def _now(self):
        return self.client.board.clock.ms() if self.client else 0

    def read(self, iid, rid):
        if rid == 5852 and self.get(iid)[5850] and rid not in self.cb:
            return (self._now() - self.on_at.get(iid, 0)) // 1000
        return super().read(iid, rid)

    def store(self, iid, rid, v, riid=None):
        i = self.get(iid)
        if rid == 5850 and v and not i[5850] or rid == 5852:
            self.on_at[iid] = self._now() - (v * 1000 if rid == 5852 else 0)
        super().store(iid, rid, v, riid)


def Light(n=1):
    return Actuator(n, 3311)
