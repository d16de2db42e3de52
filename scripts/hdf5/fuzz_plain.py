#!/usr/bin/env python3
"""Flips random bytes in an HDF5 file and runs `rnnkit validate` on each variant.

Usage: fuzz_plain.py RNNKIT FILE.h5 SEED COUNT [extra rnnkit flags...]

Prints how the runs ended: exit codes 0 and 1 are clean outcomes; anything else (a signal) is a
crash, reported with the library its top frame is in, and the input is kept next to FILE.h5 as
FILE.crash-SEED-N.h5. Runs longer than 10 seconds count as hangs.
"""
import random
import subprocess
import sys

rnnkit, path, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = open(path, "rb").read()
random.seed(seed)
outcomes, crashes = {}, {}
scratch = path + ".fuzz.h5"
for i in range(count):
    data = bytearray(base)
    for _ in range(random.choice([1, 2, 4, 8])):
        data[random.randrange(len(data))] = random.randrange(256)
    open(scratch, "wb").write(data)
    try:
        run = subprocess.run([rnnkit, "validate", scratch] + sys.argv[5:], capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        outcomes["hang"] = outcomes.get("hang", 0) + 1
        continue
    outcomes[run.returncode] = outcomes.get(run.returncode, 0) + 1
    if run.returncode not in (0, 1):
        frames = [l for l in run.stderr.decode(errors="replace").splitlines() if l.strip().startswith("0  0x")]
        where = frames[0].split(" in ")[-1] if frames else "?"
        crashes[where] = crashes.get(where, 0) + 1
        open(f"{path}.crash-{seed}-{i}.h5", "wb").write(data)
print("outcomes:", outcomes)
print("crashes by top frame:", crashes)
