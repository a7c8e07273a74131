#!/bin/bash
# Notebook sessions (spec §4.2): JupyterLab at /session/notebook/<id>/ on port 8888, token = session ID,
# config and runtime dirs under $HOME (set by the platform's env).
set -e
SESSION_ID="$1"
mkdir -p "$HOME" "${JUPYTER_RUNTIME_DIR:-$HOME/.local/share/jupyter/runtime}" 2>/dev/null || true
cd "$HOME"
exec jupyter lab \
  --ServerApp.ip=0.0.0.0 \
  --ServerApp.port=8888 \
  --ServerApp.base_url="session/notebook/${SESSION_ID}" \
  --ServerApp.root_dir=/ \
  --ServerApp.allow_origin='*' \
  --ServerApp.open_browser=False \
  --ServerApp.token="${JUPYTER_TOKEN:-$SESSION_ID}" \
  ${JUPYTERLAB_ARGS}
