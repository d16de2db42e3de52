#!/usr/bin/env bash
# Times the start of short `rnnkit` processes (whole process: exec, dynamic loading, Swift runtime
# start, the command, exit) and counts the shared libraries each loads.
#
# Usage: scripts/bench_startup.sh [runs]     (default 200 runs per command; prints median and best)
#        RNNKIT_BEFORE=/path/to/other/rnnkit scripts/bench_startup.sh [runs]
# (name that binary `rnnkit`: HDF5 is read by a child, the `rnnkit` beside the binary)
# With RNNKIT_BEFORE, that binary (an older build, say) runs the same commands; contestants take
# turns, so a change of machine load hits them alike.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
swift build -c release --product rnnkit >/dev/null
RNNKIT=$(swift build -c release --show-bin-path)/rnnkit

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for binary in "$RNNKIT" ${RNNKIT_BEFORE:+"$RNNKIT_BEFORE"}; do
  echo "$binary: $(ldd "$binary" | grep -c '=>') libraries linked"
  for command in "--version" "inspect Fixtures/cuisine.rnn"; do
    # shellcheck disable=SC2086  # the command's words
    loaded=$(LD_DEBUG=libs "$binary" $command 2>&1 >/dev/null | grep -c 'calling init:')
    echo "  rnnkit $command: $loaded libraries initialised"
  done
done

python3 - "$RUNS" "$RNNKIT" ${RNNKIT_BEFORE:+"$RNNKIT_BEFORE"} <<'PY'
import os
import statistics
import sys
import time

runs = int(sys.argv[1])
binaries = sys.argv[2:]
commands = [["--version"], ["inspect", "Fixtures/cuisine.rnn"], ["inspect", "Fixtures/cuisine.h5"]]
null = os.open(os.devnull, os.O_WRONLY)
times = {(b, tuple(c)): [] for b in binaries for c in commands}
for _ in range(runs):
    for key in times:
        binary, command = key
        start = time.perf_counter()
        pid = os.posix_spawn(binary, [binary, *command], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
        _, status = os.waitpid(pid, 0)
        times[key].append(time.perf_counter() - start)
        if status != 0:
            sys.exit(f"{binary} {' '.join(command)} failed")
for command in commands:
    first = None
    for binary in binaries:
        values = times[(binary, tuple(command))]
        median = statistics.median(values)
        first = first or median
        label = "before" if binary != binaries[0] else "this build"
        print(f"rnnkit {' '.join(command):28} {label:10} median {median * 1000:6.2f} ms  "
              f"best {min(values) * 1000:6.2f} ms  {median / first:.2f}x")
PY
