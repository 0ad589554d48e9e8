# A device application for the ESP32 board tests: a counter in /3303/0/5700
# that goes up by one every 300 ms of client time (from the first step), so a
# lost notification shows as a gap.
def start(c):
    n = [0]

    def tick():
        n[0] += 1
        c.set((3303, 0, 5700), float(n[0]))
        c.at(300, tick)
    c.at(300, tick)
