#!/usr/bin/env bash
# Build skaha's minimal reference session images from Debian packages only (no registry pulls).
#
#   bash images/build.sh            # build if the recipe changed, otherwise do nothing
#   bash images/build.sh --force    # rebuild the rootfs and re-import both images
#
# Produces (each also tagged :latest):
#   images.canfar.net/skaha/headless:1.0   canfar.net/types=headless
#   images.canfar.net/skaha/webapp:1.0     canfar.net/types=contributed,carta,firefly
# Both carry canfar.net/recipe=<hash of this script and webapp.py>. The debootstrapped rootfs is
# cached as a tarball under $SKAHA_IMAGE_CACHE keyed by the same hash. Run as root; see README.md.
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/deploy/podman/containers.conf}"

SUITE=bookworm
# The Debian mirror this machine's own apt sources use (deb822 .sources or a one-line sources.list).
host_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- '-security' | awk '{print $2}' | head -1)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -- '-security' | awk '{print $2}' | head -1)
  printf '%s' "$m"
}
MIRROR="${DEBIAN_MIRROR:-$(host_mirror)}"
[ -n "$MIRROR" ] || { echo "[images] no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2; exit 1; }
# Debian has no "sssd-client" (the Fedora name); libnss-sss is its NSS module (libnss_sss.so.2).
INCLUDE=python3,ca-certificates,libnss-sss,acl,procps,curl
CACHE="${SKAHA_IMAGE_CACHE:-/var/cache/skaha-images}"
REGISTRY=images.canfar.net/skaha
VERSION=1.0
HEADLESS="$REGISTRY/headless"
WEBAPP="$REGISTRY/webapp"
WEBAPP_SRC="$here/webapp.py"

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

force=0
for arg in "$@"; do
  case "$arg" in
    -f|--force) force=1 ;;
    -h|--help) sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $arg (use --force or --help)" ;;
  esac
done

t_start="$(now)"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and rootful podman)"
command -v podman >/dev/null 2>&1 || die "podman not found: install it first (apt-get install podman runc netavark aardvark-dns iptables)"
[ -f "$CONTAINERS_CONF" ] || die "CONTAINERS_CONF=$CONTAINERS_CONF does not exist"
[ -f "$WEBAPP_SRC" ] || die "missing $WEBAPP_SRC"

recipe="$(cat "${BASH_SOURCE[0]}" "$WEBAPP_SRC" | sha256sum | cut -c1-16)"
log "recipe $recipe (CONTAINERS_CONF=$CONTAINERS_CONF)"

image_recipe() {  # prints the recipe label of image $1, or nothing if the image is absent
  podman image inspect --format '{{index .Labels "canfar.net/recipe"}}' "$1" 2>/dev/null || true
}

up_to_date() {
  local ref
  for ref in "$HEADLESS:$VERSION" "$HEADLESS:latest" "$WEBAPP:$VERSION" "$WEBAPP:latest"; do
    [ "$(image_recipe "$ref")" = "$recipe" ] || return 1
  done
}

if [ "$force" = 0 ] && up_to_date; then
  log "images are up to date (recipe $recipe): $HEADLESS:$VERSION $WEBAPP:$VERSION ($(since "$t_start"))"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another build holds $CACHE/.lock"
if [ "$force" = 0 ] && up_to_date; then  # a concurrent run may have just built them
  log "images were built by a concurrent run (recipe $recipe)"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/skaha-images.XXXXXX")"
root="$work/rootfs"
cleanup() {
  local rc=$? m
  # Never rm -rf a tree with something mounted inside it (a failed chroot step may leave /proc).
  if [ -d "$work" ]; then
    for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
  fi
  [ "$rc" = 0 ] || printf '[images] ERROR: build failed (exit %s) after %s\n' "$rc" "$(since "$t_start")" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

build_rootfs() {
  local t0 pkgs
  case "$root" in "$work"/rootfs) ;; *) die "refusing to build in '$root'" ;; esac
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get install -y --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -qq && apt-get install -y --no-install-recommends debootstrap >/dev/null; } \
      || die "cannot install debootstrap"
  fi
  t0="$(now)"
  log "debootstrap --variant=minbase --include=$INCLUDE $SUITE $MIRROR"
  mkdir -p "$root"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
    log "debootstrap with --include failed ($(tail -n1 "$work/debootstrap.log" | grep . || echo 'no output')); retrying plain minbase + apt-get install"
    rm -rf --one-file-system "$root"; mkdir -p "$root"
    debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
      || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
    pkgs="${INCLUDE//,/ }"
    mount -t proc proc "$root/proc"
    # shellcheck disable=SC2086
    in_root apt-get update -qq && in_root apt-get install -y --no-install-recommends $pkgs >"$work/apt.log" 2>&1 \
      || { umount "$root/proc"; tail -n 30 "$work/apt.log" >&2; die "apt-get install $pkgs in the rootfs failed"; }
    umount "$root/proc"
  fi
  log "debootstrap done ($(since "$t0"))"

  # Container rules: users come from sssd (skaha mounts the sss pipes) and then local files.
  cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd:         sss files
shadow:         files sss
group:          sss files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
EOF
  # Podman provides these per container.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  : >"$root/etc/machine-id"
  printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
  # Keep it small: apt caches and lists, logs, docs (copyright files kept), man pages and
  # message translations (sessions run with LANG=C.UTF-8); later apt installs skip them too.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
    >"$root/etc/dpkg/dpkg.cfg.d/skaha-slim"
  in_root apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
         "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/ldconfig/aux-cache \
         "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/* "$root"/var/tmp/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  chmod 1777 "$root/tmp" "$root/var/tmp"
}

tarball="$CACHE/rootfs-$SUITE-$recipe.tar.gz"
if [ "$force" = 0 ] && [ -s "$tarball" ]; then
  t0="$(now)"
  log "using cached rootfs $tarball"
  mkdir -p "$root"
  tar -C "$root" --numeric-owner -xzf "$tarball"
  log "unpacked ($(since "$t0"))"
else
  build_rootfs
  t0="$(now)"
  log "caching rootfs as $tarball"
  tar -C "$root" --numeric-owner -czf "$tarball.tmp" .
  mv -f "$tarball.tmp" "$tarball"
  find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar.gz' ! -path "$tarball" -delete
  log "cached $(du -h "$tarball" | cut -f1) ($(since "$t0"))"
fi

old_ids="$(podman image inspect --format '{{.Id}}' "$HEADLESS:$VERSION" "$HEADLESS:latest" "$WEBAPP:$VERSION" "$WEBAPP:latest" 2>/dev/null | sort -u || true)"

import() {  # import $root as $1:$VERSION and tag :latest; further args are extra --change values
  local name="$1" t0 id
  shift
  t0="$(now)"
  log "importing $name:$VERSION"
  local changes=(
    --change "LABEL canfar.net/recipe=$recipe"
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV LANG=C.UTF-8"
    --change "WORKDIR /"
  )
  for c in "$@"; do changes+=(--change "$c"); done
  id="$(tar -C "$root" --numeric-owner -c . | podman import --quiet "${changes[@]}" - "$name:$VERSION")" \
    || die "podman import of $name:$VERSION failed"
  id="${id#sha256:}"
  podman tag "$id" "$name:latest" || die "podman tag $name:latest failed"
  log "imported $name:$VERSION and :latest (${id:0:12}, $(since "$t0"))"
}

import "$HEADLESS" \
  "LABEL canfar.net/types=headless" \
  "LABEL org.opencontainers.image.title=skaha-headless" \
  "LABEL org.opencontainers.image.description=Minimal Debian bookworm session image for skaha headless jobs (python3, libnss-sss)" \
  'CMD ["/bin/bash"]'

install -d -m 0755 "$root/opt/skaha"
install -m 0755 "$WEBAPP_SRC" "$root/opt/skaha/webapp.py"
import "$WEBAPP" \
  "LABEL canfar.net/types=contributed,carta,firefly" \
  "LABEL org.opencontainers.image.title=skaha-webapp" \
  "LABEL org.opencontainers.image.description=Stand-in web app for skaha contributed, CARTA and Firefly sessions (python3 http.server on \$WEBAPP_PORTS)" \
  "ENV WEBAPP_PORTS=5000 6901 8080" \
  "ENV PYTHONDONTWRITEBYTECODE=1" \
  "ENV PYTHONUNBUFFERED=1" \
  "EXPOSE 5000" "EXPOSE 6901" "EXPOSE 8080" \
  'CMD ["/opt/skaha/webapp.py"]'

up_to_date || die "images were imported but their recipe labels do not read back as $recipe"

# Drop the images these tags pointed at before, unless something still uses them.
new_ids="$(podman image inspect --format '{{.Id}}' "$HEADLESS:$VERSION" "$WEBAPP:$VERSION")"
for id in $old_ids; do
  grep -qx "$id" <<<"$new_ids" || podman rmi "$id" >/dev/null 2>&1 || true
done

podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($HEADLESS|$WEBAPP):" | sed 's/^/[images]   /'
log "done in $(since "$t_start")"
