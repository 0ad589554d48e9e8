# LwM2M Location (6): the application (or a board with a GNSS) sets the fix
# with location.fix(lat, lon, alt=None, radius=None, speed=None); the
# Timestamp is the board's time of the fix.
from client.app import Obj
from client.codes import R, FLOAT, OPAQUE, TIME


class Location(Obj):
    ID = 6
    MULTI = False
    RES = (
        (0, R, FLOAT, 0, 1),    # Latitude, degrees
        (1, R, FLOAT, 0, 1),    # Longitude, degrees
        (2, R, FLOAT, 0, 0),    # Altitude, m
        (3, R, FLOAT, 0, 0),    # Radius, m
        (4, R, OPAQUE, 0, 0),   # Velocity (3GPP TS 23.032)
        (5, R, TIME, 0, 1),     # Timestamp
        (6, R, FLOAT, 0, 0),    # Speed, m/s
    )

    def __init__(self):
        super().__init__(1)

    def defaults(self, iid):
        return {0: 0.0, 1: 0.0, 5: 0}

    def fix(self, lat, lon, alt=None, radius=None, speed=None):
        i = self.inst[0]
        for rid, v in ((0, lat), (1, lon), (2, alt), (3, radius), (6, speed)):
            if v is not None:
                self.set(0, rid, float(v))
        i[5] = self.client.board.time() if self.client else 0
        if self.client:
            self.client.changed((6, 0, 5))
