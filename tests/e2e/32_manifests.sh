#!/usr/bin/env bash
# What users install stays true to the code:
#  - the CRD copies and the plain manifests do not drift from their sources (and drift is caught);
#  - RBAC grants exactly the resources the operator's code uses, and every (verb, resource) the
#    running operator sends to the API server during a failover, a switchover and a pause: the
#    operator runs with its service account's token, kubesim enforces RBAC, and not one request
#    is refused; what the RBAC does not grant is refused (kubectl, kubectl auth can-i);
#  - every sample passes server-side validation (kubectl apply --dry-run=server) on kubesim, and
#    a bad one is refused;
#  - the plain manifests install with kubectl alone;
#  - every relative link in the README and docs/ resolves;
#  - the Dockerfile's build works on its .dockerignore'd context and its runtime stage installs
#    every shared library the binary needs.
set -euo pipefail
unset KUBECONFIG
source "$(dirname "$0")/lib.sh"
work="$E2E_TMP"
on_failure 'echo "--- operator log (tail)"; tail -40 "$E2E_TMP/operator.log" 2>/dev/null'
helm=$(command -v helm) || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"

# --- 1. no drift -------------------------------------------------------------------------------
HELM=$helm "$PHX_ROOT/hack/sync-manifests.sh" --check || fail "generated manifests drifted (run hack/sync-manifests.sh)"
for f in "$PHX_ROOT"/manifests/crds/*.yaml; do
	cmp -s "$f" "$PHX_ROOT/charts/phoenix-operator/crds/$(basename "$f")" || fail "chart CRD $(basename "$f") differs"
done
pass "chart crds/ == manifests/crds/; manifests/deploy and manifests/rbac == the chart rendered"

# The check must catch drift: run it on a copy with one CRD copy edited.
mkdir -p "$work/repo/hack"
cp "$PHX_ROOT/hack/sync-manifests.sh" "$work/repo/hack/"
cp -r "$PHX_ROOT/charts" "$PHX_ROOT/manifests" "$work/repo/"
echo "# drift" >>"$(ls "$work"/repo/charts/phoenix-operator/crds/*.yaml | head -1)"
if HELM=$helm "$work/repo/hack/sync-manifests.sh" --check >"$work/drift" 2>&1; then fail "an edited chart CRD was not reported"; fi
grep -q "has drifted" "$work/drift" || fail "drift report does not say what drifted"
HELM=$helm "$work/repo/hack/sync-manifests.sh" >/dev/null && HELM=$helm "$work/repo/hack/sync-manifests.sh" --check ||
	fail "sync did not repair the drift"
pass "drift is reported, and hack/sync-manifests.sh repairs it"

# --- 2. RBAC == what the code uses ---------------------------------------------
# Rules as "resource verb verb ..." lines, from the rendered chart (default values).
rules() { # FILE
	awk '/^kind: /{kind=$2} kind ~ /Role$/ && /resources:/{r=$0} kind ~ /Role$/ && /verbs:/{print r " @ " $0}' "$1" |
		sed -E 's/.*resources: *\[([^]]*)\] @ .*verbs: *\[([^]]*)\]/\1 \2/; s/[",]/ /g' |
		awk '{for(i=2;i<=NF;i++) print $1, $i}' | sort -u
}
rules "$PHX_ROOT/manifests/rbac/rbac.yaml" >"$work/granted"
[ -s "$work/granted" ] || fail "no RBAC rules found in manifests/rbac/rbac.yaml"

# What the operator's code uses, read from the code itself: every kube_get/list/create/update/
# patch/delete call on a named GVR (with its subresource), every informer (list + watch) in
# controller/, and the library modules controller/ includes (Events, leader election, ...).
# GVR names resolve through their definitions in src/ and controller/.
cat >"$work/uses.pl" <<'PERL'
use strict; use warnings;
my (%res, @out);
my @files = @ARGV;
my %text;
for my $f (@files) {
	local $/; open(my $fh, '<', $f) or die "$f: $!"; my $s = <$fh>; close $fh;
	$s =~ s{/\*.*?\*/}{}gs; $s =~ s{(^|\s)//[^\n]*}{$1}gm;
	$text{$f} = $s;
	while ($s =~ /struct\s+kube_gvr\s+(\w+)\s*=\s*\{\s*(?:"[^"]*"|\w+)\s*,\s*"[^"]*"\s*,\s*"([a-z]+)"/g) { $res{$1} = $2; }
}
for my $f (grep { $_ !~ m{/src/kube_rest\.c$} } @files) {
	my $s = $text{$f};
	while ($s =~ /\bkube_(get|list|create|update|patch|delete)\s*\(/g) {
		my ($verb, $i, $depth, $cur, @args) = ($1, pos($s), 0, '');
		for (; $i < length $s; $i++) {
			my $c = substr($s, $i, 1);
			if ($c eq '(') { $depth++ }
			elsif ($c eq ')') { if ($depth == 0) { push @args, $cur; last } $depth-- }
			elsif ($c eq ',' && $depth == 0) { push @args, $cur; $cur = ''; next }
			$cur .= $c;
		}
		s/^\s+|\s+$//g for @args;
		next unless @args >= 2 && $args[1] =~ /^&\s*(\w+)$/ && exists $res{$1};
		my $r = $res{$1};
		$r .= "/$1" if $verb =~ /^(get|update|patch)$/ && @args > 4 && $args[4] =~ /^"(\w+)"$/;
		push @out, "$r $verb";
	}
	if ($f =~ m{/controller/}) {
		# An informer lists and watches: any *informer*(...) call or `.gvr = &X` naming a GVR.
		while ($s =~ /(?:\w*informer\w*\s*\([^;]*?|\.gvr\s*=\s*)&\s*(\w+)/g) {
			next unless exists $res{$1};
			push @out, "$res{$1} list", "$res{$1} watch";
		}
		# Owner references with blockOwnerDeletion need update on the owner's finalizers
		# (OwnerReferencesPermissionEnforcement, e.g. OpenShift).
		push @out, "phoenixservices/finalizers update" if $s =~ /blockOwnerDeletion/;
		# A streamed GET (kube_get_stream) names its resource: "pods/log" for a pod's log.
		while ($s =~ /\bkube_get_stream\s*\([^;]*?"([a-z]+\/[a-z]+)"/g) { push @out, "$1 get"; }
		push @out, "builds/finalizers update" if $s =~ /phx_owner_refs_new\s*\([^;]*PHX_BUILD_KIND/;
	}
}
my %seen; print "$_\n" for sort grep { !$seen{$_}++ } @out;
PERL
modules=$(grep -hoE '#include "kube_[a-z_]+\.h"' "$PHX_ROOT"/controller/*.[ch] "$PHX_ROOT"/controller/*/*.[ch] | sed -E 's/.*"(kube_[a-z_]+)\.h"/\1/' | sort -u)
sources=("$PHX_ROOT"/controller/*.[ch] "$PHX_ROOT"/controller/*/*.[ch] "$PHX_ROOT/src/kube_rest.c")
# ... and the modules those include (the controller host, src/kube_controller.c, runs the
# Lease elector for every kind).
modules=$(for m in $modules; do echo "$m"; [ -f "$PHX_ROOT/src/$m.c" ] && grep -hoE '#include "kube_[a-z_]+\.h"' "$PHX_ROOT/src/$m.c" | sed -E 's/.*"(kube_[a-z_]+)\.h"/\1/'; done | sort -u)
for m in $modules; do [ -f "$PHX_ROOT/src/$m.c" ] && sources+=("$PHX_ROOT/src/$m.c"); done
perl "$work/uses.pl" "${sources[@]}" >"$work/used"
[ -s "$work/used" ] || fail "found no API use in controller/: has the code moved?"
if ! diff -u "$work/granted" "$work/used" >"$work/rdiff"; then
	cat "$work/rdiff"
	fail "RBAC (-) and what the code uses (+) differ: update charts/phoenix-operator/templates/_rules.tpl, then hack/sync-manifests.sh"
fi
pass "RBAC grants exactly what the code uses: $(awk '{printf "%s:%s ", $1, $2}' "$work/used")"

# --- 3. samples pass server-side validation ---------------------------------------------------
sim_start --nodes 3 --pod-ready-delay-ms 100
wait_for 15 "kubesim answers kubectl" k version

k apply -f "$PHX_ROOT/manifests/crds/" >/dev/null
k wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null
k create namespace samples >/dev/null
n=0
for f in "$PHX_ROOT"/manifests/samples/*.yaml; do
	k -n samples apply --dry-run=server -f "$f" >"$work/out" 2>&1 || { cat "$work/out"; fail "sample $(basename "$f") rejected"; }
	n=$((n + 1))
done
[ "$(k -n samples get phx -o name | wc -l)" = 0 ] || fail "--dry-run=server created objects"
for s in intent-queue governance sovereign-factory build-executor registry; do
	[ -f "$PHX_ROOT/manifests/samples/$s.yaml" ] || fail "core service sample $s.yaml missing"
done
sed -e 's/^  standbys: 2/  standbys: 9/' "$PHX_ROOT/manifests/samples/governance.yaml" >"$work/bad.yaml"
if k -n samples apply --dry-run=server -f "$work/bad.yaml" >"$work/out" 2>&1; then fail "standbys: 9 accepted"; fi
grep -q "spec.standbys" "$work/out" || { cat "$work/out"; fail "the 422 does not name spec.standbys"; }
pass "all $n samples (the five core services among them) pass k apply --dry-run=server; standbys: 9 is refused"

# --- 4. the plain manifests install with kubectl alone ---------------------------------------
k apply -f "$PHX_ROOT/manifests/deploy/" >/dev/null || fail "kubectl apply -f manifests/deploy/"
k apply -f "$PHX_ROOT/manifests/rbac/" >/dev/null || fail "kubectl apply -f manifests/rbac/"
k -n phoenix-system rollout status deployment/phoenix-operator --timeout=60s >/dev/null ||
	fail "the plain-manifest Deployment did not roll out"
k delete -f "$PHX_ROOT/manifests/rbac/" -f "$PHX_ROOT/manifests/deploy/" --ignore-not-found --wait=false >/dev/null
pass "manifests/deploy + manifests/rbac install with k apply and roll out"

# --- 5. every request the running operator makes is granted ------------------------------------
# The operator runs as its service account: kubesim evaluates the RBAC of manifests/rbac/ for
# every request it makes, so one missing rule shows up as a 403.
[ -x "$PHX_BIN/phoenix-controller" ] || fail "phoenix-controller not built: cannot check RBAC against its requests"
wait_for 30 "namespace phoenix-system deleted (step 4)" expect_fail "namespace still there" k get namespace phoenix-system
k apply -f "$PHX_ROOT/manifests/deploy/00-namespace.yaml" -f "$PHX_ROOT/manifests/deploy/serviceaccount.yaml" \
	-f "$PHX_ROOT/manifests/rbac/" >/dev/null || fail "kubectl apply -f manifests/rbac/"
sa=system:serviceaccount:phoenix-system:phoenix-operator
sa_kubeconfig="$work/sa.kubeconfig"
if e2e_backend_is_kubesim; then
sim_control -X POST "$SIM_URL/sim/v1/tokens" -d '{"namespace":"phoenix-system","serviceAccount":"phoenix-operator"}' >"$work/token.json"
sa_token=$(sed -nE 's/.*"token":"([0-9a-f]+)".*/\1/p' "$work/token.json")
[ ${#sa_token} = 64 ] || fail "POST /sim/v1/tokens gave no token: $(cat "$work/token.json")"
sed "s/token: $SIM_TOKEN/token: $sa_token/" "$KUBECONFIG" >"$sa_kubeconfig"
else
	# Real backend: a bound token from the TokenRequest API, signed by the API server's key.
	sa_token=$(k create token phoenix-operator -n phoenix-system --duration=2h) || fail "kubectl create token"
	kubectl config view --raw --minify --kubeconfig "$KUBECONFIG" | sed '/client-certificate-data:/d; /client-key-data:/d' |
		sed "s/^  user:.*/  user:\n    token: $sa_token/" >"$sa_kubeconfig"
fi
grep -q "token: $sa_token" "$sa_kubeconfig" || fail "could not write the service account's kubeconfig"
ksa() { kubectl --kubeconfig "$sa_kubeconfig" --cache-dir "$work/sa-cache" "$@"; }

# Denials: what manifests/rbac/ does not grant is refused with upstream's message.
ksa get pods -A >/dev/null || fail "the service account cannot list pods"
if ksa get secrets -A >"$work/out" 2>&1; then fail "the service account could list secrets"; fi
expect_contains "$(cat "$work/out")" "secrets is forbidden: User \"$sa\" cannot list resource \"secrets\" in API group \"\" at the cluster scope" "kubectl get secrets -A"
if ksa -n default get pod x >"$work/out" 2>&1; then fail "the service account could get a pod"; fi
expect_contains "$(cat "$work/out")" "pods \"x\" is forbidden: User \"$sa\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"" "kubectl get pod x"
if ksa get --raw /sim/v1/nodes >"$work/out" 2>&1; then fail "the service account reached the control API"; fi
expect_contains "$(cat "$work/out")" "forbidden" "the control API is admin-only"
# kubectl auth can-i, for the service account (impersonated by the admin, and by itself)
can() { # WANT ARGS...: kubectl auth can-i ARGS as the service account answers WANT
	local want=$1 got
	shift
	got=$(k auth can-i "$@" --as="$sa" 2>/dev/null) || true
	[ "$got" = "$want" ] || fail "kubectl auth can-i $* --as=$sa: want $want, got '$got'"
}
can yes list pods -n default
can yes delete pods -n rbac-check
can no get pods -n default
can no list secrets -n default
can yes patch phoenixservices.phoenix.fpai.io --subresource=status -n default
can no update phoenixservices.phoenix.fpai.io --subresource=status -n default
can yes update leases.coordination.k8s.io -n phoenix-system
can no update leases.coordination.k8s.io -n default
can no create pods --subresource=exec -n default
[ "$(ksa auth can-i create pods -n x)" = yes ] || fail "kubectl auth can-i as the service account itself"
ksa auth can-i --list -n phoenix-system >"$work/rules" || fail "kubectl auth can-i --list"
grep -qE '^leases.coordination.k8s.io +\[\] +\[\] +\[get create update\]' "$work/rules" || { cat "$work/rules"; fail "can-i --list lacks the leader-election Role"; }
if ksa auth can-i --list -n default | grep -q '^leases'; then fail "can-i --list -n default shows the phoenix-system Role"; fi
[ "$(k auth can-i list secrets -A)" = yes ] || fail "the admin is not a superuser"
k create token phoenix-operator -n phoenix-system >"$work/token2" || fail "kubectl create token"
expect_eq "$sa" "$(ksa --token "$(cat "$work/token2")" auth whoami -o jsonpath='{.status.userInfo.username}')" "kubectl auth whoami with the token of kubectl create token"
pass "RBAC enforced for the service account: secrets, get pods and the control API refused (upstream messages); kubectl auth can-i agrees; kubectl create token works"

free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
mport=$(free_port 28080)
hport=$(free_port $((mport + 1)))
k create namespace rbac-check >/dev/null
"$PHX_BIN/phoenix-controller" --kubeconfig "$sa_kubeconfig" --metrics-bind-address "127.0.0.1:$mport" \
	--health-probe-bind-address "127.0.0.1:$hport" --leader-elect --leader-election-namespace phoenix-system \
	--leader-election-id rbac-check >"$work/operator.log" 2>&1 &
op_pid=$!
on_exit "kill $op_pid; wait $op_pid"
wait_for 20 "operator ready" curl -fsS "http://127.0.0.1:$hport/readyz"
k -n rbac-check apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
healthy() {
	[ "$(k -n rbac-check get phx hello -o jsonpath='{.status.phase}/{.status.readyDisplay}/{.status.failovers}')" = "Healthy/3/3/$1" ]
}
wait_for 30 "hello Healthy" healthy 0
k -n rbac-check delete pod "$(k -n rbac-check get phx hello -o jsonpath='{.status.primary}')" --wait=false >/dev/null
wait_for 30 "hello recovered from the failover" healthy 1
k -n rbac-check annotate phx hello phoenix.fpai.io/switchover-to=any >/dev/null
cleared() { [ -z "$(k -n rbac-check get phx hello -o jsonpath='{.metadata.annotations.phoenix\.fpai\.io/switchover-to}')" ]; }
wait_for 30 "switchover annotation cleared" cleared
k -n rbac-check patch phx hello --type merge -p '{"spec":{"paused":true}}' >/dev/null
k -n rbac-check patch phx hello --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for 30 "hello Healthy after switchover/pause" healthy 1

curl -fsS "http://127.0.0.1:$mport/metrics" >"$work/metrics" || fail "cannot scrape /metrics"
grep -E '^kube_client_requests_total\{' "$work/metrics" |
	sed -nE 's/.*verb="([a-z]+)".*resource="([a-z]+)".*/\2 \1/p; s/.*resource="([a-z]+)".*verb="([a-z]+)".*/\1 \2/p' |
	sort -u >"$work/requests"
[ -s "$work/requests" ] || fail "no kube_client_requests_total samples with a resource in /metrics"
missing=0
while read -r res verb; do
	if ! grep -qE "^$res(/[a-z]+)? $verb\$" "$work/granted"; then
		echo "  the operator sent '$verb $res' but RBAC does not grant it"
		missing=1
	fi
done <"$work/requests"
[ $missing = 0 ] || fail "RBAC misses requests the operator makes"
if grep -E '^kube_client_requests_total\{.*code="403"' "$work/metrics"; then fail "the operator got 403s (above)"; fi
if grep -i forbidden "$work/operator.log"; then fail "the operator's log reports forbidden requests (above)"; fi
k -n phoenix-system get lease rbac-check -o jsonpath='{.spec.holderIdentity}' | grep -q . || fail "the operator holds no Lease in phoenix-system"
pass "RBAC grants every request the operator made as its service account (no 403): $(awk '{printf "%s:%s ", $1, $2}' "$work/requests")"

# Sections 6 and 7 touch no cluster (the kubesim pass runs them): the real lane stops here.
e2e_backend_is_kubesim || { pass "32_manifests (real backend): cluster sections 3-5 passed; 6-7 need no cluster"; exit 0; }

# --- 6. every relative link in the README and docs/ points at a file that exists ---------------
broken=0
for md in "$PHX_ROOT/README.md" "$PHX_ROOT"/docs/*.md "$PHX_ROOT"/docs/lib/*.md; do
	[ -f "$md" ] || continue
	dir=$(dirname "$md")
	while read -r link; do
		target="${link%%#*}"
		[ -n "$target" ] || continue
		[ -e "$dir/$target" ] || { echo "  ${md#$PHX_ROOT/}: broken link $link"; broken=1; }
	done < <(grep -oE '\]\([^) ]+\)' "$md" | sed -E 's/^\]\((.*)\)$/\1/' | grep -vE '^(https?:|mailto:|#)')
done
[ $broken = 0 ] || fail "broken links in the docs"
pass "README and docs/: every relative link resolves"

# --- 7. the Dockerfile builds from its context and ships the libraries the binary needs -------
# No container engine here: replay what `docker build` does. The build context is the repository
# filtered by .dockerignore (top-level patterns: all ours are), built with the Dockerfile's own
# cmake commands; then every shared library the binary needs must come from a package the
# runtime stage installs.
df="$PHX_ROOT/Dockerfile"
ctx="$work/docker-context"
mkdir -p "$ctx"
mapfile -t ignore < <(grep -vE '^\s*(#|$)' "$PHX_ROOT/.dockerignore")
for pat in "${ignore[@]}"; do
	case "$pat" in */* | *'**'* | '!'*) fail ".dockerignore pattern '$pat' is beyond this check's top-level matcher" ;; esac
done
shopt -s dotglob
for entry in "$PHX_ROOT"/*; do
	name=$(basename "$entry")
	skip=0
	for pat in "${ignore[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $pat ]] && skip=1
	done
	[ $skip = 1 ] || cp -r "$entry" "$ctx/"
done
shopt -u dotglob
[ -f "$ctx/CMakeLists.txt" ] && [ -d "$ctx/src" ] && [ -d "$ctx/controller" ] || fail "the docker context lacks sources"
build_cmds=$(sed -n '/^FROM .* AS build/,/^FROM /p' "$df" | sed -n '/^RUN cmake/,/[^\\]$/p' | sed -e 's/^RUN //')
[ -n "$build_cmds" ] || fail "no cmake RUN in the Dockerfile's build stage"
(cd "$ctx" && bash -euo pipefail -c "$build_cmds") >"$work/docker-build.log" 2>&1 ||
	{ tail -20 "$work/docker-build.log"; fail "the Dockerfile's build commands fail on the .dockerignore'd context"; }
bin="$ctx/build/bin/phoenix-controller"
[ -x "$bin" ] || fail "the Dockerfile's build produced no build/bin/phoenix-controller"
grep -q "COPY --from=build /src/build/bin/phoenix-controller" "$df" || fail "runtime stage does not copy build/bin/phoenix-controller"
grep -qE '^USER 65532' "$df" || fail "runtime stage is not USER 65532"
grep -qE '^ENTRYPOINT \["/usr/local/bin/phoenix-controller"\]' "$df" || fail "ENTRYPOINT is not the operator"
runtime=$(sed -n '/^FROM debian:bookworm-slim$/,$p' "$df" | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\&' '\n\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
	grep -vE '^(apt-get|install|no-install-recommends|rm|rf|update|y)$' | sort -u)
if command -v dpkg >/dev/null && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
	missing=0
	for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldd "$bin" | awk -v s="$so" '$1 == s { print $3 }')
		pkg=$( { dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null; } | head -1 | cut -d: -f1)
		case "$pkg" in libc6 | "") [ -n "$pkg" ] || { echo "  $so: no package owns $path"; missing=1; }; continue ;; esac
		grep -qx "$pkg" <<<"$runtime" || { echo "  $so comes from $pkg, which the runtime stage does not install"; missing=1; }
	done
	[ $missing = 0 ] || fail "the runtime image would miss shared libraries"
	pass "Dockerfile: the .dockerignore'd context builds with the Dockerfile's commands; the runtime stage installs every library it needs ($(echo $runtime))"
else
	pass "Dockerfile: the .dockerignore'd context builds with the Dockerfile's commands (library check needs Debian bookworm: skipped)"
fi
for p in $(sed -n '/^pkgs=(/,/)/p' "$PHX_ROOT/hack/install-deps.sh" | grep -oE '[a-z0-9.+-]+-dev'); do
	sed -n '/AS build/,/^FROM debian:bookworm-slim$/p' "$df" | grep -qw -- "$p" || fail "build stage lacks $p (hack/install-deps.sh has it)"
done

# --- 8. the user guide quotes the minimal sample as it is -------------------------------------
guide="$PHX_ROOT/docs/user-guide.md"
quoted=$(awk '/`manifests\/samples\/minimal.yaml`/ { f = 1 } f && /^```yaml$/ { q = 1; next } q && /^```$/ { exit } q' "$guide")
[ "$quoted" = "$(cat "$PHX_ROOT/manifests/samples/minimal.yaml")" ] ||
	fail "docs/user-guide.md's copy of minimal.yaml differs from manifests/samples/minimal.yaml: $(diff <(echo "$quoted") "$PHX_ROOT/manifests/samples/minimal.yaml")"
pass "docs/user-guide.md quotes manifests/samples/minimal.yaml verbatim"

pass "32_manifests: all checks passed"
