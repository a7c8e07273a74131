#!/usr/bin/env bash
# Build skaha's reference session images from Debian packages (and PyPI) only (no registry pulls).
#
#   bash images/build.sh            # build what changed, otherwise do nothing
#   bash images/build.sh --force    # rebuild the rootfs, re-import and rebuild every image
#
# Produces (each also tagged :latest):
#   images.canfar.net/skaha/headless:1.0   canfar.net/types=headless              (debootstrap + import)
#   images.canfar.net/skaha/webapp:1.0     canfar.net/types=contributed,carta,firefly   (same rootfs)
#   images.canfar.net/skaha/notebook:1.0   canfar.net/types=notebook,headless     (podman build images/notebook)
#   images.canfar.net/skaha/desktop:1.0    canfar.net/types=desktop               (podman build images/desktop)
#   images.canfar.net/skaha/terminal:1.0   canfar.net/types=desktop-app           (podman build images/terminal)
#   images.canfar.net/skaha/ds9:8.4        canfar.net/types=desktop-app           (podman build images/ds9)
# Each carries canfar.net/recipe=<hash>: this script and webapp.py for the first two, plus the files
# of images/<name>/ for the others. The debootstrapped rootfs is cached as a tarball under
# $SKAHA_IMAGE_CACHE keyed by the base hash. Run as root; see README.md.
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
# Built with `podman build images/<name>` FROM $HEADLESS:$VERSION, as name:tag (and :latest).
# ds9 carries the major.minor of bookworm's saods9 (8.4.1); its Containerfile checks it (SKAHA_TAG).
DERIVED=(notebook:1.0 desktop:1.0 terminal:1.0 ds9:8.4)
# The host's CA bundle is given to builds as the secret "cacert" (pip behind a TLS-intercepting proxy).
CA_BUNDLE="${SKAHA_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

force=0
for arg in "$@"; do
  case "$arg" in
    -f|--force) force=1 ;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
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

# A derived image's recipe: the base recipe, then the names, modes and contents of the files of
# images/<name>/ (its Containerfile and everything it copies).
declare -A drecipe=() dtag=()
for d in "${DERIVED[@]}"; do
  name="${d%%:*}"
  [ -f "$here/$name/Containerfile" ] || die "missing $here/$name/Containerfile"
  dtag[$name]="${d#*:}"
  drecipe[$name]="$(
    cd "$here" || exit 1
    printf '%s\n' "$recipe"
    find "$name" -type f -printf '%p %m\n' | LC_ALL=C sort
    find "$name" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  )" || die "cannot hash $here/$name"
  drecipe[$name]="$(sha256sum <<<"${drecipe[$name]}" | cut -c1-16)"
done
derived_names() { local d; for d in "${DERIVED[@]}"; do printf '%s\n' "${d%%:*}"; done; }

labels=""
read_labels() {  # "repository:tag recipe" of every image, in one podman call
  labels="$(podman images --format '{{.Repository}}:{{.Tag}} {{index .Labels "canfar.net/recipe"}}' 2>/dev/null || true)"
}
has_recipe() { grep -qxF "$1 $2" <<<"$labels"; }  # image ref $1 carries recipe $2

base_up_to_date() {
  local ref
  for ref in "$HEADLESS:$VERSION" "$HEADLESS:latest" "$WEBAPP:$VERSION" "$WEBAPP:latest"; do
    has_recipe "$ref" "$recipe" || return 1
  done
}
derived_up_to_date() {  # $1 = name
  has_recipe "$REGISTRY/$1:${dtag[$1]}" "${drecipe[$1]}" && has_recipe "$REGISTRY/$1:latest" "${drecipe[$1]}"
}
up_to_date() {
  local name
  base_up_to_date || return 1
  for name in $(derived_names); do derived_up_to_date "$name" || return 1; done
}
all_refs() {
  local name
  printf '%s\n' "$HEADLESS:$VERSION" "$WEBAPP:$VERSION"
  for name in $(derived_names); do printf '%s\n' "$REGISTRY/$name:${dtag[$name]}"; done
}

read_labels
if [ "$force" = 0 ] && up_to_date; then
  log "images are up to date (recipe $recipe): $(all_refs | sed "s|^$REGISTRY/||" | paste -sd' ') ($(since "$t_start"))"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another build holds $CACHE/.lock"
read_labels
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

image_ids() {  # full IDs of the images refs $@ point at (absent ones skipped)
  local ref
  for ref in "$@"; do podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true; done | awk 'NF && !seen[$0]++'
}
derived_refs() {  # every tag of the derived images
  local name
  for name in $(derived_names); do printf '%s\n' "$REGISTRY/$name:${dtag[$name]}" "$REGISTRY/$name:latest"; done
}
# Removed at the end (derived first: they are children of the base) unless still tagged or used.
mapfile -t old_derived_ids < <(mapfile -t refs < <(derived_refs); image_ids "${refs[@]}")
mapfile -t old_base_ids < <(image_ids "$HEADLESS:$VERSION" "$HEADLESS:latest" "$WEBAPP:$VERSION" "$WEBAPP:latest")

unpack_rootfs() {
  local tarball="$CACHE/rootfs-$SUITE-$recipe.tar.gz" t0
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
}

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

build_base() {
  unpack_rootfs
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
}

build_derived() {  # podman build images/$1 as $REGISTRY/$1:<tag> and :latest
  local name="$1" ref="$REGISTRY/$1" tag="${dtag[$1]}" t0 id types secret=()
  t0="$(now)"
  [ -s "$CA_BUNDLE" ] && secret=(--secret "id=cacert,src=$CA_BUNDLE")
  log "building $ref:$tag (podman build images/$name)"
  if ! podman build --pull=never --layers=false "${secret[@]}" \
         --build-arg "SKAHA_TAG=$tag" --label "canfar.net/recipe=${drecipe[$name]}" \
         -t "$ref:$tag" -t "$ref:latest" -f "$here/$name/Containerfile" "$here/$name" \
         >"$work/build-$name.log" 2>&1; then
    tail -n 30 "$work/build-$name.log" | sed 's/^/[images]   | /' >&2
    die "podman build of $ref:$tag failed (last lines of its log above)"
  fi
  id="$(podman image inspect --format '{{.Id}}' "$ref:$tag")" || die "$ref:$tag is missing after its build"
  types="$(podman image inspect --format '{{index .Labels "canfar.net/types"}}' "$ref:$tag")"
  [ -n "$types" ] || die "$ref:$tag has no canfar.net/types label"
  log "built $ref:$tag and :latest (${id:0:12}, types $types, $(since "$t0"))"
}

base_built=0
if [ "$force" = 1 ] || ! base_up_to_date; then
  build_base
  base_built=1
else
  log "base images are up to date: $HEADLESS:$VERSION $WEBAPP:$VERSION"
fi
for name in $(derived_names); do
  # A new base means new parents: every derived image is rebuilt on it.
  if [ "$force" = 1 ] || [ "$base_built" = 1 ] || ! derived_up_to_date "$name"; then
    build_derived "$name"
  else
    log "$REGISTRY/$name:${dtag[$name]} is up to date"
  fi
done

read_labels
up_to_date || die "images were built but their recipe labels do not read back as expected (base $recipe)"

# Drop the images these tags pointed at before (derived ones first: they are the base's
# children), unless something still uses them.
mapfile -t new_ids < <(mapfile -t refs < <(all_refs); image_ids "${refs[@]}")
for id in "${old_derived_ids[@]}" "${old_base_ids[@]}"; do
  printf '%s\n' "${new_ids[@]}" | grep -qx "$id" || podman rmi "$id" >/dev/null 2>&1 || true
done

podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E "^$REGISTRY/(headless|webapp|$(derived_names | paste -sd'|')):" | sed 's/^/[images]   /'
log "done in $(since "$t_start")"
