# A device application whose background job fails outside any request or
# timer (a bug in the client's own loop): the client de-registers, then exits.
class Bomb:
    def __init__(self, c):
        self.c, self.due = c, c.board.clock.ms() + 30000

    def step(self, now):
        if now >= self.due:
            raise RuntimeError("job failed")

    def deadline(self):
        return self.due

    def busy(self):
        return False


def start(c):
    c.tasks.append(Bomb(c))
