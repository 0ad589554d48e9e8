# LwM2M Connectivity Monitoring object (4): values the board provides.
from client.model import Obj
from client.codes import R, INT, STR


class ConnMon(Obj):
    ID = 4
    VER = "1.3"
    MULTI = False
    RES = (
        (0, R, INT, 0, 1, (0, 50)),         # Network Bearer
        (1, R, INT, 1, 1, (0, 50)),         # Available Network Bearer
        (2, R, INT, 0, 1),      # Radio Signal Strength (dBm)
        (3, R, INT, 0, 0, (0, 255)),        # Link Quality
        (4, R, STR, 1, 1),      # IP Addresses
        (5, R, STR, 1, 0),      # Router IP Addresses
        (8, R, INT, 0, 0),      # Cell ID
    )

    def __init__(self, board):
        super().__init__()
        self.board = board
        self.inst[0] = {k: None for k in board.conn()}

    def read(self, iid, rid):
        self.get(iid)
        v = self.board.conn().get(rid)
        if v is None:
            return super().read(iid, rid)
        return v
