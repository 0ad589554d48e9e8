# Example application: a custom actuator (a valve, object 33000, declared
# once below) and an IPSO temperature sensor, on the application API
# (client/app.py). Run it like the firmware, e.g. on the unix port:
#   micropython firmware/app_example.py --server coap://127.0.0.1:5683 --endpoint valve-1
# (it is firmware/main.py with --app app_example: same options, --help).
import sys
if sys.path[0].endswith("firmware"):    # run as a script: the packages are in firmware/'s parent
    sys.path.insert(1, sys.path[0][:-8])
from client.app import Obj, RW, E, BOOL, INT, NONE  # noqa: E402
from objects.ipso import Temperature  # noqa: E402


# -- custom object: begin
class Valve(Obj):
    ID = 33000
    RES = ((0, RW, BOOL, 0, 1),             # Open
           (1, RW, INT, 0, 0, (0, 100)),    # Flow limit, %
           (2, E, NONE, 0, 0))              # Flush; argument 0: seconds
# -- custom object: end


def start(c):
    # c: the client (add, set, at, send, log), at every boot (firmware/main.py --app)
    valve = c.add(Valve(1))
    temp = c.add(Temperature())
    state = {"t": 20.0}

    @valve.on_write(0)
    def opened(iid, on):
        c.log("valve %d %s (%s)" % (iid, "open" if on else "closed", type(on).__name__))

    @valve.on_write(1)
    def limit(iid, pct):
        c.log("valve %d limit %r (%s)" % (iid, pct, type(pct).__name__))

    @valve.on_execute(2)
    def flush(iid, args):
        if args.get(0) == "fail":
            raise ValueError("flush valve %d: cannot" % iid)
        c.log("valve %d flush %s s" % (iid, args.get(0)))

    def sample():       # a "sensor": a ramp every 10 s of client time
        state["t"] += 0.5
        temp.measure(state["t"])
        c.at(10000, sample)
    sample()


if __name__ == "__main__":
    import main
    main.main(sys.argv[1:] + ["--app", "app_example"])
