"""Runs a command and reports, as JSON, how it ended and the largest resident set size any process
of it reached (the command and every child it waited for, as getrusage(RUSAGE_CHILDREN) sees it).

Usage: python3 max_rss.py COMMAND ARGS...
Prints {"status": exit code or -signal, "max_rss_bytes": N, "stderr": "..."}.
"""
import json
import resource
import subprocess
import sys

result = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
# ru_maxrss is in kilobytes on Linux.
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"status": result.returncode, "max_rss_bytes": peak,
                  "stderr": result.stderr.decode("utf-8", "replace")}))
