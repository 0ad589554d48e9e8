"""LwM2M over MQTT (client/mqtt.py) with a real broker (Debian's mosquitto,
started here on a free loopback port) and the bridge (tools/mqtt/bridge.py)
to the dev server on coap+tcp: a full session with observe/notify, a
block-wise mq2m:// download driven by the device, and a broker restart in
the middle of a session (reconnect, subscribe again, nothing lost)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from devclient import DevClient, ROOT
from devserver.tcp import TcpServer, free_tcp_port

sys.path.insert(0, os.path.join(ROOT, "tools", "mqtt"))
MOSQ = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
pytestmark = pytest.mark.skipif(not MOSQ, reason="mosquitto not installed (make setup installs it)")
TEXT = 0


class Broker:
    """mosquitto on a free loopback port; psk=(identity, hexkey): a second
    listener (tls_port) with TLS-PSK for the device (mqtts://)."""

    def __init__(self, psk=None):
        self.port = free_tcp_port()
        self.dir = tempfile.mkdtemp()
        conf = "per_listener_settings true\nlistener %d 127.0.0.1\nallow_anonymous true\n" % self.port
        if psk:
            self.tls_port = free_tcp_port()
            with open(os.path.join(self.dir, "psk"), "w") as f:
                f.write("%s:%s\n" % psk)
            os.chmod(self.dir, 0o755)       # mosquitto drops root for its own user
            os.chmod(os.path.join(self.dir, "psk"), 0o644)
            conf += ("listener %d 127.0.0.1\npsk_hint lwm2m\npsk_file %s\nuse_identity_as_username true\n"
                     "allow_anonymous true\n" % (self.tls_port, os.path.join(self.dir, "psk")))
        with open(os.path.join(self.dir, "m.conf"), "w") as f:
            f.write(conf + "persistence false\n")
        self.p = None

    def start(self):
        self.p = subprocess.Popen([MOSQ, "-c", os.path.join(self.dir, "m.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import socket
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.p:
            self.p.kill()
            self.p.wait()
            self.p = None


@pytest.fixture
def broker():
    b = Broker().start()
    yield b
    b.stop()


def _obs_numbers(obs):
    return [n.raw.opt.observe for n in obs.notifications]


def test_full_session_and_broker_restart(broker):
    from bridge import Bridge
    with TcpServer() as srv, Bridge(("127.0.0.1", broker.port), ("127.0.0.1", srv.tcp_port)) as br:
        c = DevClient("mqtt://127.0.0.1:%d/lwm2m" % broker.port, "m1", "--lifetime", "3000", "--tcp", "30,10")
        try:
            reg = srv.wait_registration("m1", timeout=20)
            assert reg.binding == "M"
            assert srv.read("m1", "/3/0/0", accept=TEXT, timeout=20).payload == b"lwm2m-mpy"
            assert srv.write("m1", "/1/0/26", b"1", TEXT, timeout=20).ok     # CON notifications
            assert srv.write_attributes("m1", "/1/0/3", "pmin=0&pmax=20", timeout=20).ok
            obs = srv.observe("m1", "/1/0/3", accept=TEXT, timeout=20)
            assert srv.write("m1", "/1/0/3", b"5", TEXT, timeout=20).ok
            k = 1
            while b"5" not in [n.payload for n in obs.wait(k, timeout=20)]:
                k += 1
            assert srv.discover("m1", "/3/0", timeout=20).ok
            # the broker goes away and comes back on the same port
            broker.stop()
            broker.start()
            n = len(srv.events)
            srv.wait_event("update", "m1", after=n, timeout=60)     # back: Update first
            k = len(obs.notifications)
            try:
                obs.wait(k + 2, timeout=60)
            except Exception:
                print(c.output()[-2500:]); raise
            assert srv.read("m1", "/1/0/1", accept=TEXT, timeout=20).payload == b"3000"
            nums = _obs_numbers(obs)
            made = sorted(set(int(l.split()[-1]) for l in c.output().splitlines() if "notify /1/0/3" in l))
            # every notification the client made reached the server, in order
            assert set(made) <= set(nums), (made, nums)
            assert nums == sorted(nums)
            n = len(srv.events)
            c.interrupt(20)
            srv.wait_event("deregister", "m1", after=n, timeout=20)
        finally:
            c.kill()


def test_mq2m_firmware_download(broker, tmp_path):
    """Firmware Update pull from mq2m://server/fw-1.1.0?size=N over the MQTT
    link: the device asks block by block (Block2 512 B... 1024 B), the bridge
    serves the file; State goes to Downloaded and the store holds the bytes."""
    from bridge import Bridge
    data = os.urandom(5000)
    with TcpServer() as srv, Bridge(("127.0.0.1", broker.port), ("127.0.0.1", srv.tcp_port),
                                    files={"server/fw-1.1.0": data}) as br:
        c = DevClient("mqtt://127.0.0.1:%d" % broker.port, "f1", "--lifetime", "3000", state=str(tmp_path))
        try:
            srv.wait_registration("f1", timeout=20)
            assert srv.read("f1", "/5/0/8", accept=11542, timeout=20).ok
            uri = "mq2m://server/fw-1.1.0?size=%d" % len(data)
            assert srv.write("f1", "/5/0/1", uri.encode(), TEXT, timeout=20).ok
            end = time.monotonic() + 30
            while time.monotonic() < end:
                st = srv.read("f1", "/5/0/3", accept=TEXT, timeout=20).payload
                if st == b"2":
                    break
                time.sleep(0.2)
            assert st == b"2", c.output()[-3000:]      # Downloaded
            assert srv.read("f1", "/5/0/5", accept=TEXT, timeout=20).payload == b"0"
        finally:
            c.kill()
    assert br.served == 5                   # 5000 B in 1024-byte blocks, one at a time
    with open(tmp_path / "fw.dl", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_mqtts_psk():
    """mqtts:// with TLS-PSK (Security mode 0 through MicroPython's tls) to
    the broker's TLS listener; the bridge on the plain one."""
    from bridge import Bridge
    key = "00112233445566778899aabbccddeeff"
    b = Broker(psk=("dev", key)).start()
    try:
        with TcpServer() as srv, Bridge(("127.0.0.1", b.port), ("127.0.0.1", srv.tcp_port)):
            c = DevClient("mqtts://127.0.0.1:%d" % b.tls_port, "s1", "--lifetime", "300",
                          "--psk-identity", "dev", "--psk-key", key)
            try:
                assert srv.wait_registration("s1", timeout=20).binding == "M"
                assert srv.read("s1", "/3/0/0", accept=TEXT, timeout=20).payload == b"lwm2m-mpy"
            finally:
                c.kill()
    finally:
        b.stop()
