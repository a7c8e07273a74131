# Idempotent install steps shared by scripts/setup.sh and scripts/test.sh. Each step checks
# first and does nothing when its work is already done, so a second run is fast.
# Sourced, not run: expects ROOT to be the repository root.

say() { printf '[skaha] %s\n' "$*"; }
die() { printf '[skaha] error: %s\n' "$*" >&2; exit 1; }

export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/deploy/podman/containers.conf}"

# Debian packages: the engine (podman with runc; netavark needs iptables), debootstrap for the
# reference images, a compiler and python3 for better-sqlite3's native build, curl for examples.
DEBIAN_PACKAGES="podman runc netavark aardvark-dns iptables debootstrap ca-certificates curl python3 python3-venv make g++"

ensure_root() {
  [ "$(id -u)" = 0 ] || die "run as root (rootful Podman runs sessions as each user's uid): sudo $0"
}

# Only the tests need a browser (Debian's Chromium, driven by playwright-core; never a download),
# a real registry (CNCF distribution) and htpasswd for its Basic auth, and PostgreSQL for the
# identity store's PostgreSQL option (test/helpers/postgres.ts starts throwaway clusters), and
# containerd (with runc), the CNI plugins and ipset (its NetworkPolicy enforcer's address sets) for
# the real Kubernetes node (test/helpers/kube-node.ts).
TEST_PACKAGES="chromium fonts-dejavu-core docker-registry apache2-utils postgresql containerd containernetworking-plugins iproute2 ipset"

ensure_packages() {
  local missing=()
  for p in $DEBIAN_PACKAGES ${EXTRA_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "Debian packages present"; return; fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

ensure_node_modules() {
  if [ -d "$ROOT/node_modules" ] && [ "$ROOT/node_modules/.package-lock.json" -nt "$ROOT/package-lock.json" ] 2>/dev/null; then
    say "npm dependencies present"; return
  fi
  say "installing npm dependencies (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  touch "$ROOT/node_modules/.package-lock.json"
}

ensure_build() {
  say "building (tsc)"
  (cd "$ROOT" && npm run -s build) || die "build failed"
}

ensure_images() {
  bash "$ROOT/images/build.sh" || die "building the reference images failed (see above)"
}

# The official skaha Python client and CADC's vos tools, in their own virtualenv, for the
# compatibility tests (the session API, and the storage service at /arc).
PYTHON_CLIENT_VENV="${PYTHON_CLIENT_VENV:-/var/cache/skaha-test/python-client}"
PYTHON_CLIENT_PACKAGES="skaha==1.7.0 vos==3.7"
ensure_python_client() {
  if [ -x "$PYTHON_CLIENT_VENV/bin/python" ] && "$PYTHON_CLIENT_VENV/bin/python" -c 'import skaha, vos' 2>/dev/null &&
    "$PYTHON_CLIENT_VENV/bin/pip" freeze 2>/dev/null | grep -qx 'vos==3.7'; then
    say "skaha Python client and vos present"; return
  fi
  say "installing $PYTHON_CLIENT_PACKAGES into $PYTHON_CLIENT_VENV"
  /usr/bin/python3 -m venv "$PYTHON_CLIENT_VENV" || python3 -m venv "$PYTHON_CLIENT_VENV" || die "cannot create a virtualenv"
  # shellcheck disable=SC2086 # the list is words on purpose
  "$PYTHON_CLIENT_VENV/bin/pip" install -q $PYTHON_CLIENT_PACKAGES || die "pip install $PYTHON_CLIENT_PACKAGES failed"
}

# schemathesis (PyPI) for the API fuzzing test (test/integration/reliability/fuzz.test.ts).
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_VENV="${SCHEMATHESIS_VENV:-/var/cache/skaha-test/schemathesis}"
ensure_schemathesis() {
  if [ -x "$SCHEMATHESIS_VENV/bin/schemathesis" ] && "$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    say "schemathesis $SCHEMATHESIS_VERSION present"; return
  fi
  say "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV"
  /usr/bin/python3 -m venv "$SCHEMATHESIS_VENV" || python3 -m venv "$SCHEMATHESIS_VENV" || die "cannot create a virtualenv"
  "$SCHEMATHESIS_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" || die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
}

# Everything a machine needs before the platform or its tests can run.
ensure_all() {
  ensure_root
  ensure_packages
  ensure_node_modules
  ensure_build
  ensure_images
}
