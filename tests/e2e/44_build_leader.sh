#!/usr/bin/env bash
# Leader change mid-build: two operators with leader election; the one holding the Lease (one for
# every kind on the controller host, the Build controller among them) is SIGKILLed while a
# Build's test step runs. The other takes over from the Build's status: the attempt finishes,
# the Build succeeds, and there is still exactly one Job for it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"

sim_start
build_install_crds
for i in 1 2; do
	phx_start_controller "ctl$i" --leader-elect --leader-election-namespace default
done
lease=phoenix-operator-leader
holder() { k get lease "$lease" -n default -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }
wait_for 30 "a leader of $lease" bash -c "[ -n \"\$(kubectl --kubeconfig $KUBECONFIG get lease $lease -n default -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)\" ]"
leader=$(holder)
leader_pid=${leader##*_}
ours=0
for i in 1 2; do [ "$(cat "$E2E_TMP/ctl$i.pid")" = "$leader_pid" ] && ours=1; done
[ "$ours" = 1 ] || fail "the $lease holder $leader is not one of ours"

sim_control -X POST "$SIM_URL/sim/v1/jobs/script" \
	-d "{\"namespace\":\"default\",\"job\":\"lc-1\",\"containers\":{\"test\":{\"exitCode\":0,\"durationMs\":$((4000 * ${PHX_E2E_WAIT_SCALE:-1}))}}}" >/dev/null
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: lc}
spec:
  serviceName: lc
  source:
    git: {url: 'file:///srv/git/lc'}
  image: {name: registry.local/team/lc}
YAML
wait_for 30 "lc testing" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get build lc -o jsonpath='{.status.step}')\" = test ]"
kill -KILL "$leader_pid"
echo "killed $leader mid-build"
wait_for 40 "a new leader of $lease" bash -c "h=\$(kubectl --kubeconfig $KUBECONFIG get lease $lease -n default -o jsonpath='{.spec.holderIdentity}'); [ -n \"\$h\" ] && [ \"\$h\" != $leader ]"
build_wait_reason lc Succeeded 90
expect_eq "lc-1" "$(k get jobs -l 'phoenix.fpai.io/build=lc,!phoenix.fpai.io/build-step' -o jsonpath='{.items[*].metadata.name}')" "one Job for the attempt"
expect_eq "1 2 true lc-2" "$(k get build lc -o jsonpath='{.status.attempt} {.status.run} {.status.registered} {.status.verify.job}')" "attempt 1, one attempt Job and the verify Job, registered"
pass "leader killed mid-build: the new leader resumes from status, one Job, Build Succeeded"
