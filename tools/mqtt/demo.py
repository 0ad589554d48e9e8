"""`make run MQTT=1` (tools/run_demo.py --mqtt): the scripted session over
LwM2M over MQTT. A mosquitto broker on a free loopback port, the dev server
listening on coap+tcp (tools/devserver/tcp.py), the bridge between them
(tools/mqtt/bridge.py), and the client on the MicroPython unix port with
--server mqtt://127.0.0.1:PORT/lwm2m: register (b=M), read, write, execute,
discover, an observation with a notification, a firmware package pulled over
mq2m:// block-wise, de-register. Exits by itself."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bridge import Bridge  # noqa: E402
from devclient import DevClient  # noqa: E402
from session import run_session  # noqa: E402
from devserver.tcp import TcpServer, free_tcp_port  # noqa: E402


def broker(port, d):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        raise SystemExit("mosquitto is not installed (make setup installs it)")
    with open(os.path.join(d, "m.conf"), "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % port)
    return subprocess.Popen([exe, "-c", os.path.join(d, "m.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main(say=print):
    d = tempfile.mkdtemp(prefix="lwm2m-mqtt-demo-")
    port = free_tcp_port()
    mq = broker(port, d)
    time.sleep(0.3)
    pkg = os.urandom(3000)
    try:
        say("== mosquitto on 127.0.0.1:%d; topics lwm2m/<endpoint>/deviceToServer|serverToDevice" % port)
        with TcpServer(log=say) as srv, \
                Bridge(("127.0.0.1", port), ("127.0.0.1", srv.tcp_port), files={"server/fw-1.1.0": pkg}, log=say):
            uri = "mqtt://127.0.0.1:%d/lwm2m" % port
            say("== starting: micropython firmware/main.py --server %s --endpoint demo" % uri)
            c = DevClient(uri, "demo", "--lifetime", "300", clock="real", echo=say, state=d)
            try:
                srv.wait_registration("demo", timeout=20)
                obs = srv.observe("demo", "/1/0/3", accept=0, timeout=20)
                srv.write("demo", "/1/0/3", b"30", 0, timeout=20)
                say("== notification: /1/0/3 = %s" % obs.wait(1, timeout=20)[-1].payload.decode())
                srv.write("demo", "/5/0/1", b"mq2m://server/fw-1.1.0?size=3000", 0, timeout=20)
                for _ in range(100):
                    if srv.read("demo", "/5/0/3", accept=0, timeout=20).payload == b"2":
                        say("== firmware package (3000 B) downloaded over mq2m:// block-wise")
                        break
                    time.sleep(0.1)
                out = run_session(srv, c, "demo", say=say, timeout=20)
            finally:
                c.kill()
        say("== done: %d bytes up, %d bytes down in the DM session (MQTT + CoAP)"
            % (out["session_bytes_up"], out["session_bytes_down"]))
    finally:
        mq.kill()
        mq.wait()


if __name__ == "__main__":
    main()
