# A device application that hangs the loop 1.5 s after start (a driver that
# never returns): only the watchdog gets the device out of it.
def start(c):
    def hang():
        print("hanging")
        while True:
            pass
    c.at(1500, hang)
