#!/bin/bash
# SAOImage DS9 desktop-app (seed rule: /skaha/startup.sh gets the command to run and ends with
# exec "$@"). The platform calls it with its xterm launcher: DS9 opens next to that terminal and
# the app lives as long as the terminal does. Without a display (tests), only the command runs.
#
# DS9 keeps its preferences in ~/.ds9 (DS9_HOME is not that: /usr/bin/ds9 reads it as the
# installation directory, so it is left alone). XPA uses local sockets in /tmp rather than TCP
# ports in the desktop's network namespace.
mkdir -p "${HOME:-/tmp}/.ds9" 2>/dev/null || true
export XPA_METHOD="${XPA_METHOD:-local}"
if [ -n "${DISPLAY:-}" ] && [ -z "${SKAHA_DS9_NO_AUTOSTART:-}" ]; then
  (cd "${HOME:-/}" 2>/dev/null || cd /; exec ds9) &
fi
exec "$@"
