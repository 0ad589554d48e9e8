# A unix board on a virtual clock: real sockets on loopback, but time only
# moves when the client waits. A wait that sees no datagram within a short
# real slice jumps the clock to its end, so days of device life run in seconds.
from boards.unix import Board


class VClock:
    def __init__(self, epoch=1767225600):    # 2026-01-01T00:00:00Z
        self.now = 0
        self.epoch = epoch

    def ms(self):
        return self.now

    def time(self):
        return self.epoch + self.now // 1000


class VirtualBoard(Board):
    def __init__(self, state="state", slice_ms=30):
        super().__init__(state)
        self.clock = VClock()
        self.slice = slice_ms
        try:        # the virtual RTC runs on through a simulated deep sleep
            with open(state + "/vclock") as f:
                self.clock.now = int(f.read())
        except OSError:
            pass

    def rtc_ms(self):
        return self.clock.epoch * 1000 + self.clock.now

    def deep_sleep(self, ms):
        for t in list(self.open):
            t.close()
        self.clock.now += ms
        with open(self.state + "/vclock", "w") as f:
            f.write(str(self.clock.now))

    def wait(self, ms):
        ms = int(ms)
        if ms <= 0:
            return
        if self.open and self.input(self.poll.poll(min(ms, self.slice))):
            self.clock.now += 1     # something arrived: time barely moves
            return
        self.clock.now += ms
