#!/bin/bash
# Desktop sessions (spec §8): build the Astro Software menu (when the image provides the builder),
# then start the VNC stack of the image.
set -e
mkdir -p "$HOME" 2>/dev/null || true
if [ -x /skaha-system/build-menu.sh ]; then /skaha-system/build-menu.sh "$1" || exit 1; fi
if [ -x /dockerstartup/vnc_startup.sh ]; then exec /dockerstartup/vnc_startup.sh; fi
echo "start-desktop: this image has no /dockerstartup/vnc_startup.sh; it is not a skaha desktop image" >&2
exit 1
