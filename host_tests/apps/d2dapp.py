# A device application for the device-to-device tests: serves the IPSO
# objects on a local CoAP port (LWM2M_LOCAL_PORT) beside the LwM2M
# registration, and moves the temperature every 2 s of client time.
import os


def start(c):
    c.serve_local(int(os.getenv("LWM2M_LOCAL_PORT")))
    state = {"v": 21.0}

    def sample():
        state["v"] += 0.5
        c.set((3303, 0, 5700), state["v"])
        c.at(2000, sample)
    c.set((3303, 0, 5700), state["v"])
    c.at(2000, sample)
