"""Helpers of the firmware update tests (host_tests/test_fota*.py): the
client on the unix port (virtual clock, its own state folder), the dev
server, third-party file servers from tools/fota/serve.py."""
import os
import tempfile
import time

from devclient import DevClient
from fota import package

TEXT = 0
KB256 = 256 * 1024


def state_dir():
    return tempfile.mkdtemp(prefix="fota-state-")


def files_dir():
    d = tempfile.mkdtemp(prefix="fota-files-")
    os.mkdir(os.path.join(d, "files"))
    return os.path.join(d, "files")


def files_with(name, data):
    """a files folder holding name with data (for the file servers)"""
    d = files_dir()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return d


def pkg(size=KB256, version="2.0", name="fw", seed=1, kind=package.IMAGE):
    import random
    r = random.Random(seed)
    return package.build(r.randbytes(size), kind, name, version)


def client(srv, ep, st, *args, uri=None, **kw):
    n = len(srv.events)
    c = DevClient(uri or "coap://127.0.0.1:%d" % srv.port, ep, "--lifetime", "600", *args,
                  state=st, **kw)
    try:
        srv.wait_event("register", ep, timeout=20, after=n)
    except TimeoutError:
        c.kill()
        raise AssertionError("no registration:\n" + c.output())
    return c


def res(srv, ep, rid):
    r = srv.read(ep, "/5/0/%d" % rid, accept=TEXT)
    assert r.code == "2.05", r.code
    return r.payload.decode()


def fw(srv, ep):
    """(State, Update Result, PkgVersion)"""
    return int(res(srv, ep, 3)), int(res(srv, ep, 5)), res(srv, ep, 7)


def wait_state(srv, ep, states, timeout=60):
    end = time.monotonic() + timeout
    while True:
        s = fw(srv, ep)
        if s[0] in states or time.monotonic() > end:
            return s
        time.sleep(0.1)


def update(srv, c, ep, timeout=30):
    """Execute Update; the client reboots into the package (exit 4, DevClient
    starts it again), registers and sends an Update: (State, Result, PkgVersion)
    read after that Update."""
    n = len(srv.events)
    assert srv.execute(ep, "/5/0/2").code == "2.04"
    reg = srv.wait_event("register", ep, timeout=timeout, after=n)
    # the Update that follows that Register (the old process may have sent
    # one of its own before it went down: not the one that tells the outcome)
    srv.wait_event("update", ep, timeout=timeout, after=next(i for i in range(len(srv.events) - 1, -1, -1) if srv.events[i] is reg) + 1)
    assert c.restarts == 1
    return fw(srv, ep)


def image(st):
    p = os.path.join(st, "fw.img")
    if not os.path.exists(p):
        return None
    with open(p, "rb") as f:
        return f.read()
