"""A counting UDP relay between a client and a server on loopback: measures
the bytes and datagrams on the wire independently of both ends."""
import socket
import threading


class Proxy:
    def __init__(self, server_port, host="127.0.0.1"):
        self.server = (host, server_port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((host, 0))
        self.port = self.s.getsockname()[1]
        self.up = self.down = self.dg_up = self.dg_down = 0
        self.client = None
        self.up_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up_sock.connect(self.server)
        self.stop_ = False
        for fn in (self._c2s, self._s2c):
            threading.Thread(target=fn, daemon=True).start()

    def reset(self):
        self.up = self.down = self.dg_up = self.dg_down = 0

    def _c2s(self):
        self.s.settimeout(0.2)
        while not self.stop_:
            try:
                d, a = self.s.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            self.client = a
            self.up += len(d)
            self.dg_up += 1
            self.up_sock.send(d)

    def _s2c(self):
        self.up_sock.settimeout(0.2)
        while not self.stop_:
            try:
                d = self.up_sock.recv(65536)
            except (socket.timeout, OSError):
                continue
            if self.client:
                self.down += len(d)
                self.dg_down += 1
                self.s.sendto(d, self.client)

    def close(self):
        self.stop_ = True
        self.s.close()
        self.up_sock.close()
