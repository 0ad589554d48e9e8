"""The application API (client/app.py) and the IPSO library (objects/ipso*.py,
objects/location.py) end to end: the example application
(firmware/app_example.py) and every library object driven by the dev server
with the client on the unix port; min/max of the sensors through every setter."""
import json
import os
import re

from devclient import DevClient, ROOT
from lwm2m_server import Server

SENML_JSON, TEXT, TLV = 110, 0, 11542


def _values(r):
    out, bn = {}, ""
    for e in json.loads(r.payload):
        bn = e.get("bn", bn)
        n = bn + e.get("n", "")
        out[n.rstrip("/")] = next(e[k] for k in ("v", "vb", "vs", "vd", "vlo") if k in e)
    return out


def _example_lines():
    # the custom object of the example, between its markers
    src = open(os.path.join(ROOT, "firmware", "app_example.py")).read()
    body = src.split("# -- custom object: begin\n")[1].split("# -- custom object: end")[0]
    return [l for l in body.splitlines() if l.strip()]


def test_example_app_custom_actuator_and_sensor():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "ex", "--app", "firmware.app_example")
        try:
            reg = srv.wait_registration("ex", timeout=20)
            assert "</33000/0>" in reg.objects and "</3303/0>" in reg.objects
            n_reg = len([e for e in srv.events if e["kind"] == "register"])
            # a write reaches the callback with a typed value, whatever the format
            assert srv.write("ex", "/33000/0/0", b"1", TEXT).code == "2.04"
            c.wait_line("valve 0 open (bool)")
            senml = json.dumps([{"bn": "/33000/0/", "n": "1", "v": 55}]).encode()
            assert srv.write("ex", "/33000/0", senml, SENML_JSON, partial=True).code == "2.04"
            c.wait_line("valve 0 limit 55 (int)")
            # the RES table's range: refused before the callback, nothing changed
            assert srv.write("ex", "/33000/0/1", b"101", TEXT).code == "4.00"
            assert _values(srv.read("ex", "/33000/0", accept=SENML_JSON))["/33000/0/1"] == 55
            # execute with arguments
            assert srv.execute("ex", "/33000/0/2", b"0='30'").code == "2.04"
            c.wait_line("valve 0 flush 30 s")
            assert srv.execute("ex", "/33000/0/2", b"0=30").code == "4.00"    # not a valid argument list
            # a callback that raises: 5.00 for that request only, logged
            assert srv.execute("ex", "/33000/0/2", b"0='fail'").code == "5.00"
            c.wait_line("flush valve 0: cannot")
            # ... and the client carries on, still registered (no new Register)
            assert srv.read("ex", "/3/0/0").code == "2.05"
            assert srv.write("ex", "/33000/0/0", b"0", TEXT).code == "2.04"
            c.wait_line("valve 0 closed (bool)")
            assert len([e for e in srv.events if e["kind"] == "register"]) == n_reg
            # the sensor: a ramp with min/max
            v = _values(srv.read("ex", "/3303/0", accept=SENML_JSON))
            assert v["/3303/0/5601"] == 20.5 and v["/3303/0/5602"] == v["/3303/0/5700"] >= 20.5
            assert v["/3303/0/5701"] == "Cel"
        finally:
            c.interrupt()
        assert "Traceback" not in c.output()


def test_custom_object_is_short():
    lines = _example_lines()
    assert lines[0].startswith("class Valve(Obj)") and len(lines) <= 15


def _ipso_client(srv, ep):
    c = DevClient("coap://127.0.0.1:%d" % srv.port, ep, "--app", "host_tests.apps.ipsoapp")
    srv.wait_registration(ep, timeout=20)
    c.wait_line("timer error")
    c.wait_line("tick 2")
    return c


def test_ipso_library_read_write_execute_observe():
    with Server(port=0) as srv:
        c = _ipso_client(srv, "ipso")
        try:
            reg = srv.registration("ipso")
            for oid in (3303, 3304, 3315, 3300, 3200, 3201, 3342, 3347, 3311, 3306, 6):
                assert "</%d/0>" % oid in reg.objects
                r = srv.read("ipso", "/%d/0" % oid, accept=SENML_JSON)
                assert r.code == "2.05", (oid, r.code)
            # an application timer that raised was logged once and the client carries on
            assert c.output().count("timer error RuntimeError('application bug'") == 1
            # the sensors: value, units, min/max (each fed through another setter)
            for oid, units in ((3303, "Cel"), (3304, "%RH"), (3315, "hPa"), (3300, "uSv")):
                v = _values(srv.read("ipso", "/%d/0" % oid, accept=SENML_JSON))
                p = "/%d/0/" % oid
                assert v[p + "5701"] == units
                assert v[p + "5601"] < v[p + "5602"] and v[p + "5602"] >= v[p + "5700"] > v[p + "5601"]
            v = _values(srv.read("ipso", "/3315/0", accept=SENML_JSON))
            assert v["/3315/0/5603"] == 300.0 and v["/3315/0/5604"] == 1100.0
            assert srv.read("ipso", "/3300/0/5751", accept=TEXT).payload == b"radiation"
            # Reset Min and Max: both become the current value
            assert srv.execute("ipso", "/3303/0/5605").code == "2.04"
            v = _values(srv.read("ipso", "/3303/0", accept=SENML_JSON))
            assert v["/3303/0/5601"] <= v["/3303/0/5602"] and v["/3303/0/5601"] >= v["/3303/0/5700"] - 3
            # writes: typed values reach the callbacks; ranges refuse
            for path, payload, seen in (("/3201/0/5550", b"1", "cb 3201/0/5550 True bool"),
                                        ("/3311/0/5850", b"1", "cb 3311/0/5850 True bool"),
                                        ("/3311/0/5851", b"40", "cb 3311/0/5851 40 int"),
                                        ("/3311/0/5706", b"warm", "cb 3311/0/5706 'warm' str"),
                                        ("/3306/0/5850", b"1", "cb 3306/0/5850 True bool"),
                                        ("/3306/0/5750", b"pump", "cb 3306/0/5750 'pump' str"),
                                        ("/3200/0/5502", b"0", "cb 3200/0/5502 False bool"),
                                        ("/3342/0/5750", b"wall", "cb 3342/0/5750 'wall' str")):
                assert srv.write("ipso", path, payload, TEXT).code == "2.04", path
                c.wait_line(seen)
            assert srv.write("ipso", "/3311/0/5851", b"101", TEXT).code == "4.00"
            assert srv.write("ipso", "/3306/0/5851", b"-1", TEXT).code == "4.00"
            assert srv.write("ipso", "/3303/0/5700", b"1", TEXT).code == "4.05"     # read-only
            assert srv.write("ipso", "/6/0/0", b"1", TEXT).code == "4.05"
            # the light is on: its On Time counts (client time runs on a virtual clock)
            on = int(srv.read("ipso", "/3311/0/5852", accept=TEXT).payload)
            assert on >= 0
            # counters: the button's rising edges; Digital Input Counter Reset
            assert int(srv.read("ipso", "/3347/0/5501", accept=TEXT).payload) >= 1
            assert srv.execute("ipso", "/3200/0/5505").code == "2.04"
            # location from the application's fix, with its timestamp
            v = _values(srv.read("ipso", "/6/0", accept=SENML_JSON))
            assert 48.0 < v["/6/0/0"] < 49 and v["/6/0/1"] == 11.0 and v["/6/0/2"] == 500.0 and v["/6/0/5"] > 0
            # /3 and /4 take their values from the board
            v = _values(srv.read("ipso", "/4/0", accept=SENML_JSON))
            assert v["/4/0/0"] == 41 and v["/4/0/4/0"] == "127.0.0.1"
            assert srv.read("ipso", "/3/0/10", accept=TEXT).code == "2.05"
            # observe: a value the application changes, one a server writes, a counter
            obs = [srv.observe("ipso", p) for p in ("/3303/0/5700", "/3303/0/5602", "/3347/0/5501",
                                                     "/6/0/0", "/3201/0/5550", "/3304/0")]
            assert all(o.first.code == "2.05" and o.active for o in obs)
            srv.write("ipso", "/3201/0/5550", b"0", TEXT)
            for o in obs:
                o.wait(1, timeout=20)
            assert obs[4].notifications[0].payload in (b"0", b"false")
        finally:
            c.interrupt()
        out = c.output()
        assert "Traceback" not in out and "deregistered" in out


MINMAX = r"""
from boards.virtual import VirtualBoard
from client.app import Client
from objects.ipso import Temperature, Sensor
b = VirtualBoard("/tmp/h6-minmax-nowhere")
t = Temperature()
app = Client(endpoint="mm", server="coap://127.0.0.1:9", board=b, objs=[t])
seen = []
core = app.c
core.changed = lambda p, s=False: seen.append(p)
# every setter: the sensor's own, the object's generic, the app client's (the core's)
t.measure(22.0); t.set(0, 5700, 18.0); app.set((3303, 0, 5700), 25.0); t.store(0, 5700, 21.0); core.changed((3303, 0, 5700))
i = t.inst[0]
print(i[5700], i[5601], i[5602])
print(sorted(set(p for p in seen)))
t.execute(0, 5605, "")
print(i[5601], i[5602])
s = Sensor(1)
print(5601 in s.inst[0], 5602 in s.inst[0])
"""


def test_sensor_min_max_through_every_setter(mp):
    out = mp(MINMAX).split("\n")
    assert out[0] == "21.0 18.0 25.0"
    assert out[1] == "[(3303, 0, 5601), (3303, 0, 5602), (3303, 0, 5700)]"
    assert out[2] == "21.0 21.0"
    assert out[3] == "False False"      # nothing measured yet: no min/max


ASYNC_APP = r"""
import asyncio
from client.app import Client
from objects.ipso import Temperature
t = Temperature()
app = Client(endpoint="aio", server="coap://127.0.0.1:%d", objs=[t], log=print)

async def sensor():
    v = 20.0
    while True:
        v += 1
        t.measure(v)
        await asyncio.sleep_ms(100)

async def main():
    s = asyncio.create_task(sensor())
    task = asyncio.create_task(app.serve())
    await asyncio.sleep_ms(2500)
    task.cancel()       # the application ends: De-register
    s.cancel()
    await asyncio.sleep_ms(300)
    print("done")

asyncio.run(main())
"""


def test_asyncio_serve(tmp_path):
    import threading
    from conftest import run_mp
    with Server(port=0) as srv:
        out = {}
        th = threading.Thread(target=lambda: out.update(o=run_mp(ASYNC_APP % srv.port, timeout=60, check=False)))
        th.start()
        try:
            srv.wait_registration("aio", timeout=20)
            r = srv.read("aio", "/3303/0/5700", accept=TEXT)
            assert r.code == "2.05" and float(r.payload) > 20
            srv.wait_event("deregister", "aio", timeout=20)
        finally:
            th.join(60)
        assert "done" in out["o"] and "deregistered" in out["o"]


def test_fatal_error_deregisters_before_exiting():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "fatal", "--app", "host_tests.apps.fatalapp")
        try:
            srv.wait_registration("fatal", timeout=20)
            srv.wait_event("deregister", "fatal", timeout=20)
            assert c.p.wait(20) != 0
            c.t.join(5)
        finally:
            c.kill()
        out = c.output()
        assert out.index("fatal error RuntimeError('job failed'") < out.index("deregistered")


def test_example_runs_as_a_script_from_anywhere(tmp_path):
    import subprocess
    from devclient import MICROPYTHON
    with Server(port=0) as srv:
        p = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "firmware", "app_example.py"), "--server",
                              "coap://127.0.0.1:%d" % srv.port, "--endpoint", "script-ex", "--clock", "virtual",
                              "--state", str(tmp_path)], cwd=str(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            reg = srv.wait_registration("script-ex", timeout=20)
            assert "</33000/0>" in reg.objects
        finally:
            p.kill()
            p.communicate(timeout=10)
