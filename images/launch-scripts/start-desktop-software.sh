#!/bin/bash
# Software containers on a desktop (seed document, spec §8): the image's CMD is ignored; run
# /skaha/init.sh if present (it must return), then /skaha/startup.sh <xterm launcher> if present
# (it must end with exec "$@"), else the xterm launcher itself. The app lives as long as its xterm.
USERID="$1"
TITLE="${2:-skaha}"
export SKAHA_XTERM_TITLE="$TITLE"
cd "$HOME" 2>/dev/null || cd /
# An app launched while its desktop is still starting would find no X server and fail: wait for
# the display (TCP 6000+N on the desktop, whose network the app shares), up to 60 s.
display_host="${DISPLAY%%:*}"
display_number="${DISPLAY##*:}"
display_number="${display_number%%.*}"
if [ -n "$display_number" ]; then
  for _ in $(seq 1 120); do
    (exec 3<>"/dev/tcp/${display_host:-127.0.0.1}/$((6000 + display_number))") 2>/dev/null && break
    sleep 0.5
  done
fi
if [ -x /skaha/init.sh ]; then /skaha/init.sh; fi
if [ -x /skaha/startup.sh ]; then
  exec /skaha/startup.sh /skaha-system/start-desktop-software-xterm.sh
fi
exec /skaha-system/start-desktop-software-xterm.sh
