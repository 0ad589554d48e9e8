# boot.py: runs first on every boot, before main.py (make deploy copies it
# to the board's root). Kept tiny: a mistake here locks out the REPL more
# easily than one in main.py. The board itself is picked when main.py
# starts (boards/config.py: board.json's "board", else sys.platform).
import gc

gc.collect()
