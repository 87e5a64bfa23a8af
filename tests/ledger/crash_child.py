"""The process a crash loop kills: appends from several threads until SIGKILL arrives.

Prints ``A <index> <hex data>`` after each append is confirmed (returned by the store, hence
durable) and ``C <size>`` after each checkpoint it signed; both are flushed at once, so every
line the parent reads is a promise the log must keep.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from safepassage.ledger.log import Log

THREADS = 4


def main() -> None:
    directory, tag = Path(sys.argv[1]), sys.argv[2]
    log = Log.open(directory)
    out = threading.Lock()

    def say(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def appender(k: int) -> None:
        seq = 0
        while True:
            data = b"%s/%d/%d" % (tag.encode(), k, seq)
            index = log.append(data)
            say(f"A {index} {data.hex()}")
            seq += 1
            if seq % 25 == 0 and k == 0:
                note = log.checkpoint()
                say(f"C {log.open_checkpoint(note).size}")

    threads = [threading.Thread(target=appender, args=(k,), daemon=True) for k in range(THREADS)]
    say("READY")
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
