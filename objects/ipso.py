# IPSO sensors: Generic Sensor (3300), Temperature (3303), Humidity (3304),
# Barometer (3315) and any other object of the same shape. The application
# sets the measured value (sensor.measure(v), sensor.set(iid, 5700, v),
# app.set(path, v) or the core client.set(path, v)): every one goes through
# store(), which keeps Min/Max Measured Value; Reset (5605) starts them over
# from the current value.
from client.app import Obj
from client.codes import R, RW, E, STR, FLOAT, NONE


class Sensor(Obj):
    ID = 3303
    RES = (
        (5700, R, FLOAT, 0, 1),     # Sensor Value
        (5701, R, STR, 0, 0),       # Sensor Units
        (5601, R, FLOAT, 0, 0),     # Min Measured Value (once something was measured)
        (5602, R, FLOAT, 0, 0),     # Max Measured Value
        (5603, R, FLOAT, 0, 0),     # Min Range Value
        (5604, R, FLOAT, 0, 0),     # Max Range Value
        (5605, E, NONE, 0, 0),      # Reset Min and Max Measured Values
        (5750, RW, STR, 0, 0, 64),  # Application Type
        (5751, R, STR, 0, 0),       # Sensor Type (Generic Sensor)
    )

    def __init__(self, n=0, oid=3303, units="Cel", lo=None, hi=None, kind=None):
        self.ID = oid
        self.units, self.lo, self.hi, self.kind = units, lo, hi, kind
        super().__init__(n)

    def defaults(self, iid):
        i = {5700: 0.0, 5701: self.units, 5605: None, 5750: ""}
        for rid, v in ((5603, self.lo), (5604, self.hi), (5751, self.kind)):
            if v is not None:
                i[rid] = v
        return i

    def store(self, iid, rid, v, riid=None):
        if rid != 5700:
            return super().store(iid, rid, v, riid)
        i = self.get(iid)
        i[5700] = v = float(v)
        if v < i.get(5601, v + 1):
            self._mm(iid, 5601, v)
        if v > i.get(5602, v - 1):
            self._mm(iid, 5602, v)

    def _mm(self, iid, rid, v):
        self.inst[iid][rid] = v
        if self.client:
            self.client.changed((self.ID, iid, rid))

    def execute(self, iid, rid, arg):
        super().execute(iid, rid, arg)
        if rid == 5605:
            v = self.inst[iid][5700]
            self._mm(iid, 5601, v)
            self._mm(iid, 5602, v)

    def measure(self, v, iid=0):
        # a new reading from the application
        self.set(iid, 5700, v)


def Temperature(n=1, **kw):
    return Sensor(n, 3303, kw.pop("units", "Cel"), **kw)


def Humidity(n=1, **kw):
    return Sensor(n, 3304, kw.pop("units", "%RH"), **kw)


def Barometer(n=1, **kw):
    return Sensor(n, 3315, kw.pop("units", "hPa"), **kw)


def Generic(n=1, units="", **kw):
    return Sensor(n, 3300, units, **kw)
