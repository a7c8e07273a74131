# A real Kubernetes control plane for the tests (issue 9), built from Go modules and cached.
# Sourced by scripts/test.sh after scripts/lib/ensure.sh (uses its `say` and `die`).
#
# ensure_kube_binaries builds, one binary at a time (the machine has 2 cores):
#   kube-apiserver, kube-controller-manager, kube-scheduler  k8s.io/kubernetes cmd/...
#   kubelet (the real node: containerd + runc + CNI, Debian)  k8s.io/kubernetes cmd/kubelet
#   etcd                                                      go.etcd.io/etcd/server/v3 (etcdmain)
#   kwok (fake nodes; pods go Pending -> Running -> ...)      sigs.k8s.io/kwok/cmd/kwok
#   helm (to render the chart)                                helm.sh/helm/v4/cmd/helm
#   kube-router (enforces NetworkPolicies on the real node)   github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
# into $KUBE_BIN_DIR = /var/cache/skaha-test/kubernetes-<KUBE_VERSION>/bin and exports it. A
# binary is rebuilt only when its version below changes (a stamp file beside it records what
# was built), so a repeat run is a few stat calls (~20 ms). The first build takes ~15 min on
# 2 cores alone, module downloads included, and ~450 MB of binaries; scripts/test.sh runs it in
# the background at nice 19 while the other tests run, where it took 20 min (kube-apiserver
# 501 s, kube-controller-manager 136 s, kube-scheduler 13 s, kubelet 24 s, etcd 32 s, kwok 124 s,
# helm 208 s, kube-router 139 s; setup.sh and the whole test command on a machine without Go caches: 28 min).
#
# Why etcd is built and not Debian's etcd-server: Debian 12 ships etcd 3.4.23, and Kubernetes
# 1.37 supports external etcd from 3.5.24 on (kubeadm's MinExternalEtcdVersion) and is released
# with 3.7.0.
#
# test/helpers/kube-cluster.ts reads KUBE_VERSION from this file when KUBE_BIN_DIR is not set:
# keep the assignment on one line in this form.

# All versions in one place. Kubernetes v1.37.2 is the newest the Go module proxy serves and its
# go.mod asks for Go 1.26.0, so the machine's Go 1.26.8 builds it without a toolchain switch.
KUBE_VERSION="v1.37.2"
ETCD_VERSION="v3.7.3"
KWOK_VERSION="v0.8.0"
HELM_VERSION="v4.3.2"
# The real test node's NetworkPolicy enforcer, its policy controller only (test/helpers/kube-node.ts).
# Not kube-network-policies (kindnet's), though preferred: it sends every new connection to an
# nftables `queue`, and this kernel is built without it (CONFIG_NFT_QUEUE unset: "Could not process
# rule: No such file or directory"). kube-router's iptables + ipset controller needs only what the
# kernel has. v2.1.0 is the one version the module proxy serves and security flaws are reported
# for it, so it is confined to the tests: it runs only inside the throwaway node's namespaces,
# with a token that may only read pods, namespaces, nodes and policies, and nothing ships it.
KUBE_ROUTER_VERSION="v2.1.0"

KUBE_CACHE_DIR="${KUBE_CACHE_DIR:-/var/cache/skaha-test/kubernetes-$KUBE_VERSION}"
KUBE_BIN_DIR="$KUBE_CACHE_DIR/bin"
export KUBE_BIN_DIR

# Staging modules (k8s.io/api, k8s.io/client-go, ...) are tagged v0.<minor>.<patch>.
_kube_staging_version() { printf 'v0.%s' "${KUBE_VERSION#v1.}"; }

# _kube_fresh NAME VERSION: true when bin/NAME exists and was built for VERSION.
_kube_fresh() {
  [ -x "$KUBE_BIN_DIR/$1" ] && [ "$(cat "$KUBE_BIN_DIR/.$1.version" 2>/dev/null)" = "$2" ]
}

_kube_go() {
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || die "Go is needed to build the Kubernetes test binaries (none on PATH or in /usr/local/go/bin)"
  local go; go="$(command -v go || echo /usr/local/go/bin/go)"
  # No toolchain switch: everything pinned here builds with the machine's Go.
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false" "$go" "$@"
}

# _kube_build NAME VERSION MINUTES CMD...: runs CMD (which must write $KUBE_BIN_DIR/.tmp/NAME),
# then moves the binary into place and stamps it.
_kube_build() {
  local name="$1" version="$2" minutes="$3"; shift 3
  _kube_fresh "$name" "$version" && return 0
  say "building $name $version (first time only, ~$minutes min)"
  local t0=$SECONDS
  rm -f "$KUBE_BIN_DIR/.tmp/$name"
  "$@" || die "building $name $version failed (see above)"
  [ -x "$KUBE_BIN_DIR/.tmp/$name" ] || die "building $name $version produced no binary"
  mv -f "$KUBE_BIN_DIR/.tmp/$name" "$KUBE_BIN_DIR/$name"
  printf '%s\n' "$version" >"$KUBE_BIN_DIR/.$name.version"
  say "built $name $version in $((SECONDS - t0)) s"
}

# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io staging module
# with ./staging/src/... So a throwaway module requires k8s.io/kubernetes and replaces each
# staging module with its published v0.X.Y tag instead.
_kube_k8s_module() {
  local dir="$KUBE_CACHE_DIR/build/kubernetes"
  if [ -f "$dir/go.mod" ] && grep -q "k8s.io/kubernetes $KUBE_VERSION\$" "$dir/go.mod"; then return 0; fi
  mkdir -p "$dir"
  local gomod
  gomod="$(_kube_go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')" || true
  [ -f "$gomod" ] || die "cannot download k8s.io/kubernetes $KUBE_VERSION from the Go module proxy"
  local staging sv
  sv="$(_kube_staging_version)"
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9._/-]*\) => ./staging/src/.*#\1#p' "$gomod")"
  [ -n "$staging" ] || die "found no staging replaces in k8s.io/kubernetes $KUBE_VERSION's go.mod"
  {
    printf 'module skaha.test/kubernetes-build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
    local m; for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$sv"; done
    printf ')\n'
  } >"$dir/go.mod.new"
  rm -f "$dir/go.sum"
  mv -f "$dir/go.mod.new" "$dir/go.mod"
}

_kube_build_k8s_cmd() {
  local name="$1" dir="$KUBE_CACHE_DIR/build/kubernetes" minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local x="" p
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    x+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$dir" && _kube_go build -mod=mod -ldflags "-s -w$x" -o "$KUBE_BIN_DIR/.tmp/$name" "k8s.io/kubernetes/cmd/$name")
}

# etcd's own main package lives in the go.etcd.io/etcd/v3 module, which has replace directives
# too; its main is one call, so a throwaway module carries the same call.
_kube_build_etcd() {
  local dir="$KUBE_CACHE_DIR/build/etcd"
  mkdir -p "$dir"
  if ! grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION\$" "$dir/go.mod" 2>/dev/null; then
    printf 'module skaha.test/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
    rm -f "$dir/go.sum"
  fi
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$dir/main.go"
  (cd "$dir" && _kube_go build -mod=mod -ldflags "-s -w" -o "$KUBE_BIN_DIR/.tmp/etcd" .)
}

# kwok and helm have no replace directives: plain `go install pkg@version`.
_kube_go_install() {
  local pkg="$1" ldflags="$2"
  GOBIN="$KUBE_BIN_DIR/.tmp" _kube_go install -ldflags "-s -w $ldflags" "$pkg"
}

# kube_binaries_fresh: true when every binary is built, for the versions above.
kube_binaries_fresh() {
  _kube_fresh kube-apiserver "$KUBE_VERSION" && _kube_fresh kube-controller-manager "$KUBE_VERSION" &&
    _kube_fresh kube-scheduler "$KUBE_VERSION" && _kube_fresh kubelet "$KUBE_VERSION" && _kube_fresh etcd "$ETCD_VERSION" &&
    _kube_fresh kwok "$KWOK_VERSION" && _kube_fresh helm "$HELM_VERSION" && _kube_fresh kube-router "$KUBE_ROUTER_VERSION"
}

ensure_kube_binaries() {
  if kube_binaries_fresh; then
    say "Kubernetes test binaries present ($KUBE_BIN_DIR)"
    return 0
  fi
  mkdir -p "$KUBE_BIN_DIR/.tmp" || die "cannot create $KUBE_BIN_DIR"
  if ! _kube_fresh kube-apiserver "$KUBE_VERSION" || ! _kube_fresh kube-controller-manager "$KUBE_VERSION" ||
    ! _kube_fresh kube-scheduler "$KUBE_VERSION" || ! _kube_fresh kubelet "$KUBE_VERSION"; then
    _kube_k8s_module
  fi
  _kube_build kube-apiserver "$KUBE_VERSION" 6 _kube_build_k8s_cmd kube-apiserver
  _kube_build kube-controller-manager "$KUBE_VERSION" 3 _kube_build_k8s_cmd kube-controller-manager
  _kube_build kube-scheduler "$KUBE_VERSION" 1 _kube_build_k8s_cmd kube-scheduler
  _kube_build kubelet "$KUBE_VERSION" 6 _kube_build_k8s_cmd kubelet
  _kube_build etcd "$ETCD_VERSION" 1 _kube_build_etcd
  _kube_build kwok "$KWOK_VERSION" 2 _kube_go_install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
  _kube_build helm "$HELM_VERSION" 3 _kube_go_install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  _kube_build kube-router "$KUBE_ROUTER_VERSION" 2 _kube_go_install "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
  rmdir "$KUBE_BIN_DIR/.tmp" 2>/dev/null || true
  say "Kubernetes test binaries ready in $KUBE_BIN_DIR"
}
