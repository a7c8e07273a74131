#!/bin/bash
# skaha desktop (ARCADE) session: a TigerVNC X server on display :1, fluxbox, one xterm, and noVNC
# on port 6901. Run by /skaha-system/start-desktop.sh after it has written the Astro Software menu
# to /tmp/skaha-desktop/menu; also the image's CMD, for testing outside skaha.
#
#   VNC_PW       VNC password (skaha: the session ID; the noVNC page sends it; VNC uses only
#                its first 8 characters). Required.
#   XAUTHORITY   X cookie file the platform mounts read-only; the X server (-auth) accepts exactly
#                those cookies. Desktop-apps share this network namespace and reach the server as
#                DISPLAY=127.0.0.1:1 (TCP 6001) with the same file. Without it, a private cookie
#                is made here, so the display is never open to everyone. The desktop's own
#                clients use a private FamilyWild copy (xcookie.py).
#   HOME         the user's home: the terminals start there; nothing is written to it here.
#   VNC_GEOMETRY initial screen size (default 1280x800; the noVNC page resizes it to the window).
#
# Runs as any uid with no capabilities; everything it writes goes under /tmp.
set -Eeuo pipefail

DISPLAY_NUM=1
VNC_PORT=5901
NOVNC_PORT=6901
GEOMETRY="${VNC_GEOMETRY:-1280x800}"
WEB_DIR=/opt/skaha-novnc
MENU="${SKAHA_DESKTOP_DIR:-/tmp/skaha-desktop}/menu"
BACKGROUND='#2b4257'

log() { printf '[vnc_startup] %s\n' "$*"; }
die() { printf '[vnc_startup] ERROR: %s\n' "$*" >&2; exit 1; }

[ -n "${VNC_PW:-}" ] || die "VNC_PW is not set"
# The user's login shell (bash sets SHELL=/bin/sh for a uid without a passwd entry): else bash.
login_shell="$(getent passwd "$(id -u)" | cut -d: -f7 || true)"
[ -n "$login_shell" ] && [ -x "$login_shell" ] || login_shell=/bin/bash
export SHELL="$login_shell"
[ -n "${HOME:-}" ] || export HOME=/tmp

# Private files (VNC password, fallback cookie, fluxbox config) in a 0700 directory.
user_umask="$(umask)"
umask 077
run="$(mktemp -d /tmp/skaha-vnc.XXXXXX)"
printf '%s\n' "$VNC_PW" | vncpasswd -f >"$run/passwd" || die "vncpasswd failed"
chmod 600 "$run/passwd"

# The X server takes the cookies of $XAUTHORITY (-auth); this desktop's own clients use a private
# FamilyWild copy of them, so an entry bound to another host name still works here.
if [ -n "${XAUTHORITY:-}" ] && [ -f "$XAUTHORITY" ] && [ -r "$XAUTHORITY" ]; then
  server_auth="$XAUTHORITY"
  /dockerstartup/xcookie.py wild "$server_auth" "$run/Xauthority" "$DISPLAY_NUM" \
    || die "no usable X cookie in XAUTHORITY=$server_auth"
  log "X access: MIT-MAGIC-COOKIE-1 from $server_auth"
else
  [ -z "${XAUTHORITY:-}" ] || log "XAUTHORITY=$XAUTHORITY is not a readable file; using a private cookie"
  server_auth="$run/Xauthority"
  /dockerstartup/xcookie.py new "$server_auth" "$DISPLAY_NUM" || die "cannot write a private X cookie"
  log "X access: private cookie in $server_auth"
fi
export XAUTHORITY="$run/Xauthority"

# An "Applications" button in the top left corner opens the same menu as a right-click on the
# background (Applications -> Astro Software -> ...): nothing on a bare desktop says that a
# right-click opens it. fluxbox 1.3.5's toolbar has no labelled buttons, so the button is an
# undecorated, sticky xmessage window whose click asks fluxbox (fluxbox-remote) for its menu.
# fluxbox always creates and reads ~/.fluxbox (even with -rc), so it runs with HOME set to a
# private directory here; /dockerstartup/fluxbox-shell gives the programs it starts (menu, keys)
# the user's HOME and SHELL back. Nothing is written to the (persistent) home directory.
fbhome="$run/home"
fb="$fbhome/.fluxbox"
mkdir -p "$fb"
menu="$MENU"
if [ ! -s "$menu" ]; then
  menu="$fb/menu"
  printf '%s\n' '[begin] (skaha desktop)' '  [exec] (Terminal) {xterm}' '  [reconfig] (Reload menu)' '[end]' >"$menu"
  log "no $MENU: using a default menu"
fi
printf '%s\n' \
  "session.configVersion: 13" \
  "session.menuFile: $menu" \
  "session.keyFile: /etc/X11/fluxbox/keys" \
  "session.appsFile: $fb/apps" \
  "session.slitlistFile: $fb/slitlist" \
  "session.styleFile: /usr/share/fluxbox/styles/Squared_for_Debian" \
  "session.styleOverlay: $fb/overlay" \
  "session.screen0.workspaces: 1" \
  "session.screen0.workspaceNames: skaha," \
  "session.screen0.rootCommand: xsetroot -solid '$BACKGROUND'" \
  "session.screen0.toolbar.widthPercent: 100" \
  "session.screen0.allowRemoteActions: true" \
  >"$fb/init"
# The style's wallpaper needs a wallpaper setter: keep the plain background colour instead.
printf '%s\n' 'background: unset' >"$fb/overlay"
printf '%s\n' '[app] (name=skaha-launcher)' '  [Deco] {NONE}' '  [Sticky] {yes}' '  [Layer] {2}' \
  '  [IconHidden] {yes}' '  [Position] (UpperLeft) {4 4}' '[end]' >"$fb/apps"
: >"$fb/slitlist"
# X resources for every xterm on this display (the desktop's and its desktop-apps').
printf '%s\n' 'XTerm*faceName: DejaVu Sans Mono' 'XTerm*faceSize: 11' 'XTerm*saveLines: 5000' \
  'XTerm*selectToClipboard: true' 'XTerm*bellIsUrgent: false' >"$run/Xresources"
umask "$user_umask"

log "starting Xtigervnc :$DISPLAY_NUM ($GEOMETRY, VNC on 127.0.0.1:$VNC_PORT, X on TCP $((6000 + DISPLAY_NUM)))"
Xtigervnc ":$DISPLAY_NUM" \
  -desktop skaha -geometry "$GEOMETRY" -depth 24 \
  -rfbport "$VNC_PORT" -localhost=1 -SecurityTypes VncAuth -PasswordFile "$run/passwd" \
  -auth "$server_auth" -listen tcp \
  -AlwaysShared &
xvnc=$!

export DISPLAY=":$DISPLAY_NUM"
for _ in $(seq 1 100); do
  xdpyinfo >/dev/null 2>&1 && break
  kill -0 "$xvnc" 2>/dev/null || die "Xtigervnc exited during start"
  sleep 0.1
done
xdpyinfo >/dev/null 2>&1 || die "display $DISPLAY did not come up within 10 s"
log "display $DISPLAY is up"

xrdb -merge "$run/Xresources" || log "xrdb failed; xterms keep their default font"
xsetroot -solid "$BACKGROUND" || true

cd "$HOME" 2>/dev/null || cd /
log "starting fluxbox (log in $run/fluxbox.log) and an xterm"
SKAHA_DESKTOP_HOME="$HOME" SKAHA_DESKTOP_SHELL="$SHELL" HOME="$fbhome" SHELL=/dockerstartup/fluxbox-shell \
  fluxbox -rc "$fb/init" >"$run/fluxbox.log" 2>&1 &
xterm -geometry 100x30+40+84 -title terminal &
(
  while kill -0 "$xvnc" 2>/dev/null; do
    if xmessage -name skaha-launcher -title Applications -geometry +4+4 -buttons Applications:0 \
      -xrm '*message.scrollVertical: never' -xrm '*message.scrollHorizontal: never' -xrm '*message.borderWidth: 0' \
      'Astro Software, terminals,' 'screen resolution:' >/dev/null 2>&1; then
      fluxbox-remote RootMenu >/dev/null 2>&1 || true
    else
      sleep 1
    fi
  done
) &

log "noVNC on port $NOVNC_PORT (web $WEB_DIR) -> VNC 127.0.0.1:$VNC_PORT"
exec websockify --web "$WEB_DIR" "$NOVNC_PORT" "127.0.0.1:$VNC_PORT"
