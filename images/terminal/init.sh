#!/bin/sh
# Run-time initialisation of the skaha terminal (seed rule: /skaha/init.sh must return at once).
# The platform runs it before the xterm; with Podman or Docker it is the image's CMD, for testing.
echo "skaha terminal: init as uid $(id -u) on ${DISPLAY:-no display}, HOME=${HOME:-unset}"
touch /tmp/skaha-init-ran 2>/dev/null || true
exit 0
