# A device application for the end-to-end tests: it reads a "sensor" every
# 30 s of client time (a ramp), and Sends a report before it is even
# registered (queued until registration) and then every 120 s.
def start(c):
    state = {"v": 20.0}

    def sample():
        state["v"] += 0.5
        c.set((3303, 0, 5700), state["v"])
        c.at(30000, sample)

    def report():
        c.send([(3303, 0, 5700), (3, 0, 0)])
        c.at(120000, report)
    c.at(30000, sample)
    report()
