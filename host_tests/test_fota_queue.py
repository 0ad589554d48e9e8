"""Queue mode and sleep around a firmware pull: a download keeps the device
awake while blocks flow (the client's awake window ends many times over a
slow link, the radio never goes off), and a radio-off period in the middle
of a download pauses it: nothing is lost, it goes on when the radio is back
and ends Downloaded with the digest right."""
import socket
import threading

from conftest import ROOT
from fota import bench, serve
from fotautil import TEXT, client, files_with, pkg, state_dir
from lwm2m_server import Server


class SlowRelay:
    """UDP relay to a server that holds every answer back delay_s (a slow
    link: longer than the virtual board's real-time slice, so the client's
    clock runs on while it waits)."""

    def __init__(self, port, delay_s=0.05):
        self.srv = ("127.0.0.1", port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.connect(self.srv)
        self.delay = delay_s
        self.peer = None
        self.stop_ = False
        for fn in (self._c2s, self._s2c):
            threading.Thread(target=fn, daemon=True).start()

    def _c2s(self):
        self.s.settimeout(0.2)
        while not self.stop_:
            try:
                d, self.peer = self.s.recvfrom(65536)
            except OSError:
                continue
            self.up.send(d)

    def _s2c(self):
        self.up.settimeout(0.2)
        while not self.stop_:
            try:
                d = self.up.recv(65536)
            except OSError:
                continue
            if self.peer:   # each one delayed on its own (no queue builds up)
                threading.Timer(self.delay, self.s.sendto, (d, self.peer)).start()

    def close(self):
        self.stop_ = True


def test_pull_keeps_queue_mode_client_awake():
    d = files_with("fw.pkg", pkg(48 * 1024, "8.0", seed=14))
    # the server holds requests while the client sleeps, until its wake-up Update
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv, serve.CoapFiles(d) as fs:
        relay = SlowRelay(fs.port)
        c = client(srv, "fq", state_dir(), "--binding", "UQ", "--awake", "1")
        try:
            c.wait_line("sleep", timeout=30)            # queue mode: radio off when idle
            uri = "coap://127.0.0.1:%d/fw.pkg" % relay.port
            assert srv.write("fq", "/5/0/1", uri, TEXT, timeout=60).code == "2.04"
            i = c.wait_line("fw pull", timeout=30)
            j = c.wait_line("fw downloaded", timeout=120, after=i)
            during = c.lines[i:j]
            assert not any("] sleep" in ln for ln in during), "\n".join(during)
            t = [float(ln.split("]")[0].split()[1]) for ln in (c.lines[i], c.lines[j])]
            assert t[1] - t[0] > 5          # many awake windows of 1 s went by meanwhile
            c.wait_line("] sleep", timeout=60, after=j)     # and it sleeps again after
        finally:
            c.kill()
            relay.close()


def test_radio_off_mid_download_pauses_and_resumes():
    d = files_with("fw.pkg", pkg(64 * 1024, "8.1", seed=15))
    with serve.CoapFiles(d) as fs:
        # the radio goes off at block 20 for 120 s (tools/fota/bench.py's pull harness)
        state, result, _, _, blocks, paused = bench.pull(fs.uri("fw.pkg"), "radio", "virtual", ROOT)
        requests = fs.requests()
    assert (state, result) == (2, 0)            # Downloaded, digest right
    assert blocks == 65 and paused >= 120000    # every block once into the store
    assert requests <= 65 + 8, requests         # the request in flight asked again


def test_cellular_board_requests_no_rai_while_downloading(mp, tmp_path):
    # the RAI a cellular board attaches to a NON notification: "none follows"
    # normally, "ongoing" while a firmware download (a busy client task, as
    # client/fwup.py's pull adds one) holds the connection
    out = mp(r"""
import io
from boards.unix import Board
from boards.cellular import CellularBoard
from boards.modem import RAI_NONE, RAI_ONGOING
from client.fwup import Up
b = CellularBoard(Board(%r), io.BytesIO(), "bg95")
ub = Board(%r)


class C:
    board = b
    servers = []
    tasks = []

    def log(self, *a):
        pass

    def changed(self, p):
        pass

    def transport(self, uri, sec):
        return ub.udp("127.0.0.1", 9)


b.client = C()
b._rai(1, False)
idle = b.m.rai_next


class Fw:
    inst = {0: {1: "", 3: 0, 5: 0, 8: {0: 0}}}
    rec = {}
    client = b.client
    board = b


u = Up(Fw())
u.pull("coap://127.0.0.1:9/fw.pkg")
b._rai(1, False)
busy = b.m.rai_next
n = len(C.tasks)
u.reset()
b._rai(1, False)
print(n, idle == RAI_NONE, busy == RAI_ONGOING, b.m.rai_next == RAI_NONE)
""" % (str(tmp_path), str(tmp_path)))
    assert out.split() == ["1", "True", "True", "True"], out
