"""Run the device client (firmware/main.py) on the MicroPython unix port as a
subprocess: from sources or from .mpy files, optionally with a small heap."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REBOOT_EXIT = 4     # the unix port's reboot into new firmware (boards/fwstore.py)
# $MICROPYTHON: another build, e.g. the 32-bit one of host_tests/test_targets.py
MICROPYTHON = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv", "bin", "micropython")


# MicroPython code for an in-process server peer: a bound UDP socket `peer` on
# a free loopback port `port` (the unix port has no getsockname, so ports are
# tried from a random start); needs `socket` and `os` imported
MP_PEER_SOCKET = r"""
port = 0
for p in range(42000 + os.urandom(1)[0] * 40, 53000):
    try:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(socket.getaddrinfo("127.0.0.1", p)[0][-1])
        port = p
        break
    except OSError:
        pass
"""


class DevClient:
    def __init__(self, server_uri, ep, *args, mpy=False, heap=None, echo=None,
                 state=None, clock="virtual"):
        path = os.path.join(ROOT, "build", "mpy") if mpy else ROOT
        env = dict(os.environ, MICROPYPATH=".frozen:" + path)
        argv = (["--server", server_uri] if server_uri else []) + ["--endpoint", ep, "--clock", clock]
        if state:
            argv += ["--state", state]
        argv += list(args)
        cmd = [MICROPYTHON]
        if heap:
            cmd += ["-X", "heapsize=" + heap]
        # -c puts "" (the cwd, the repo root: sources) first on sys.path;
        # with mpy=True the compiled modules must win, so "" goes last
        pre = "import sys\nsys.path.remove('')\nsys.path.append('')\n" if mpy else ""
        cmd += ["-c", pre + "from firmware import main\nmain.main(%r)" % argv]
        self.lines = []
        self.echo = echo
        self.cv = threading.Condition()
        self.restarts = 0       # reboots into a new firmware (exit code REBOOT_EXIT)
        self._killed = False
        self._start = lambda: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.p = self._start()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        while True:
            for line in self.p.stdout:
                line = line.rstrip("\n")
                if self.echo:
                    self.echo(line)
                with self.cv:
                    self.lines.append(line)
                    self.cv.notify_all()
            # a firmware update "reboots" the unix port by exiting with
            # REBOOT_EXIT (boards/fwstore.py): start it again, as a board would
            if self.p.wait() != REBOOT_EXIT or self._killed:
                break
            with self.cv:
                self.restarts += 1
                self.lines.append("[devclient] restart after exit %d" % REBOOT_EXIT)
                self.p = self._start()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, text, timeout=10, after=0):
        """Index of the first output line (from `after`) containing text."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(after, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    raise TimeoutError("no %r in client output:\n%s" % (text, "\n".join(self.lines[-30:])))
                self.cv.wait(min(left, 0.2))

    def output(self):
        with self.cv:
            return "\n".join(self.lines)

    def interrupt(self, timeout=10):
        """Ctrl-C: the client de-registers and exits."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            return self.p.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        self._killed = True
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.kill()


def boots(server_uri, ep, *args, n=3, state=None, between=None, make=None, **kw):
    """Run the client through n deep sleeps (--deep): each boot runs until it
    powers down (exit code 3) and the next one starts from the saved state.
    between(i) runs while the device is powered down after boot i.
    Returns the DevClient of every boot (its .lines, .rc). make(): another
    kind of boot (e.g. the ESP32 board on its fakes) instead of DevClient."""
    out = []
    for i in range(n):
        c = make() if make else DevClient(server_uri, ep, *args, state=state, **kw)
        c.rc = c.p.wait(60)
        c.t.join(5)
        out.append(c)
        if c.rc != 3:
            break
        if between:
            between(i)
    return out


def take_ports(addrs):
    """Bind the UDP ports of these (host, port) client addresses, so a device
    coming back from a deep sleep cannot have its old port again (a NAT
    rebinding, seen from the server). Returns the sockets: close them after."""
    out = []
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("0.0.0.0", a[1]))
        except OSError:     # in use already: the device cannot have it either
            s.close()
            continue
        out.append(s)
    return out


def stamps(c, text):
    """client-time seconds of c's output lines containing text"""
    out = []
    for line in c.lines:
        m = re.match(r"\[client (\d+)\.(\d+)\] (.*)", line)
        if m and text in m.group(3):
            out.append(int(m.group(1)) + int(m.group(2)) / 1000)
    return out


def free_port(tcp=False):
    """a UDP (or TCP) port on loopback that nothing listens on (now)"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
