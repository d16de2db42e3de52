"""Runs a command that may write at most LIMIT bytes into any file (RLIMIT_FSIZE), as on a full
disk: writes past the limit fail with EFBIG (SIGXFSZ, which would kill the process instead, is
ignored). Reports, as JSON, how it ended.

Usage: python3 fsize_limit.py LIMIT COMMAND ARGS...
Prints {"status": exit code or -signal, "stdout": "...", "stderr": "..."}.
"""
import json
import resource
import signal
import subprocess
import sys

limit = int(sys.argv[1])


def limited():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


result = subprocess.run(sys.argv[2:], preexec_fn=limited, capture_output=True, check=False)
print(json.dumps({"status": result.returncode, "stdout": result.stdout.decode("utf-8", "replace"),
                  "stderr": result.stderr.decode("utf-8", "replace")}))
