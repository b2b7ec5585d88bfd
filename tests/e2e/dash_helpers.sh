# Helpers shared by the web dashboard's end-to-end tests (tests/e2e/50_dashboard*.sh). Source
# after lib.sh. Not a test itself (the name does not start with a digit).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The HTTP status of a curl request.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# A kubesim token for service account NS/NAME.
token_for() {
	sim_control -X POST "$SIM_URL/sim/v1/tokens" -d "{\"namespace\":\"$1\",\"serviceAccount\":\"$2\"}" |
		sed -nE 's/.*"token":"([0-9a-f]+)".*/\1/p'
}
# kubeconfig_for FILE TOKEN: a kubeconfig like $KUBECONFIG but for another token.
kubeconfig_for() {
	sed -E "s/^( *token:).*/\1 $2/" "$KUBECONFIG" >"$1"
}
# start_proxy NAME KUBECONFIG: starts `kubectl phoenix dashboard --target $D` as that user and
# sets PROXY_URL to the URL it prints.
start_proxy() {
	KUBECONFIG=$2 kubectl-phoenix dashboard --target "$D" >"$E2E_TMP/$1.out" 2>&1 &
	echo $! >"$E2E_TMP/$1.pid"
	on_exit "phx_stop_pid $(cat "$E2E_TMP/$1.pid")"
	wait_for 5 "the $1 proxy prints its URL" grep -q '^Phoenix dashboard: http://127.0.0.1:' "$E2E_TMP/$1.out"
	PROXY_URL=$(sed -nE 's/^Phoenix dashboard: (http[^ ]+)$/\1/p' "$E2E_TMP/$1.out")
}
# The browser's prerequisites; exports NODE_PATH and ART.
browser_ready() {
	command -v chromium >/dev/null || fail "chromium is not installed (hack/install-deps.sh)"
	NODE_PATH="$PHX_ROOT/.tools/node/node_modules"
	[ -d "$NODE_PATH/playwright-core" ] || fail "playwright-core is not installed (hack/install-deps.sh)"
	export NODE_PATH ART
}
