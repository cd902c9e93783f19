#!/usr/bin/env python3
"""CPU time (user + sys) of whole processes, from os.wait4's rusage, over N runs each.

The commands run interleaved (one of each per round), so that load from other work on the
machine falls on all of them alike. Usage (docs/performance.md, "Fourth round" onwards):

    python3 bench/cpu.py [--fork] 100 'label::command args' 'label2::command2 args' ...

Processes are started with posix_spawn (glibc's clone with CLONE_VFORK), so a child's rusage
starts at its exec. With --fork (the first five rounds), the child is a fork of this Python
process, and the copy-on-write faults it takes before exec are charged to the command: on the
machine of the sixth round that added ≈ 2.5 ms to every process (/bin/true 3.4 ms with
--fork in one run and 2.7 ms in another, 0.6–0.9 ms without), the same for all commands.
"""
import os, sys, shlex, shutil, statistics

args = sys.argv[1:]
fork = args[:1] == ['--fork']
if fork:
    args = args[1:]
n = int(args[0]); specs = [a.split('::', 1) for a in args[1:]]
res = {lab: [] for lab, _ in specs}
devnull = os.open('/dev/null', os.O_WRONLY)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
for i in range(n):
    for lab, cmd in specs:
        argv = shlex.split(cmd)
        if fork:
            pid = os.fork()
            if pid == 0:
                os.dup2(devnull, 1); os.dup2(devnull, 2)
                os.execvp(argv[0], argv)
        else:
            pid = os.posix_spawn(shutil.which(argv[0]), argv, os.environ, file_actions=quiet)
        _, status, ru = os.wait4(pid, 0)
        res[lab].append((ru.ru_utime + ru.ru_stime) * 1000)
print(f"load {os.getloadavg()[0]:.2f}" + (" (fork)" if fork else " (posix_spawn)"))
for lab, v in res.items():
    print(f"{lab:40s} mean {statistics.mean(v):7.2f} ms  median {statistics.median(v):7.2f} ms  min {min(v):6.2f}")
