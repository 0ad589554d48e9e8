"""Resets at the worst moments of a firmware update, on the real unix port:

- in Updating (State 3): the client is killed (kill -9, sent by itself at an
  exact point of the update code) right after Updating was saved, between the two renames of the
  apply, or once the new package is in. After the restart the outcome is
  reported: Update Result 1 and the new PkgVersion when the package was
  applied, 8 (and the old one in place) when it was not; State is Idle and an
  Update after the registration tells the server. For images and for
  application bundles.
- a pull in queue mode paused by a deep sleep (--deep): the radio goes off
  mid-download, the client powers down, the next boots restore it, and the
  download goes on from the offset it had when the radio went off: nothing
  fetched twice but the block in flight, nothing lost (the digest checks).
- fw.st (State, Result, URI, offset) is written atomically: a temporary file
  renamed over the old one; a power cut before the rename leaves the old
  record whole and loadable."""
import json
import os
import re
import subprocess

import pytest

from devclient import DevClient, MICROPYTHON, ROOT
from fota import package, push, serve
from fotautil import client, files_with, fw, image, pkg, state_dir, update
from lwm2m_server import Server

# the client (firmware/main.py) with os.rename/os.remove of the firmware
# update code wrapped: after the operation CRASH names is done, the process
# kills itself with SIGKILL (kill -9: no clean-up, files as they are)
CRASHING = r"""
import os, sys, json
CRASH = %r


class Os:
    def __getattr__(self, n):
        return getattr(os, n)

    def _after(self, what):
        if what == CRASH:
            print("CRASH", what)
            os.system("kill -9 $PPID")      # this process, from the shell it started

    def rename(self, a, b):
        s = None
        if b.endswith("/fw.st"):
            with open(a) as f:
                s = json.load(f).get("s")
        os.rename(a, b)
        self._after("updating" if s == 3 else b.rsplit("/", 1)[1])

    def remove(self, p):
        os.remove(p)
        self._after("rm " + p.rsplit("/", 1)[1])


import client.fwup, boards.fwapp
client.fwup.os = boards.fwapp.os = Os()
from firmware import main
main.main(%r)
"""


def _crashing(srv, ep, st, crash):
    n = len(srv.events)
    argv = ["--server", "coap://127.0.0.1:%d" % srv.port, "--endpoint", ep, "--clock", "virtual",
            "--state", st, "--lifetime", "600"]
    p = subprocess.Popen([MICROPYTHON, "-c", CRASHING % (crash, argv)], cwd=ROOT,
                         env=dict(os.environ, MICROPYPATH=".frozen:" + ROOT),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        srv.wait_event("register", ep, timeout=20, after=n)
    except TimeoutError:
        p.kill()
        raise AssertionError(p.communicate()[0])
    return p


def _reset_in_updating(ep, old, new, crash):
    """old installed, new pushed, Update executed, the client dies at crash;
    returns (State, Result, PkgVersion) after the restart, its output, the state folder"""
    st = state_dir()
    with Server(port=0) as srv:
        c = client(srv, ep, st)
        try:
            assert push.push(srv, ep, old, say=None) == "2.04"
            assert update(srv, c, ep)[:2] == (0, 1)
        finally:
            c.kill()
        p = _crashing(srv, ep, st, crash)
        try:
            assert push.push(srv, ep, new, say=None) == "2.04"
            srv.execute(ep, "/5/0/2", block=False)     # 2.04, or nothing: killed in the handler
            out = p.communicate(timeout=30)[0]
        finally:
            p.kill()
        assert p.returncode == -9 and "CRASH " + crash in out, out
        with open(os.path.join(st, "fw.st")) as f:
            assert json.load(f)["s"] == 3               # it died in Updating
        n = len(srv.events)
        c = client(srv, ep, st)
        try:
            srv.wait_event("update", ep, timeout=20, after=n)   # the server learns it
            return fw(srv, ep), c.output(), st
        finally:
            c.kill()


@pytest.mark.parametrize("crash, applied", [
    ("updating", False),        # Updating saved, nothing applied yet
    ("fw.img.old", False),      # the old image moved away, the new one not in yet
    ("fw.img", True),           # the new image in, fw.st not saved again
])
def test_reset_in_updating_image(crash, applied):
    old, new = pkg(16 * 1024, "1.0", seed=21), pkg(16 * 1024, "2.0", seed=22)
    got, out, st = _reset_in_updating("ru", old, new, crash)
    assert "fw booted %s" % applied in out, out
    assert got == ((0, 1, "2.0") if applied else (0, 8, "1.0")), (got, out)
    assert image(st) == package.parse(new if applied else old)[3]


def _app(v):
    return package.build(package.bundle({"fotaapp.py": b"V = %r\n" % v}), package.APP, "app", v)


@pytest.mark.parametrize("crash, applied", [
    ("rm fw.dl", False),        # unpacked into app.new, not swapped in
    ("app.old", True),          # app moved away: the next start finishes the swap
])
def test_reset_in_updating_app_bundle(crash, applied):
    got, out, st = _reset_in_updating("ra", _app("1.0"), _app("2.0"), crash)
    assert got == ((0, 1, "2.0") if applied else (0, 8, "1.0")), (got, out)
    with open(os.path.join(st, "app", "fotaapp.py")) as f:
        assert f.read() == "V = %r\n" % ("2.0" if applied else "1.0")


# a device application for the deep-sleep test, put in <state>/app (on
# sys.path first): it turns the radio off once the download has taken AT
# bytes (once), as a modem going out of coverage would
SLEEPY = r"""
from client import fwup
AT = %d
take = fwup.Up.feed


def feed(up, d):
    ok = take(up, d)
    st = up.board.state
    if ok and up.off >= AT and up.board.radio and not fwup.os.listdir(st).count("slept"):
        with open(st + "/slept", "w") as f:
            f.write(str(up.off))
        up.log("app: radio off at", up.off)
        up.board.radio = False
    return ok


def start(c):
    fwup.Up.feed = feed
"""


def test_pull_paused_by_deep_sleep_resumes_from_offset():
    size = 64 * 1024
    p = pkg(size, "9.0", seed=23)
    d = files_with("fw.pkg", p)
    st = state_dir()
    os.mkdir(os.path.join(st, "app"))
    with open(os.path.join(st, "app", "fotasleep.py"), "w") as f:
        f.write(SLEEPY % (size * 4 // 10))
    args = ("--lifetime", "600", "--binding", "UQ", "--awake", "1", "--deep", "30", "--app", "fotasleep")
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv, serve.CoapFiles(d) as fs:
        # a pull under way from byte 0, as a Package URI write (client/fwup.py
        # pull) leaves it: the first boot goes on with it at once (a write held
        # for a queue-mode wake-up is test_deepsleep's; here the download counts)
        with open(os.path.join(st, "fw.st"), "w") as f:
            json.dump({"s": 1, "r": 0, "u": fs.uri("fw.pkg"), "p": 0}, f)
        runs = []
        for i in range(10):     # boots until the download ended (each ends in a deep sleep)
            c = DevClient("coap://127.0.0.1:%d" % srv.port, "dz", *args, state=st)
            c.rc = c.p.wait(60)
            c.t.join(5)
            runs.append(c)
            assert c.rc == 3, c.output()        # powered down
            if "fw downloaded" in c.output():
                break
        out = "\n".join(c.output() for c in runs)
        assert "fw downloaded fw 9.0" in out, out
        requests = fs.requests()
    with open(os.path.join(st, "slept")) as f:
        off = int(f.read())
    # the boot after the radio went off resumes exactly there: saved when the
    # radio went off, not at the last 8 KB step
    resumed = [int(x) for x in re.findall(r"fw resume (\d+)", out)]
    assert resumed[:2] == [0, off] and off % 8192, (off, out)
    paused = [c for c in runs if "fw app: radio off" in c.output()][0]
    assert "deep sleep" in paused.output().split("fw app: radio off")[1]
    # every block once, the one in flight at the sleep asked again
    blocks = (len(p) + 1023) // 1024
    assert blocks <= requests <= blocks + 2, requests
    with open(os.path.join(st, "fw.st")) as f:
        assert json.load(f)["s"] == 2                        # Downloaded
    with open(os.path.join(st, "fw.dl"), "rb") as f:
        assert f.read() == package.parse(p)[3]


def test_fw_st_written_atomically(mp, tmp_path):
    # save() writes fw.st.tmp whole, then renames it over fw.st: a power cut
    # (here: the rename fails) leaves the old record, whole; the next save
    # replaces it. The same scheme as client/store.write, in JSON: loaded by
    # objects/firmware.py at every start without the CBOR codec.
    out = mp(r"""
import os, json
import client.fwup as U
D = %r


def load(d):        # what objects/firmware.py reads at start-up
    class B:
        state = d
    from objects.firmware import Firmware
    return Firmware(B()).rec


class Cut:
    def __getattr__(self, n):
        return getattr(os, n)

    def rename(self, a, b):
        raise OSError(5)        # the power goes before the rename


class Fw:
    inst = {0: {3: 0, 5: 0}}
    rec = {}
    client = None

    class board:
        state = D


u = U.Up(Fw())
u.rec.update({"s": 1, "u": "coap://h/a", "o": 8192, "e": "0a0b"})
u.save()
print(load(D) == u.rec)
old = dict(u.rec)
u.rec["o"] = 16384
U.os = Cut()
u.save()
with open(D + "/fw.st.tmp") as f:
    print(json.load(f)["o"], load(D) == old)      # the new one whole in .tmp, the old one in place
U.os = os
u.save()
print(load(D)["o"], sorted(os.listdir(D)))
with open(D + "/fw.st", "w") as f:
    f.write('{"s": 1, "o": 81')                   # a torn file (not by save): the factory state
print(load(D))
""" % str(tmp_path))
    assert out.split("\n")[:4] == ["True", "16384 True", "16384 ['fw.st']", "{}"], out
