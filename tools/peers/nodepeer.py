"""Run a third-party LwM2M server from npm (tools/peers/*.js) as a subprocess
and talk to it: one JSON object per line each way (see the script's header).

    with NodePeer("lwm2m_node_server.js") as srv:
        srv.wait_event("register", "ep1")
        srv.call("read", ep="ep1", path="/3/0/0")

node_modules comes from tools/peers/package-lock.json (`make peers`, or
`ensure()` here: `npm ci`, nothing when it is already installed)."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from devclient import free_port  # noqa: E402


def missing():
    """Why the npm peers cannot run here, or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not installed"
    return None


def ensure():
    """Install the pinned npm packages into tools/peers/node_modules when
    they are not there yet (offline-safe when they are)."""
    if all(os.path.isdir(os.path.join(HERE, "node_modules", p)) for p in ("lwm2m-node-lib", "coap-shepherd")):
        return
    cmd = ["npm", "ci", "--no-audit", "--no-fund"] if os.path.exists(
        os.path.join(HERE, "package-lock.json")) else ["npm", "install", "--no-audit", "--no-fund"]
    subprocess.run(cmd, cwd=HERE, check=True, stdout=subprocess.DEVNULL, timeout=600)


class NodePeer:
    def __init__(self, script, port=None, timeout=15, args=()):
        self.port = port or free_port()
        self.events = []
        self.replies = {}
        self.lines = []
        self.cv = threading.Condition()
        self.n = 0
        self.p = subprocess.Popen(["node", "--no-warnings", os.path.join(HERE, script), str(self.port)] + list(args),
                                  cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.wait_event("ready", timeout=timeout)

    def _read(self):
        for line in self.p.stdout:
            line = line.strip()
            with self.cv:
                self.lines.append(line)
                try:
                    o = json.loads(line)
                except ValueError:
                    o = None
                if isinstance(o, dict) and "id" in o:
                    self.replies[o["id"]] = o
                elif isinstance(o, dict) and "event" in o:
                    self.events.append(o)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def _wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                r = pred()
                if r is not None:
                    return r
                left = end - time.monotonic()
                if left <= 0 or self.p.poll() is not None and not self.t.is_alive():
                    raise TimeoutError("%s; peer output:\n%s" % (what, "\n".join(self.lines[-20:])))
                self.cv.wait(min(left, 0.2))

    def wait_event(self, kind, ep=None, after=0, timeout=15):
        """The first event of kind (for ep) with index >= after."""
        def find():
            for e in self.events[after:]:
                if e["event"] == kind and (ep is None or e.get("ep") == ep):
                    return e
        return self._wait(find, timeout, "no %s event of %s" % (kind, ep))

    def count(self, kind, ep=None):
        with self.cv:
            return len([e for e in self.events if e["event"] == kind and (ep is None or e.get("ep") == ep)])

    def call(self, op, timeout=15, **kw):
        """One operation; -> the reply dict (ok, value / code, ct, hex / error)."""
        with self.cv:
            self.n += 1
            i = self.n
        kw.update(id=i, op=op)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        return self._wait(lambda: self.replies.pop(i, None), timeout, "no reply to %s %s" % (op, kw))

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
                self.p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
