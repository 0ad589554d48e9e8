"""A unix-port MicroPython as a serial device: a pseudo-terminal (/dev/pts/N)
in front of a micropython REPL whose working folder plays the board's
filesystem, so the real mpremote (and `make deploy PORT=/dev/pts/N
BOARD=unix`) can talk to it as to a board over USB serial.

Each boot runs boot.py, then main.py from the folder (as MicroPython does on
a board), then the REPL. Ctrl-C from mpremote stops main.py (the client
de-registers) and gives the REPL; `mpremote reset` (machine.reset(): an
addition to the unix port's machine module, see _MACHINE) or the process
ending for any other reason boots the device again, with its files kept.

  python tools/deploy/ptydevice.py DIR      prints the /dev/pts/N path, runs until Ctrl-C
"""
import os
import pty
import select
import subprocess
import sys
import tempfile
import threading
import time
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

# the "firmware" around the REPL: boot.py and main.py from the filesystem
_BOOT = r"""
import os
for _f in ("boot.py", "main.py"):
    try:
        os.stat(_f)
    except OSError:
        continue
    try:
        exec(open(_f).read(), {"__name__": "__main__"})
    except KeyboardInterrupt:
        print("main.py interrupted")
    except Exception as e:
        import sys
        sys.print_exception(e)
"""
# machine.reset() as a board has it: this boot ends, the device boots again
_MACHINE = r"""
import sys
_p = sys.path
sys.path = []
from machine import *
sys.path = _p


def reset():
    raise SystemExit(0)
"""


class PtyDevice:
    def __init__(self, root, env=None, log=None):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.rom = tempfile.mkdtemp(prefix="ptydev-")
        with open(os.path.join(self.rom, "_boot.py"), "w") as f:
            f.write(_BOOT)
        with open(os.path.join(self.rom, "machine.py"), "w") as f:
            f.write(_MACHINE)
        self.env = dict(env or os.environ)
        # the board's sys.path: its lib folder and its root (as '' and /lib on a board)
        self.env["MICROPYPATH"] = ":".join((self.rom, os.path.join(self.root, "lib"), self.root))
        self.m, self.s = pty.openpty()      # mpremote's side; the slave stays open here
        tty.setraw(self.s)
        self.path = os.ttyname(self.s)
        self.boots = 0
        self.output = bytearray()           # everything the device printed
        self.log = log
        self.proc = None
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopped:
            self._boot()

    def _boot(self):
        m2, s2 = pty.openpty()
        tty.setraw(s2)
        self.boots += 1
        self.proc = subprocess.Popen([MICROPYTHON, "-i", os.path.join(self.rom, "_boot.py")],
                                     stdin=s2, stdout=s2, stderr=s2, cwd=self.root, env=self.env,
                                     close_fds=True)
        os.close(s2)
        try:
            while not self.stopped:
                r, _, _ = select.select([self.m, m2], [], [], 0.2)
                if self.m in r:
                    os.write(m2, os.read(self.m, 4096))
                if m2 in r:
                    try:
                        d = os.read(m2, 4096)
                    except OSError:     # the process ended (EIO)
                        break
                    if not d:
                        break
                    self.output += d
                    if self.log:
                        self.log(d)
                    os.write(self.m, d)
                if self.proc.poll() is not None and m2 not in r:
                    break
        finally:
            os.close(m2)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        time.sleep(0.1)     # the reset

    def wait_output(self, text, timeout=20, after=0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            i = self.output.find(text.encode(), after)
            if i >= 0:
                return i
            time.sleep(0.05)
        raise TimeoutError("no %r in device output:\n%s" % (text, self.output[-3000:].decode(errors="replace")))

    def close(self):
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        self.t.join(5)
        os.close(self.m)
        os.close(self.s)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    with PtyDevice(argv[0], log=lambda d: sys.stderr.write(d.decode(errors="replace"))) as dev:
        print(dev.path, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
