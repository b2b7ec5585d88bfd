#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, for the real e2e lane: etcd, kube-apiserver (RBAC,
# the default admission plugins, service-account token signing), kube-controller-manager,
# kube-scheduler and kwok (simulated nodes; its default stages make pods Running/Ready), built
# by hack/k8s/build.sh at the pinned versions.
#
#   hack/real-cluster.sh up   [--dir DIR] [--kubeconfig-out FILE] [--nodes N]
#   hack/real-cluster.sh down [--dir DIR]
#   hack/real-cluster.sh status [--dir DIR]
#
# up: certificates with openssl (CA; apiserver serving cert for 127.0.0.1/localhost/
# kubernetes.default; admin client cert in system:masters; client certs for the controller-
# manager and scheduler users; service-account signing key), every component on 127.0.0.1 and
# free ports, each in its own process group with a pid file in DIR/pids. Waits until the API is
# ready, the default service account exists and N nodes (default 3) are Ready; writes
# DIR/kubeconfig (admin) and prints `export KUBECONFIG=DIR/kubeconfig`; --kubeconfig-out FILE
# also writes that path to FILE. DIR defaults to a new temp dir (printed), which `down` needs.
# down: SIGTERM to every process group, SIGKILL after 10 s, then checks that none is left
# (exit 1 if one is); removes DIR unless PHX_REAL_KEEP=1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
dir="" kcout="" nodes=3
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir="$2"; shift 2 ;;
	--kubeconfig-out) kcout="$2"; shift 2 ;;
	--nodes) nodes="$2"; shift 2 ;;
	*) echo "real-cluster.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

log() { printf '[real-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- down --------------------------------------------------------------------------------------

# Prints the pids of live process groups recorded in DIR/pids.
live_groups() {
	local f pid
	for f in "$dir"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 -- "-$pid" 2>/dev/null; then echo "$pid"; fi
	done
}

# wait_names_gone TENTHS NAME...: until those components' process groups are gone.
wait_names_gone() {
	local tenths=$1 i name alive
	shift
	for i in $(seq 1 "$tenths"); do
		alive=0
		for name in "$@"; do
			[ -f "$dir/pids/$name.pid" ] && kill -0 -- "-$(cat "$dir/pids/$name.pid")" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
}

# wait_groups_gone TENTHS: until no recorded process group is alive, at most TENTHS x 0.1 s.
wait_groups_gone() {
	local i
	for i in $(seq 1 "$1"); do
		[ -z "$(live_groups)" ] && return 0
		sleep 0.1
	done
}

down() {
	[ -n "$dir" ] || die "down needs --dir DIR (the one up printed)"
	[ -d "$dir/pids" ] || { log "nothing to stop in $dir"; return 0; }
	local pid left
	# Clients first, then the apiserver (it removes its endpoint lease from etcd on the way out),
	# then etcd: each stage gets up to 10 s.
	for stage in "kwok kube-scheduler kube-controller-manager" kube-apiserver etcd; do
		for name in $stage; do
			[ -f "$dir/pids/$name.pid" ] || continue
			kill -TERM -- "-$(cat "$dir/pids/$name.pid")" 2>/dev/null || true
		done
		wait_names_gone 100 $stage
		log "stopped $stage"
	done
	wait_groups_gone 100
	for pid in $(live_groups); do
		log "process group $pid ($(ps -o comm= -p "$pid" 2>/dev/null)) still alive after 10 s: SIGKILL"
		kill -KILL -- "-$pid" 2>/dev/null || true
	done
	wait_groups_gone 50
	left=$(live_groups)
	[ -z "$left" ] || die "processes left behind: $(ps -o pid=,args= -g "$(echo $left | tr ' ' ,)")"
	log "stopped; no process left"
	if [ "${PHX_REAL_KEEP:-0}" != 1 ]; then rm -rf "$dir"; fi
}

# --- up ----------------------------------------------------------------------------------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

gen_certs() { # in $dir/pki
	local p="$dir/pki"
	mkdir -p "$p"
	(
		cd "$p"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
			-subj "/CN=phoenix-real-lane-ca" 2>/dev/null
		cat >apiserver.ext <<-'EOF'
			basicConstraints=CA:FALSE
			keyUsage=digitalSignature,keyEncipherment
			extendedKeyUsage=serverAuth
			subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
		EOF
		printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
		sign() { # NAME SUBJECT EXTFILE
			openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
				-extfile "$3" -out "$1.crt" 2>/dev/null
		}
		sign apiserver "/CN=kube-apiserver" apiserver.ext
		sign admin "/O=system:masters/CN=admin" client.ext
		sign controller-manager "/CN=system:kube-controller-manager" client.ext
		sign scheduler "/CN=system:kube-scheduler" client.ext
		sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client.ext
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	)
}

write_kubeconfig() { # FILE CERTNAME
	cat >"$1" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: real
		  cluster:
		    server: https://127.0.0.1:$api_port
		    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
		users:
		- name: $2
		  user:
		    client-certificate-data: $(base64 -w0 <"$dir/pki/$2.crt")
		    client-key-data: $(base64 -w0 <"$dir/pki/$2.key")
		contexts:
		- name: real
		  context: {cluster: real, user: $2}
		current-context: real
	EOF
}

# start NAME CMD...: runs CMD in its own process group (setsid), log in DIR/logs/NAME.log.
start() {
	local name=$1
	shift
	setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/pids/$name.pid"
}

# wait_until SECS DESC CMD...: retries CMD every 0.2 s; on timeout prints the logs and fails.
wait_until() {
	local secs=$1 desc=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			for f in "$dir"/logs/*.log; do echo "--- $f (tail)" >&2; tail -n 15 "$f" >&2; done
			down || true
			die "timed out after ${secs}s waiting for $desc"
		fi
		local f
		for f in "$dir"/pids/*.pid; do
			kill -0 "$(cat "$f")" 2>/dev/null && continue
			echo "--- $(basename "$f" .pid) exited; log tail:" >&2
			tail -n 30 "$dir/logs/$(basename "$f" .pid).log" >&2
			down || true
			die "$(basename "$f" .pid) exited while waiting for $desc"
		done
		sleep 0.2
	done
}

kc() { kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/kube-cache" "$@"; }

node_yaml() { # NAME
	cat <<-EOF
		apiVersion: v1
		kind: Node
		metadata:
		  name: $1
		  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
		  labels: {type: kwok, kubernetes.io/hostname: $1, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
		status:
		  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
		  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
	EOF
}

up() {
	local t0=$SECONDS bin
	bin=$("$root/hack/k8s/build.sh") || die "hack/k8s/build.sh failed"
	[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/phx-real.XXXXXX")
	mkdir -p "$dir"/{pids,logs,etcd}
	dir=$(cd "$dir" && pwd)
	[ -z "$(live_groups)" ] || die "$dir already has a running cluster (down it first)"
	log "dir $dir"
	gen_certs
	local etcd_port peer_port kwok_port
	etcd_port=$(free_port) peer_port=$(free_port) api_port=$(free_port) kwok_port=$(free_port)
	echo "$api_port" >"$dir/api.port"
	write_kubeconfig "$dir/kubeconfig" admin
	write_kubeconfig "$dir/controller-manager.kubeconfig" controller-manager
	write_kubeconfig "$dir/scheduler.kubeconfig" scheduler
	local p="$dir/pki"

	start etcd "$bin/etcd" --name real --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "real=http://127.0.0.1:$peer_port" --listen-metrics-urls "" \
		--unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
	wait_until 30 "etcd health" curl -sf "http://127.0.0.1:$etcd_port/health"

	start kube-apiserver "$bin/kube-apiserver" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
		--secure-port "$api_port" --etcd-servers "http://127.0.0.1:$etcd_port" \
		--tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
		--client-ca-file "$p/ca.crt" --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$p/apiserver-kubelet-client.key" \
		--authorization-mode Node,RBAC --allow-privileged=true \
		--service-account-issuer "https://kubernetes.default.svc.cluster.local" \
		--service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type lease \
		--cert-dir "$dir/apiserver-certs" --profiling=false --v=1
	wait_until 90 "kube-apiserver /readyz" curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" \
		--key "$p/admin.key" "https://127.0.0.1:$api_port/readyz"

	start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port 0 --use-service-account-credentials \
		--service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
		--controllers garbage-collector-controller,deployment-controller,replicaset-controller,job-controller,endpointslice-controller,endpoints-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,disruption-controller,pod-garbage-collector-controller \
		--leader-elect=false --concurrent-gc-syncs 5 --v=1
	start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
		--authentication-kubeconfig "$dir/scheduler.kubeconfig" \
		--authorization-kubeconfig "$dir/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --v=1
	start kwok "$bin/kwok" --kubeconfig "$dir/kubeconfig" --server-address "127.0.0.1:$kwok_port" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--cidr 10.244.0.1/16 --node-ip 127.0.0.1

	local i
	for i in $(seq 1 "$nodes"); do node_yaml "kwok-node-$i"; echo "---"; done | kc apply -f - >/dev/null
	wait_until 60 "$nodes nodes Ready" bash -c "[ \"\$(kubectl --kubeconfig '$dir/kubeconfig' get nodes --no-headers 2>/dev/null | grep -c ' Ready ')\" -ge $nodes ]"
	# Admission taints new nodes node.kubernetes.io/not-ready until the node-lifecycle controller
	# lifts it. That controller is not run: it would also mark every pod NotReady whenever kwok's
	# heartbeats lag on a loaded machine (seen in the lane). So the taint is removed here, once.
	wait_until 60 "nodes untainted" bash -c "kubectl --kubeconfig '$dir/kubeconfig' taint nodes --all node.kubernetes.io/not-ready- >/dev/null 2>&1; [ -z \"\$(kubectl --kubeconfig '$dir/kubeconfig' get nodes -o jsonpath='{.items[*].spec.taints}')\" ]"
	wait_until 60 "service account default/default" kc get serviceaccount default -n default
	log "up in $((SECONDS - t0))s: apiserver https://127.0.0.1:$api_port, $nodes kwok nodes"
	[ -z "$kcout" ] || echo "$dir/kubeconfig" >"$kcout"
	echo "export KUBECONFIG=$dir/kubeconfig"
	echo "# stop with: $0 down --dir $dir"
}

status() {
	[ -n "$dir" ] || die "status needs --dir DIR"
	local f
	for f in "$dir"/pids/*.pid; do
		[ -f "$f" ] || continue
		if kill -0 "$(cat "$f")" 2>/dev/null; then s=running; else s=stopped; fi
		printf '%-26s %s pid %s\n' "$(basename "$f" .pid)" "$s" "$(cat "$f")"
	done
}

case "$cmd" in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status [--dir DIR] [--kubeconfig-out FILE] [--nodes N]" >&2; exit 2 ;;
esac
