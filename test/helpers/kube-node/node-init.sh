#!/bin/bash
# PID 1 of the test node's own namespaces (network, mount, PID), started by
# test/helpers/kube-node.ts as `unshare --net --mount --pid --fork --kill-child --mount-proc`.
# The host's network, its /run and its Podman are untouched: everything the node makes lives in
# these namespaces and in $NODE_DIR, and goes when this process is killed.
#   $1 = NODE_DIR (containerd.toml, kubelet.yaml, kubelet.kubeconfig, images/*.tar, logs/)
set -euo pipefail
NODE_DIR="$1"
. "$NODE_DIR/node.env" # NODE_IP HOST_IP NODE_LINK NODE_NAME KUBELET ENFORCER
log() { echo "$(date -u +%H:%M:%S.%N | cut -c1-12) node-init: $*"; }

# Mounts made here stay here; volumes need shared propagation below / (kubelet checks).
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /var/lib/kubelet /var/log/pods /var/log/containers "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs" "$NODE_DIR/container-logs"
mount --bind "$NODE_DIR/kubelet" /var/lib/kubelet
mount --bind "$NODE_DIR/pod-logs" /var/log/pods
mount --bind "$NODE_DIR/container-logs" /var/log/containers
mount --make-rshared /

# The host moves our end of the veth pair in once this namespace exists.
for _ in $(seq 1 200); do ip link show "$NODE_LINK" >/dev/null 2>&1 && break; sleep 0.05; done
ip link show "$NODE_LINK" >/dev/null || { log "no link $NODE_LINK from the host"; exit 1; }
ip link set lo up
ip link set "$NODE_LINK" name eth0
ip addr add "$NODE_IP/24" dev eth0
ip link set eth0 up
ip route add default via "$HOST_IP"
sysctl -qw net.ipv4.ip_forward=1
log "network up: $NODE_IP via $HOST_IP"

containerd --config "$NODE_DIR/containerd.toml" >"$NODE_DIR/logs/containerd.log" 2>&1 &
CONTAINERD=$!
for _ in $(seq 1 200); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.05; done
[ -S /run/containerd/containerd.sock ] || { log "containerd did not start (logs/containerd.log)"; exit 1; }
log "containerd up"

for archive in "$NODE_DIR"/images/*.tar; do
  ctr -n k8s.io images import "$archive" >/dev/null || { log "cannot import $archive"; exit 1; }
done
log "images imported: $(ctr -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

"$KUBELET" --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --root-dir=/var/lib/kubelet \
  >"$NODE_DIR/logs/kubelet.log" 2>&1 &
KUBELET_PID=$!
log "kubelet started"

# NetworkPolicy enforcement, when asked for: kube-router's policy controller only, as its
# DaemonSet pod would run it. Pods on one bridge talk at layer 2: br_netfilter hands that traffic
# to iptables, where its chains are. Restarted when it ends, as its pod would be: it exits if it
# starts before the kubelet has registered the node.
if [ -n "$ENFORCER" ]; then
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  while :; do
    "$ENFORCER" --run-firewall=true --run-router=false --run-service-proxy=false --enable-ipv6=false \
      --kubeconfig="$NODE_DIR/network-policies.kubeconfig" --hostname-override="$NODE_NAME" \
      --health-port=0 --metrics-port=0 >>"$NODE_DIR/logs/network-policies.log" 2>&1 || true
    sleep 1
  done &
  log "kube-router (network policies) started"
fi
touch "$NODE_DIR/started"

# Whichever ends first ends the node (and, as PID 1, everything in it).
wait -n "$CONTAINERD" "$KUBELET_PID" || true
log "containerd or the kubelet ended; stopping the node"
