/* `kubectl phoenix completion bash|zsh`: a shell completion script for kubectl-phoenix (commands,
 * flags and their values, and the names of PhoenixServices, Intents and Builds, read with the
 * kubectl of the shell, -n/--context honoured). */
#ifndef PHX_COMPLETION_H
#define PHX_COMPLETION_H

#include <stdio.h>

/* Writes the script for shell ("bash" or "zsh") to out. Returns 0, 2 (usage: another shell,
 * said on stderr) or 1 when out cannot be written. */
int phx_cmd_completion(FILE *out, const char *shell);

#endif
