#!/bin/bash
# SAOImage DS9 desktop-app (seed rule: /skaha/startup.sh gets the command to run and ends with
# exec "$@"). The platform calls it with its xterm launcher: DS9 opens next to that terminal and
# the app lives as long as the terminal does. Without a display (tests), only the command runs.
export DS9_HOME="${HOME:-/tmp}/.ds9"
mkdir -p "$DS9_HOME" 2>/dev/null || true
if [ -n "${DISPLAY:-}" ] && [ -z "${SKAHA_DS9_NO_AUTOSTART:-}" ]; then
  (cd "${HOME:-/}" 2>/dev/null || cd /; exec ds9) &
fi
exec "$@"
