# A device application for the IPSO library tests: every object of the
# library, callbacks that log the typed values they get, values fed by a
# timer (every 10 s of client time) through the library's setters, and a
# timer that raises once (logged, not rescheduled, the client carries on).
from objects.ipso import Temperature, Humidity, Barometer, Generic
from objects.ipso_io import Input, Output, Switch, Button
from objects.ipso_act import Actuator, Light
from objects.location import Location


def start(c):
    objs = [Temperature(), Humidity(), Barometer(lo=300.0, hi=1100.0), Generic(units="uSv", kind="radiation"),
            Input(), Output(1), Switch(), Button(), Light(), Actuator(), Location()]
    for o in objs:
        c.add(o)

    def cb(o, rid):
        def f(iid, v):
            c.log("cb %d/%d/%d %r %s" % (o.ID, iid, rid, v, type(v).__name__))
        return f
    for o in objs:
        for r in o.RES:
            if r[1] & 2:
                o.on_write(r[0])(cb(o, r[0]))
    st = {"n": 0}

    def tick():
        n = st["n"] = st["n"] + 1
        objs[0].measure(20.0 + n)               # the sensor's own setter
        objs[1].set(0, 5700, 40.0 + n)          # the object's generic setter
        c.set((3315, 0, 5700), 1000.0 + n)      # the client's setter
        objs[3].store(0, 5700, 0.1 * n)         # store() (what every setter goes through)
        c.changed((3300, 0, 5700))
        objs[7].press(n % 2 == 1)               # the button: pressed / released
        objs[4].press(n % 2 == 1)
        objs[6].press(n % 4 < 2)
        objs[10].fix(48.0 + n / 1000, 11.0, alt=500.0)
        c.log("tick", n)
        c.at(10000, tick)
    c.at(10000, tick)

    def boom():
        raise RuntimeError("application bug")
    c.at(5000, boom)
