#!/usr/bin/env python3
"""X authority files for the desktop's own clients (fluxbox, xterm, xrdb), used by vnc_startup.sh.

  xcookie.py new DST DISPLAY       write one new random MIT-MAGIC-COOKIE-1 for DISPLAY
  xcookie.py wild SRC DST DISPLAY  copy SRC's MIT-MAGIC-COOKIE-1 entries for DISPLAY to DST

DST entries are FamilyWild (any host name, any address), like the file the platform mounts: an
entry bound to one host name (what `xauth add :1 ...` writes) would not match inside a container,
whose host name is its own. The X server itself is given SRC (or DST for `new`) with -auth.
"""
import os
import sys

FAMILY_WILD = 0xFFFF
MIT = b"MIT-MAGIC-COOKIE-1"


def counted(data):
    return len(data).to_bytes(2, "big") + data


def entry(display, cookie):
    return FAMILY_WILD.to_bytes(2, "big") + counted(b"") + counted(display.encode()) + counted(MIT) + counted(cookie)


def read_entries(path):
    """(family, address, display, name, data) tuples of an Xauthority file."""
    with open(path, "rb") as f:
        raw = f.read()
    out, i = [], 0

    def field():
        nonlocal i
        n = int.from_bytes(raw[i:i + 2], "big")
        value = raw[i + 2:i + 2 + n]
        if len(value) != n:
            raise ValueError("truncated Xauthority file")
        i += 2 + n
        return value

    while i + 2 <= len(raw):
        family = int.from_bytes(raw[i:i + 2], "big")
        i += 2
        out.append((family, field(), field().decode(errors="replace"), field(), field()))
    return out


def write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def main(argv):
    if len(argv) == 4 and argv[1] == "new":
        write(argv[2], entry(argv[3], os.urandom(16)))
        return 0
    if len(argv) == 5 and argv[1] == "wild":
        display = argv[4]
        cookies = []
        for _family, _address, number, name, data in read_entries(argv[2]):
            if name == MIT and number in (display, "") and data not in cookies:
                cookies.append(data)
        if not cookies:
            print(f"xcookie: no MIT-MAGIC-COOKIE-1 for display {display} in {argv[2]}", file=sys.stderr)
            return 1
        write(argv[3], b"".join(entry(display, c) for c in cookies))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
