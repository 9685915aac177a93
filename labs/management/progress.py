"""Following a lab or a persist job from a command until it settles."""

import time

# Seconds between two reads of the row being followed. Workers write
# progress at most every half second, so reading faster shows nothing new.
POLL_INTERVAL = 0.5


def wait_until(load, settled, timeout, on_read=None, *, interval=POLL_INTERVAL,
               clock=time.monotonic, sleep=time.sleep):
    """Read a row with LOAD until SETTLED(row) is true or TIMEOUT seconds have passed.

    ON_READ(row) is called after every read. Return ``(row, settled)``; a
    TIMEOUT of 0 reads once.
    """
    deadline = clock() + timeout
    while True:
        row = load()
        if on_read is not None:
            on_read(row)
        if settled(row):
            return row, True
        remaining = deadline - clock()
        if remaining <= 0:
            return row, False
        sleep(min(interval, remaining))


def format_bytes(count):
    """Return COUNT bytes as "512 B", "3.2 MB" or "1.1 GB" (powers of 1000, as registries report)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def describe_progress(job):
    """Describe a persist job's progress in one line: status, step, bytes and layers so far."""
    parts = [job.status]
    if job.step:
        parts.append(job.step)
    if job.bytes_total:
        parts.append(f"{format_bytes(job.bytes_done)} of {format_bytes(job.bytes_total)}")
    if job.layers_total:
        parts.append(f"{job.layers_done}/{job.layers_total} layers")
    return ": ".join(parts[:2]) + "".join(f", {part}" for part in parts[2:])
