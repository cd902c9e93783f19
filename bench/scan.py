#!/usr/bin/env python3
"""Benchmark OCR of a 20-page scan: `vardval check SCAN --format json` as a whole process tree.

Usage (from the repository root, after `cargo build --release`):

    python3 bench/scan.py [RUNS]        # default 3 runs

Makes the scan once with fixtures/documents/scanned/generate.py --bench (bench-20-pages.pdf
rendered at 200 dpi with skew and noise, image-only) in /tmp/vardval-scan-bench, then per run
reports wall time, CPU time (user + sys of vardval and every pdftoppm/tesseract it waited for)
and the peak of the summed RSS of the whole process tree, sampled every 50 ms from /proc
(vardval plus the page processes running in parallel at that moment).
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path("/tmp/vardval-scan-bench")
SCAN = OUT / "scan-bench-20-pages.pdf"
BIN = ROOT / "target" / "release" / "vardval"


def tree_rss_kb(root: int) -> int:
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(d)] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(kids.get(p, []))
    return total


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not SCAN.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "fixtures/documents/scanned/generate.py"),
                        "--bench", str(OUT)], check=True, stdout=subprocess.DEVNULL)
    pages = subprocess.run(["pdfinfo", str(SCAN)], capture_output=True, text=True).stdout
    print(f"{SCAN} ({SCAN.stat().st_size} bytes), cores: {os.cpu_count()}")
    print([l for l in pages.splitlines() if l.startswith("Pages")][0])
    print("run  wall_s  cpu_s  peak_tree_rss_MB  grade  words")
    for i in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.Popen([str(BIN), "check", str(SCAN), "--format", "json"],
                             stdout=subprocess.PIPE)
        peak = 0
        while p.poll() is None:
            peak = max(peak, tree_rss_kb(p.pid))
            time.sleep(0.05)
        out = p.stdout.read()
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        v = json.loads(out)
        print(f"{i + 1:>3}  {wall:6.1f}  {cpu:5.1f}  {peak / 1024:16.0f}  "
              f"{v.get('grade', v.get('error'))}  {v.get('document', {}).get('words')}")


if __name__ == "__main__":
    main()
