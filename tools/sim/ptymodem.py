"""The simulated modem (tools/sim/simat.py SimAt) behind a pseudo-terminal,
on the host (CPython): a MicroPython client opens the slave device as its
modem UART (boards/cellular.py CellularBoard over the unix port), the modem
answers in the real AT dialect, its datagrams go through host UDP sockets,
SMS to an SMS centre callback. Real time; one thread moves the bytes.

    with PtyModem("bg95") as pm:     # pm.path: /dev/pts/N
        ...run the client with its UART on pm.path...
"""
import os
import pty
import select
import socket
import sys
import termios
import threading
import time
import tty
import types

SIM = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(SIM))
for _p in (ROOT, SIM):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def device_import(name):
    # import a MicroPython module on CPython (micropython.const as identity)
    shim = "micropython" not in sys.modules
    if shim:
        m = types.ModuleType("micropython")
        m.const = lambda x: x
        sys.modules["micropython"] = m
    try:
        return __import__(name)
    finally:
        if shim:
            del sys.modules["micropython"]


class Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def ms(self):
        return int((time.monotonic() - self.t0) * 1000)


class HostUdp:
    # a connected, non-blocking UDP socket: the modem's PDN toward one peer
    def __init__(self, host, port, lport=0):
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
        self.s = socket.socket(ai[0], socket.SOCK_DGRAM)
        self.s.bind(("", 0))
        self.lport = self.s.getsockname()[1]
        self.s.connect(ai[-1])
        self.s.setblocking(False)

    def send(self, d):
        try:
            self.s.send(d)
        except OSError:
            pass

    def recv(self):
        try:
            return self.s.recv(2048)
        except OSError:
            return None

    def deadline(self):
        return None

    def close(self):
        self.s.close()


class HostNet:
    def __init__(self):
        self.open = []

    def udp(self, host, port, lport=0):
        u = HostUdp(host, port, lport)
        self.open.append(u)
        return u


class PtyModem:
    def __init__(self, vendor="nrf91", **kw):
        simat = device_import("simat")
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        a = termios.tcgetattr(self.slave)
        a[6][termios.VMIN] = 0      # a read returns what is there, at once
        a[6][termios.VTIME] = 0
        termios.tcsetattr(self.slave, termios.TCSANOW, a)
        self.path = os.ttyname(self.slave)
        self.net = HostNet()
        self.sim = simat.SimAt(Clock(), vendor, net=self.net, **kw)
        self.hooks = []                 # called each round with the lock held (an SMS gateway's poll)
        self.lock = threading.Lock()    # held around every use of self.sim
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            socks = [u.s for u in self.net.open if u.s.fileno() >= 0]
            r, _, _ = select.select([self.master] + socks, [], [], 0.01)
            d = b""
            if self.master in r:
                try:
                    d = os.read(self.master, 4096)
                except OSError:
                    return
            with self.lock:
                if d:
                    self.sim.write(d)
                for h in self.hooks:
                    h()
                out = self.sim.read()
            if out:
                os.write(self.master, out)

    def close(self):
        self.stop = True
        self.t.join(2)
        for u in self.net.open:
            u.close()
        os.close(self.master)
        os.close(self.slave)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
