/* Shell completion for kubectl-phoenix (phx_completion.h). One bash function serves both shells
 * (zsh through bashcompinit); names come from `kubectl get` at completion time, so the script
 * never goes stale with the cluster. */
#include "phx_completion.h"

#include <string.h>

/* The commands, and what their operand completes to. */
static const char *const COMMANDS =
	"status switchover pause resume dashboard intents queue approve deny builds logs "
	"completion";
static const char *const FLAGS =
	"--kubeconfig --context -n --namespace -A --all-namespaces -w --watch --interval --color "
	"--operator-namespace --leader-election-id --target --address --port --gate --reason -o "
	"--output -f --follow -h --help --version";

static const char SCRIPT[] =
	"_kubectl_phoenix_get() { # KIND...: names, honouring -n/--context/--kubeconfig typed so far\n"
	"  local a=() i w\n"
	"  for ((i = 1; i < COMP_CWORD; i++)); do\n"
	"    w=${COMP_WORDS[i]}\n"
	"    case $w in\n"
	"      -n|--namespace|--context|--kubeconfig) a+=(\"$w\" \"${COMP_WORDS[i+1]}\") ;;\n"
	"      -A|--all-namespaces) a+=(-A) ;;\n"
	"    esac\n"
	"  done\n"
	"  kubectl get \"$@\" \"${a[@]}\" -o name 2>/dev/null\n"
	"}\n"
	"_kubectl_phoenix() {\n"
	"  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i w\n"
	"  for ((i = 1; i < COMP_CWORD; i++)); do\n"
	"    w=${COMP_WORDS[i]}\n"
	"    case $w in\n"
	"      --kubeconfig|--context|-n|--namespace|--interval|--color|--operator-namespace|\\\n"
	"      --leader-election-id|--target|--address|--port|--gate|--reason|-o|--output) ((i++)) ;;\n"
	"      -*) ;;\n"
	"      *) cmd=$w; break ;;\n"
	"    esac\n"
	"  done\n"
	"  case $prev in\n"
	"    -n|--namespace) COMPREPLY=($(compgen -W \"$(kubectl get namespaces -o name 2>/dev/null | sed 's|^namespace/||')\" -- \"$cur\")); return ;;\n"
	"    --context) COMPREPLY=($(compgen -W \"$(kubectl config get-contexts -o name 2>/dev/null)\" -- \"$cur\")); return ;;\n"
	"    --color) COMPREPLY=($(compgen -W 'auto always never' -- \"$cur\")); return ;;\n"
	"    --gate) COMPREPLY=($(compgen -W 'Governance Spec Deploy' -- \"$cur\")); return ;;\n"
	"    -o|--output) COMPREPLY=($(compgen -W 'json yaml wide' -- \"$cur\")); return ;;\n"
	"    --kubeconfig) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
	"    --interval|--operator-namespace|--leader-election-id|--target|--address|--port|--reason) return ;;\n"
	"  esac\n"
	"  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '%FLAGS%' -- \"$cur\")); return; fi\n"
	"  case $cmd in\n"
	"    '') COMPREPLY=($(compgen -W '%COMMANDS%' -- \"$cur\")) ;;\n"
	"    status|switchover|pause|resume)\n"
	"      COMPREPLY=($(compgen -W \"$(_kubectl_phoenix_get phoenixservices | sed 's|^[^/]*/||')\" -- \"$cur\")) ;;\n"
	"    approve|deny)\n"
	"      COMPREPLY=($(compgen -W \"$(_kubectl_phoenix_get intents,builds | sed -E 's#^(intent|build)[^/]*/#\\1/#')\" -- \"$cur\")) ;;\n"
	"    logs)\n"
	"      COMPREPLY=($(compgen -W \"$(_kubectl_phoenix_get builds | sed -E 's|^build[^/]*/|build/|')\" -- \"$cur\")) ;;\n"
	"    completion) COMPREPLY=($(compgen -W 'bash zsh' -- \"$cur\")) ;;\n"
	"  esac\n"
	"}\n"
	"complete -F _kubectl_phoenix kubectl-phoenix\n";

/* Writes SCRIPT with %FLAGS% and %COMMANDS% filled in. */
static void fill(FILE *out)
{
	const char *p = SCRIPT, *m;

	while ((m = strchr(p, '%'))) {
		fwrite(p, 1, (size_t)(m - p), out);
		if (!strncmp(m, "%FLAGS%", 7)) {
			fputs(FLAGS, out);
			p = m + 7;
		} else if (!strncmp(m, "%COMMANDS%", 10)) {
			fputs(COMMANDS, out);
			p = m + 10;
		} else {
			fputc('%', out);
			p = m + 1;
		}
	}
	fputs(p, out);
}

int phx_cmd_completion(FILE *out, const char *shell)
{
	if (!shell || (strcmp(shell, "bash") && strcmp(shell, "zsh"))) {
		fprintf(stderr, "error: usage: kubectl phoenix completion bash|zsh\n");
		return 2;
	}
	fprintf(out, "# kubectl phoenix completion for %s: load it with\n"
		"#   source <(kubectl phoenix completion %s)\n"
		"# (or save it under your shell's completion directory). It completes\n"
		"# kubectl-phoenix ...; for `kubectl phoenix <TAB>` (kubectl 1.26+), put an executable\n"
		"# kubectl_complete-phoenix on PATH that runs kubectl-phoenix's completion.\n", shell,
		shell);
	if (!strcmp(shell, "zsh"))
		fputs("autoload -U +X bashcompinit && bashcompinit\n", out);
	fill(out);
	return ferror(out) ? 1 : 0;
}
