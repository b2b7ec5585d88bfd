#!/usr/bin/env python3
"""Adjusts the config.json umoci wrote into an OCI bundle so that runc runs it without a terminal
(docs/images.md): process.terminal false (runc 1.1 needs a console socket otherwise), and, as
asked, the command, extra environment, working directory, bind mounts, the host's network (the
network namespace is dropped; mount, PID, IPC and UTS stay the container's own) and a memory limit
(the memory cgroup, so an OOM is the kernel's verdict).

  oci_config.py BUNDLE [--args JSON_ARRAY] [--env K=V]... [--cwd DIR]
                       [--bind SRC:DST[:ro]]... [--host-network] [--memory BYTES] [--read-only]
"""
import argparse
import json
import os
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bundle")
    p.add_argument("--args", help="JSON array replacing process.args (the image's entrypoint)")
    p.add_argument("--env", action="append", default=[], help="K=V, replaces an existing K")
    p.add_argument("--cwd")
    p.add_argument("--bind", action="append", default=[], help="SRC:DST[:ro]")
    p.add_argument("--host-network", action="store_true")
    p.add_argument("--memory", type=int, help="memory limit in bytes")
    p.add_argument("--read-only", action="store_true", help="read-only root (as the chart runs it)")
    a = p.parse_args()

    path = os.path.join(a.bundle, "config.json")
    with open(path) as f:
        c = json.load(f)
    proc = c["process"]
    proc["terminal"] = False
    if a.args is not None:
        args = json.loads(a.args)
        if not isinstance(args, list) or not args or not all(isinstance(x, str) for x in args):
            sys.exit("oci_config.py: --args must be a non-empty JSON array of strings")
        proc["args"] = args
    env = proc.setdefault("env", [])
    for kv in a.env:
        if "=" not in kv:
            sys.exit("oci_config.py: --env wants K=V, got %r" % kv)
        key = kv.split("=", 1)[0] + "="
        env[:] = [e for e in env if not e.startswith(key)] + [kv]
    if a.cwd:
        proc["cwd"] = a.cwd
    for b in a.bind:
        parts = b.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "ro"):
            sys.exit("oci_config.py: --bind wants SRC:DST[:ro], got %r" % b)
        opts = ["rbind", "ro" if len(parts) == 3 else "rw"]
        c.setdefault("mounts", []).append(
            {"destination": parts[1], "type": "bind", "source": os.path.abspath(parts[0]),
             "options": opts})
    if a.read_only:
        c.setdefault("root", {"path": "rootfs"})["readonly"] = True
    linux = c.setdefault("linux", {})
    if a.host_network:
        linux["namespaces"] = [n for n in linux.get("namespaces", []) if n["type"] != "network"]
    if a.memory is not None:
        # swap = memory: no swap on top, so going over the limit is an OOM kill, not paging.
        linux.setdefault("resources", {})["memory"] = {"limit": a.memory, "swap": a.memory}
    with open(path, "w") as f:
        json.dump(c, f, indent=1)


if __name__ == "__main__":
    main()
