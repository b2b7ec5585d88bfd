#!/usr/bin/env bash
# kubesim --run-pods, image mode (docs/container-images.md): a container whose image is in the
# registry on loopback is pulled (skopeo), unpacked (umoci) and run with runc. The operator image
# built by hack/images/operator-image.sh runs `--help` as a Job that completes, with its output in
# kubectl logs and a memory limit in its cgroup; the operator itself runs as a Pod from the image,
# its kubeconfig from a Secret volume, on a read-only root as uid 65532 in its own PID namespace,
# and becomes Ready through its /readyz probe (it reached kubesim from inside the container) after
# an exec startup probe of a path only the image has (exec probes run in the container); the
# freeze fault pauses the container (runc pause) and thaw resumes it; an exec probe past its
# timeout has the process it started in the container killed;
# deleting the pod stops the container and leaves no runc state; a memory limit is the memory
# cgroup's: a program under it completes, one over it is killed by the kernel (exit 137, noticed
# by the wrapper where the machine has the cgroup v1 memory controller); an image not in the registry
# keeps today's mapping (ErrImagePull without a mapping); a held (slow) pull keeps only its own pod
# waiting in ContainerCreating while another pod from the image runs to completion; kubesim SIGKILLed leaves no container.
# Skips (exit 0, "SKIP:") when the image tools are missing (hack/install-deps.sh --images).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$PHX_ROOT/hack/images/lib.sh"
require_kubesim "kubesim --run-pods"

img_require_or_skip

img_registry_start "$E2E_TMP/registry" || fail "docker-registry did not start"
on_exit img_registry_stop
"$PHX_ROOT/hack/images/operator-image.sh" --bin "$PHX_BIN" --push "$IMG_REGISTRY" >/dev/null ||
	fail "operator-image.sh failed"
image="$IMG_REGISTRY/phoenix-operator:0.1.0"

# A skopeo that holds the pull of .../memhog:slow until $E2E_TMP/release exists (a slow pull).
mkdir -p "$E2E_TMP/slowbin"
printf '#!/bin/bash\ncase " $* " in *"/memhog:slow oci:"*)\n\tfor _ in $(seq 1200); do [ -e "%s" ] && break; read -rt 0.1 <> <(:) || :; done;;\nesac\nexec %s "$@"\n' \
	"$E2E_TMP/release" "$(command -v skopeo)" >"$E2E_TMP/slowbin/skopeo"
chmod +x "$E2E_TMP/slowbin/skopeo"
export PATH="$E2E_TMP/slowbin:$PATH"

RP="$E2E_TMP/runpods"
sim_start --run-pods --run-pods-dir "$RP"
jp() { k get pod "$1" -o "jsonpath=$2"; }
pod_dir() { echo "$RP"/*/pods/"$(jp "$1" '{.metadata.uid}')"; }
# The runc id of a pod's container's current run: ks-<uid>-<container>-<wrapper pid>.
ctr_id() { runc --root /run/kubesim-oci list -q | grep "^ks-$(jp "$1" '{.metadata.uid}')-$2-" | tail -n 1; }
runc_state() { runc --root /run/kubesim-oci state "$1"; }

# --- A Job from the image: the image's entrypoint with args, a memory limit ----------------------
cat >"$E2E_TMP/job.yaml" <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: version}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: op
        image: $image
        args: ["--help"]
        resources: {limits: {memory: 64Mi}}
EOF
k apply -f "$E2E_TMP/job.yaml" >/dev/null
on_failure "echo '--- pull logs'; cat '$RP'/*/pods/*/oci/*/pull.log 2>/dev/null | tail -n 20"
wait_for 60 "job version Complete" k wait --for=condition=Complete job/version --timeout=2s
jobpod=$(k get pods -l job-name=version -o 'jsonpath={.items[0].metadata.name}')
expect_contains "$(k logs "$jobpod")" "Usage: phoenix-controller" "the image's program wrote the log"
expect_eq 0 "$(jp "$jobpod" '{.status.containerStatuses[0].state.terminated.exitCode}')" "exit code 0"
cfg="$(pod_dir "$jobpod")/oci/op/config.base.json"
expect_eq 67108864 "$(jq .linux.resources.memory.limit "$cfg")" "memory limit in the runc config"
expect_eq '["/usr/local/bin/phoenix-controller","--help"]' "$(jq -c .process.args "$cfg")" "entrypoint + args"

# --- The operator as a Pod from the image, talking to kubesim ------------------------------------
k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_phoenixservices.yaml" >/dev/null
probe=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
k create secret generic op-kubeconfig --from-file=kubeconfig="$KUBECONFIG" >/dev/null
cat >"$E2E_TMP/op.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: operator}
spec:
  volumes:
  - {name: kc, secret: {secretName: op-kubeconfig}}
  containers:
  - name: manager
    image: $image
    args: ["--kubeconfig", "/etc/phoenix/kubeconfig", "--metrics-bind-address", "0",
           "--health-probe-bind-address", "0.0.0.0:$probe"]
    volumeMounts: [{name: kc, mountPath: /etc/phoenix, readOnly: true}]
    securityContext: {readOnlyRootFilesystem: true}
    readinessProbe:
      httpGet: {path: /readyz, port: $probe}
      periodSeconds: 1
    startupProbe: # runs inside the container (runc exec): the path is the image's, not the host's
      exec: {command: ["/usr/local/bin/phoenix-controller", "--help"]}
      periodSeconds: 1
      timeoutSeconds: 5
      failureThreshold: 60
EOF
k apply -f "$E2E_TMP/op.yaml" >/dev/null
on_failure "echo '--- operator pod log'; kubectl --kubeconfig '$KUBECONFIG' logs operator 2>&1 | tail -n 30"
op_ready() { [ "$(jp operator '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 60 "operator pod Ready (its /readyz from inside the container)" op_ready
uid=$(jp operator '{.metadata.uid}')
cid=$(ctr_id operator manager)
state=$(runc_state "$cid") || fail "no runc container for operator/manager"
pid=$(jq -r .pid <<<"$state")
expect_eq "65532 65532 65532 65532" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" "operator process uid"
[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] || fail "not in its own PID namespace"
expect_eq "$(readlink /proc/self/ns/net)" "$(readlink "/proc/$pid/ns/net")" "host network"

# The freeze fault freezes the whole container (runc pause: the cgroup freezer), thaw resumes it.
sim_control -X POST "$SIM_URL/sim/v1/pods/default/operator/freeze" -d '{}' >/dev/null
ctr_status() { [ "$(runc_state "$cid" | jq -r .status)" = "$1" ]; }
wait_for 10 "frozen operator container paused" ctr_status paused
sim_control -X POST "$SIM_URL/sim/v1/pods/default/operator/thaw" -d '{}' >/dev/null
wait_for 10 "thawed operator container running" ctr_status running
wait_for 30 "operator pod Ready after the thaw" op_ready

# SIGKILL of the wrapper's process group (what the runtime does after the grace period) cannot
# reach the container, which runc puts in a session of its own: the wrapper's watcher deletes it,
# and the runtime restarts the container (restartPolicy Always).
wrapper=$(ps -o ppid= -p "$(ps -o ppid= -p "$pid" | tr -d ' ')" | tr -d ' ')
expect_eq bash "$(ps -o comm= -p "$wrapper")" "the runtime's process is the wrapper"
kill -KILL -- "-$(ps -o pgid= -p "$wrapper" | tr -d ' ')"
wait_for 10 "the killed wrapper's container is gone" bash -c "! kill -0 $pid 2>/dev/null"
restarted() { [ "$(jp operator '{.status.containerStatuses[0].restartCount}')" -ge 1 ] 2>/dev/null; }
wait_for 30 "operator container restarted" restarted
wait_for 60 "operator pod Ready again" op_ready
cid2=$(ctr_id operator manager)
[ -n "$cid2" ] && [ "$cid2" != "$cid" ] || fail "the restarted run has its own runc id (got '$cid2' after '$cid')"
cid=$cid2
pid=$(runc_state "$cid" | jq -r .pid)

# Deleting the pod stops the container (SIGTERM through the wrapper) and removes its state.
k delete pod operator --wait=false >/dev/null
wait_for 30 "operator pod gone" bash -c "! kubectl --kubeconfig '$KUBECONFIG' get pod operator >/dev/null 2>&1"
wait_for 10 "runc container $cid deleted" bash -c "! runc --root /run/kubesim-oci state $cid >/dev/null 2>&1"
[ -z "$(runc --root /run/kubesim-oci list -q | grep "ks-$uid-")" ] || fail "runc state left for the deleted pod"
kill -0 "$pid" 2>/dev/null && fail "the operator process $pid outlived its pod"

# --- An exec probe past its timeout: the process it started in the container is killed ---------
# The probe runs a second operator that waits for the Lease the container holds (it never ends).
op_cmd='"/usr/local/bin/phoenix-controller", "--kubeconfig", "/etc/phoenix/kubeconfig", "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--leader-elect", "--leader-election-namespace", "default", "--leader-election-id", "hang-lease"'
cat >"$E2E_TMP/hang.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: hang}
spec:
  volumes:
  - {name: kc, secret: {secretName: op-kubeconfig}}
  containers:
  - name: manager
    image: $image
    command: [$op_cmd]
    volumeMounts: [{name: kc, mountPath: /etc/phoenix, readOnly: true}]
    readinessProbe:
      exec: {command: [$op_cmd]}
      periodSeconds: 2
      timeoutSeconds: 1
EOF
k apply -f "$E2E_TMP/hang.yaml" >/dev/null
hang_running() { cid=$(ctr_id hang manager) && [ -n "$cid" ] && runc_state "$cid" | jq -e '.status == "running"' >/dev/null; }
wait_for 60 "hang container running" hang_running
cid=$(ctr_id hang manager)
main_pid=$(runc_state "$cid" | jq -r .pid)
probe_pid() { runc --root /run/kubesim-oci ps --format json "$cid" | jq -r --argjson m "$main_pid" '[.[] | select(. != $m)] | first // empty'; }
probe_seen() { [ -n "$(probe_pid)" ]; }
wait_for 30 "an exec probe's process in the hang container" probe_seen
first=$(probe_pid)
[ -n "$first" ] || fail "the probe's process ended before the test saw it twice"
wait_for 15 "the timed-out probe's process $first killed" bash -c "! kill -0 $first 2>/dev/null"
kill -0 "$main_pid" || fail "the container's own process died with its probe"
k delete pod hang --wait=false >/dev/null
wait_for 30 "hang pod gone" bash -c "! kubectl --kubeconfig '$KUBECONFIG' get pod hang >/dev/null 2>&1"

# --- Memory: the limit is the memory cgroup's, the kill is the kernel's -------------------------
# A tiny image of a program that allocates N MiB, on a base of its own libraries.
mkdir -p "$E2E_TMP/memhog"
cat >"$E2E_TMP/memhog/memhog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	long mb = argc > 1 ? atol(argv[1]) : 1;
	for (long i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);
		if (!p)
			return 2;
		memset(p, 1, 1 << 20);
	}
	printf("allocated %ld MiB\n", mb);
	return 0;
}
C
cc -O1 -o "$E2E_TMP/memhog/memhog" "$E2E_TMP/memhog/memhog.c" || fail "cannot compile memhog"
membase=$("$PHX_ROOT/hack/images/base.sh" "$E2E_TMP/memhog/memhog") || fail "base.sh memhog"
printf 'FROM %s\nCOPY memhog /usr/local/bin/memhog\nENTRYPOINT ["/usr/local/bin/memhog"]\n' "$membase" \
	>"$E2E_TMP/memhog/Containerfile"
img_buildah build -q --timestamp 0 -f "$E2E_TMP/memhog/Containerfile" -t localhost/memhog:1 "$E2E_TMP/memhog" >/dev/null &&
	img_buildah push -q --tls-verify=false localhost/memhog:1 "docker://$IMG_REGISTRY/memhog:1" &&
	img_buildah rmi localhost/memhog:1 >/dev/null || fail "memhog image build/push failed"
# mem_pod NAME MIB LIMIT: a pod allocating MIB MiB under LIMIT.
mem_pod() {
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: hog, image: "%s", args: ["%s"], resources: {limits: {memory: %s}}}\n' \
		"$1" "$IMG_REGISTRY/memhog:1" "$2" "$3"
}
{ mem_pod mem-ok 16 128Mi; mem_pod mem-oom 256 64Mi; } >"$E2E_TMP/mem.yaml"
k apply -f "$E2E_TMP/mem.yaml" >/dev/null
phase_is() { [ "$(jp "$1" '{.status.phase}')" = "$2" ]; }
wait_for 60 "mem-ok Succeeded" phase_is mem-ok Succeeded
expect_contains "$(k logs mem-ok)" "allocated 16 MiB" "16 MiB under a 128 MiB limit"
wait_for 60 "mem-oom Failed" phase_is mem-oom Failed
expect_eq 137 "$(jp mem-oom '{.status.containerStatuses[0].state.terminated.exitCode}')" "killed by SIGKILL"
if awk -F: '$2 == "memory" {f = 1} END {exit !f}' /proc/self/cgroup; then
	# cgroup v1 memory controller: the wrapper saw the kernel's OOM kill.
	expect_contains "$(k logs mem-oom)" "the kernel OOM-killed the container" "OOM kill noticed"
	[ -e "$(pod_dir mem-oom)/oci/hog/oom" ] || fail "no oom marker for mem-oom"
	expect_eq OOMKilled "$(jp mem-oom '{.status.containerStatuses[0].state.terminated.reason}')" "the kernel's OOM kill is the pod's OOMKilled"
fi
expect_eq Completed "$(jp mem-ok '{.status.containerStatuses[0].state.terminated.reason}')" "under its limit: Completed"

[ ! -e "$(pod_dir mem-ok)/oci/hog/oom" ] || fail "oom marker for mem-ok"

# --- A slow pull holds only its own pod: the pull runs in a worker ------------------------------
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$IMG_REGISTRY/memhog:1" \
	"docker://$IMG_REGISTRY/memhog:slow" || fail "cannot tag memhog:slow"
{ mem_pod slow 1 64Mi | sed 's/memhog:1/memhog:slow/'; mem_pod fast 1 64Mi; } >"$E2E_TMP/slow.yaml"
k apply -f "$E2E_TMP/slow.yaml" >/dev/null
wait_for 60 "fast Succeeded while slow's pull is held" phase_is fast Succeeded
expect_eq Pending "$(jp slow '{.status.phase}')" "slow still pulling"
expect_eq ContainerCreating "$(jp slow '{.status.containerStatuses[0].state.waiting.reason}')" "slow waits in ContainerCreating"
expect_contains "$(jp slow '{.status.containerStatuses[0].state.waiting.message}')" "Pulling image" "slow's waiting message"
touch "$E2E_TMP/release"
wait_for 60 "slow Succeeded once its pull is released" phase_is slow Succeeded

# --- An image the registry does not have keeps the process mapping: no mapping, ErrImagePull ---
k run nope --image="$IMG_REGISTRY/not-there:1" --restart=Never >/dev/null
wait_for 30 "nope ErrImagePull/ImagePullBackOff" bash -c "kubectl --kubeconfig '$KUBECONFIG' get pod nope -o 'jsonpath={.status.containerStatuses[0].state.waiting.reason}' | grep -qE 'ErrImagePull|ImagePullBackOff'"

# --- kubesim SIGKILLed: PR_SET_PDEATHSIG takes the wrappers, their watchers the containers -----
k apply -f "$E2E_TMP/op.yaml" >/dev/null
running() { cid=$(ctr_id operator manager) && [ -n "$cid" ] && runc_state "$cid" | jq -e '.status == "running"' >/dev/null; }
wait_for 60 "operator container running" running
cid=$(ctr_id operator manager)
pid=$(runc_state "$cid" | jq -r .pid)
kill -KILL "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
SIM_PID=""
wait_for 10 "no container left after kubesim's SIGKILL" bash -c "! runc --root /run/kubesim-oci state $cid >/dev/null 2>&1 && ! kill -0 $pid 2>/dev/null"
pass "image mode: a Job and the operator ran from the loopback registry's image under runc"
