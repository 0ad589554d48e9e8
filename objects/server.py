# LwM2M Server object (1): one instance per management server account.
from client.model import Obj
from client.codes import R, W, RW, E, STR, BOOL, INT, UINT, TIME, NONE


class Server(Obj):
    ID = 1
    VER = "1.1"
    RES = (
        (0, R, INT, 0, 1, (1, 65534)),          # Short Server ID
        (1, RW, INT, 0, 1, (1, 0x7FFFFFFF)),    # Lifetime (s): never 0 or less (Update floods)
        (2, RW, INT, 0, 0, (0, 0x7FFFFFFF)),    # Default Minimum Period (s)
        (3, RW, INT, 0, 0, (0, 0x7FFFFFFF)),    # Default Maximum Period (s)
        (4, E, NONE, 0, 0),     # Disable
        (5, RW, INT, 0, 0, (0, 0x7FFFFFFF)),    # Disable Timeout (s)
        (6, RW, BOOL, 0, 1),    # Notification Storing When Disabled or Offline
        (7, RW, STR, 0, 1, "UTSNQM"),          # Binding: letters of U, T, S, N, M (MQTT, 1.2) (+ Q, 1.0 style)
        (8, E, NONE, 0, 1),     # Registration Update Trigger
        (9, E, NONE, 0, 0),     # Bootstrap-Request Trigger
        (11, R, UINT, 0, 0, (0, 255)),          # TLS-DTLS Alert Code
        (12, R, TIME, 0, 0),    # Last Bootstrapped
        (16, RW, BOOL, 0, 0),   # Bootstrap on Registration Failure
        (17, RW, UINT, 0, 0, (1, 255)),         # Communication Retry Count
        (18, RW, UINT, 0, 0, (1, 0x7FFFFFFF)),  # Communication Retry Timer (s): 0 would retry at once
        (19, RW, UINT, 0, 0, (1, 0x7FFFFFFF)),  # Communication Sequence Delay Timer (s)
        (20, RW, UINT, 0, 0, (1, 255)),         # Communication Sequence Retry Count
        (22, RW, STR, 0, 0, "UTSNM"),          # Preferred Transport (one letter)
        (23, RW, BOOL, 0, 0),   # Mute Send
        (26, RW, UINT, 0, 0, (0, 1)),          # Default Notification Mode (0 NON, 1 CON)
    )

    def defaults(self, iid):
        return {0: 1, 1: 86400, 2: 0, 3: 0, 4: None, 5: 86400, 6: True, 7: "U", 8: None, 9: None, 26: 0}

    def add(self, iid, ssid, lifetime=86400, binding="U", **kw):
        i = self.defaults(iid)
        i.update({0: ssid, 1: lifetime, 7: binding})
        i.update(kw)
        self.inst[iid] = i

    def execute(self, iid, rid, arg):
        c = self.client
        s = c.server(self.inst[iid][0])
        if not s:
            return
        if rid == 8:
            s.trigger()
        elif rid == 4:
            s.disable(self.inst[iid].get(5, 86400))
        elif rid == 9 and c.on_bootstrap:
            c.on_bootstrap()
