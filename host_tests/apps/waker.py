# A device application for the queue-mode interop test: every 3 s of client
# time a new reading, and an application event that wakes the radio
# (client.wake(): the Update goes first, then the stored notification).
def start(c):
    n = [0]

    def tick():
        n[0] += 1
        c.set((3303, 0, 5700), 20.0 + n[0])
        c.wake()
        c.at(3000, tick)
    c.at(3000, tick)
