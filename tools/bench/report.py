"""Information-reporting figures for `make bench`: scenario_bytes (Register +
5 Observe first responses + Read /3/0 + Discover /3, both directions, counted
by a UDP relay) and min_heap_10_obs_wk (smallest heap with 10 observations
notifying, client loaded from .mpy)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from devclient import DevClient  # noqa: E402
from lwm2m_server import Server  # noqa: E402
from sim.udpproxy import Proxy  # noqa: E402

OBSERVED = ["/3/0/0", "/3/0/13", "/3303/0/5700", "/1/0/1", "/4/0/2"]
TEN = ["/3/0/0", "/3/0/13", "/3303/0/5700", "/1/0/1", "/4/0/2", "/3/0/10", "/3303/0",
       "/3/0/11", "/4/0", "/1/0/3"]


def scenario_bytes():
    with Server(port=0) as srv:
        px = Proxy(srv.port)
        c = DevClient("coap://127.0.0.1:%d" % px.port, "scn", "--lifetime", "86400", "--quiet",
                      mpy=True, clock="real")
        try:
            srv.wait_registration("scn", timeout=10)
            for p in OBSERVED:
                o = srv.observe("scn", p)
                assert o.first.code == "2.05", (p, o.first.code)
            assert srv.read("scn", "/3/0").code == "2.05"
            assert srv.discover("scn", "/3").code == "2.05"
            return {"scenario_bytes": px.up + px.down, "scenario_datagrams": px.dg_up + px.dg_down}
        finally:
            c.kill()
            px.close()


def ten_observations(heap):
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "obs10", "--lifetime", "86400", "--quiet",
                      "--app", "host_tests.apps.sensorapp", mpy=True, heap=heap)
        try:
            srv.wait_registration("obs10", timeout=8)
            srv.write("obs10", "/1/0/3", b"60", 0, timeout=5)     # default pmax 60 s
            obs = [srv.observe("obs10", p, timeout=5) for p in TEN]
            for o in obs:
                o.wait(2, timeout=8)
            return True
        except Exception:
            return False
        finally:
            c.kill()


def min_heap_10_obs():
    from bench.core import min_heap_for
    return min_heap_for(ten_observations, hi=128)


def measure():
    r = scenario_bytes()
    r["min_heap_10_obs_wk"] = min_heap_10_obs()
    return r


if __name__ == "__main__":
    print(measure())
