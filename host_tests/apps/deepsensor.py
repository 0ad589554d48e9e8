# A device application for the deep-sleep tests: at every boot and then every
# 300 s of client time it reads a "sensor" whose value is the number of the
# 300 s period it is read in (so every sample is known and distinct), with the
# radio off most of the time: the notifications are stored.
def start(c):
    def sample():
        c.set((3303, 0, 5700), float(c.board.clock.ms() // 300000))
        c.at(300000, sample)
    c.at(0, sample)
