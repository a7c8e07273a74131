#!/bin/bash
# Desktop sessions (spec §8): build the Astro Software menu from the platform's desktop-app
# images, then start the image's VNC stack (/dockerstartup/vnc_startup.sh).
set -e
mkdir -p "$HOME" 2>/dev/null || true
/skaha-system/build-menu.py || echo "start-desktop: the menu could not be built; starting without it" >&2
if [ -x /dockerstartup/vnc_startup.sh ]; then exec /dockerstartup/vnc_startup.sh; fi
echo "start-desktop: this image has no /dockerstartup/vnc_startup.sh; it is not a skaha desktop image" >&2
exit 1
