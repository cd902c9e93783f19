#!/usr/bin/env python3
"""CPU time (user + sys) of whole processes, from os.wait4's rusage, over N runs each.

The commands run interleaved (one of each per round), so that load from other work on the
machine falls on all of them alike. Usage (docs/performance.md, "Fourth round"):

    python3 bench/cpu.py 100 'label::command args' 'label2::command2 args' ...
"""
import os, sys, shlex, statistics
n = int(sys.argv[1]); specs = [a.split('::', 1) for a in sys.argv[2:]]
res = {lab: [] for lab, _ in specs}
devnull = os.open('/dev/null', os.O_WRONLY)
for i in range(n):
    for lab, cmd in specs:
        argv = shlex.split(cmd)
        pid = os.fork()
        if pid == 0:
            os.dup2(devnull, 1); os.dup2(devnull, 2)
            os.execvp(argv[0], argv)
        _, status, ru = os.wait4(pid, 0)
        res[lab].append((ru.ru_utime + ru.ru_stime) * 1000)
print(f"load {os.getloadavg()[0]:.2f}")
for lab, v in res.items():
    print(f"{lab:40s} mean {statistics.mean(v):7.2f} ms  median {statistics.median(v):7.2f} ms  min {min(v):6.2f}")
