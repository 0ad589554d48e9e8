# IPSO sensor objects (Temperature 3303 and the like): a value the
# application sets, with min/max tracking and their reset.
from client.model import Obj
from client.codes import R, W, RW, E, STR, FLOAT, NONE


class Sensor(Obj):
    ID = 3303
    RES = (
        (5700, R, FLOAT, 0, 1),     # Sensor Value
        (5701, R, STR, 0, 0),       # Sensor Units
        (5601, R, FLOAT, 0, 0),     # Min Measured Value
        (5602, R, FLOAT, 0, 0),     # Max Measured Value
        (5605, E, NONE, 0, 0),      # Reset Min and Max Measured Values
        (5750, RW, STR, 0, 0),      # Application Type
    )

    def __init__(self, oid=3303, units="Cel"):
        super().__init__()
        self.ID = oid
        self.units = units

    def defaults(self, iid):
        return {5700: 0.0, 5701: self.units, 5601: 0.0, 5602: 0.0, 5605: None, 5750: ""}

    def execute(self, iid, rid, arg):
        i = self.inst[iid]
        i[5601] = i[5602] = i[5700]

    def set(self, iid, v):
        # a new reading from the application
        i = self.get(iid)
        i[5700] = v = float(v)
        if v < i[5601]:
            i[5601] = v
        if v > i[5602]:
            i[5602] = v
        if self.client:
            self.client.changed((self.ID, iid, 5700))
