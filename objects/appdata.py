# LwM2M Binary App Data Container (19): opaque data the application and the
# server exchange; large values travel block-wise.
from client.model import Obj
from client.codes import R, W, RW, OPAQUE, INT, TIME, STR


class AppData(Obj):
    ID = 19
    RES = (
        (0, RW, OPAQUE, 1, 1),  # Data
        (1, RW, INT, 0, 0, (0, 255)),      # Data Priority (1 byte)
        (2, RW, TIME, 0, 0, (0, None)),    # Data Creation Time
        (3, RW, STR, 0, 0),     # Data Description
        (4, RW, STR, 0, 0),     # Data Format
        (5, RW, INT, 0, 0, (0, 65535)),    # App ID (2 bytes)
    )

    def defaults(self, iid):
        return {0: {}, 3: ""}
