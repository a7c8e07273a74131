#!/bin/bash
# Software containers on a desktop (seed document, spec §8): the image's CMD is ignored; run
# /skaha/init.sh if present (it must return), then /skaha/startup.sh <xterm launcher> if present
# (it must end with exec "$@"), else the xterm launcher itself. The app lives as long as its xterm.
USERID="$1"
TITLE="${2:-skaha}"
export SKAHA_XTERM_TITLE="$TITLE"
cd "$HOME" 2>/dev/null || cd /
if [ -x /skaha/init.sh ]; then /skaha/init.sh; fi
if [ -x /skaha/startup.sh ]; then
  exec /skaha/startup.sh /skaha-system/start-desktop-software-xterm.sh
fi
exec /skaha-system/start-desktop-software-xterm.sh
