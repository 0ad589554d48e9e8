"""PNG of the radio state over one day per awake policy, from the traces of
run_client or simulate(..., trace=True): matplotlib (Agg) when installed,
else a plain raster written with zlib."""
import os

from .config import DAY_MS, PSM, IDLE, CONN, NAMES


def _day(trace, day):
    # state steps within one day: [(s from day start, state)]
    t0, t1 = day * DAY_MS, (day + 1) * DAY_MS
    st, pts = PSM, []
    for t, s in trace:
        if t <= t0:
            st = s
        elif t < t1:
            pts.append(((t - t0) / 1000, s))
    return [(0.0, st)] + pts + [(86400.0, pts[-1][1] if pts else st)]


def plot(results, path, day=1):
    """PNG of the radio state over one day per policy (and a zoom on the first
    wake-up that served a request); matplotlib if present, else a raster."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    series = {n: _day(r["trace"], day) for n, r in results.items()}
    zoom = None
    for n, r in results.items():
        c = r["config"]
        if c["requests_per_day"]:
            # the wake-up that delivers the first request of the day
            tr = (DAY_MS // (2 * c["requests_per_day"])) / 1000
            ws = [t for t, s in series[n] if s == CONN and t >= tr]
            zoom = (ws[0] - 10, ws[0] + 130) if ws else None
            break
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _raster(series, path)
    cols = 2 if zoom else 1
    fig, axs = plt.subplots(len(series), cols, figsize=(12, 1.9 * len(series)), squeeze=False,
                            gridspec_kw={"width_ratios": [3, 1] if zoom else [1]})
    for i, (n, pts) in enumerate(series.items()):
        r = results[n]
        for j in range(cols):
            ax = axs[i][j]
            x0, scale = (0, 3600) if j == 0 else (zoom[0] + 10, 1)
            xs = [(p[0] - x0) / scale for p in pts]
            ys = [p[1] for p in pts]
            ax.step(xs, ys, where="post", lw=0.9, color="C%d" % i)
            ax.fill_between(xs, ys, step="post", alpha=0.3, color="C%d" % i)
            ax.set_yticks([PSM, IDLE, CONN])
            ax.set_yticklabels(NAMES if j == 0 else [])
            ax.set_ylim(-0.2, 2.3)
            if j == 0:
                ax.set_xlim(0, 24)
                ax.set_title("%s: radio on %.0f s/day, %.0f wake-ups/day, %.2f mAh/day, %.1f years"
                             % (n, r["radio_on_s_day"], r["wakeups_day"], r["mah_day"],
                                r["battery_years"] or 0), fontsize=9, loc="left")
            else:
                ax.set_xlim(-10, 130)
                ax.set_title("s after the wake-up at %02d:%02d (serves a request)"
                             % (x0 // 3600, x0 % 3600 // 60), fontsize=8, loc="left")
        axs[i][0].set_xticks(range(0, 25, 3))
    axs[-1][0].set_xlabel("hour of day %d" % day)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _raster(series, path, w=1200, h=60):
    # fallback: one colour band per policy (state by brightness), PNG via zlib
    import struct
    import zlib
    col = {PSM: (235, 235, 235), IDLE: (120, 170, 230), CONN: (200, 40, 40)}
    rows = []
    for pts in series.values():
        px = [PSM] * w
        for k in range(len(pts) - 1):
            a, s = pts[k]
            b = pts[k + 1][0]
            for x in range(int(a * w / 86400), min(w, int(b * w / 86400) + 1)):
                px[x] = max(px[x], s)
        line = bytes([0]) + b"".join(bytes(col[s]) for s in px)
        rows += [line] * h + [bytes([0]) + b"\xff" * (3 * w)] * 4

    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, len(rows), 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)
    return path
