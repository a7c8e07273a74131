#!/bin/bash
# The terminal a software container runs in (spec §8), titled after the app.
exec xterm -fg white -bg black -title "${SKAHA_XTERM_TITLE:-skaha}" \
  -xrm 'XTerm*bellIsUrgent: false' -xrm 'XTerm*bellIsAudible: false' -e bash -l
