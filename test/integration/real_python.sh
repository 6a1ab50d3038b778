#!/bin/bash
# real_python: a program nobody here wrote. python3 (many shared libraries,
# its own allocator, a big heap) keeps its state in objects: a dict and a
# class instance that count. Dump, restore, and it must go on from its value.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || skip "needs python3"

cat >"$TMP/counter.py" <<'PY'
import os, sys, time

class Tally:
    def __init__(self):
        self.n = 0
        self.history = []

    def step(self):
        self.n += 1
        self.history.append(self.n * self.n)

check = sys.argv[1]
state = {"ticks": 0, "name": "tally"}
tally = Tally()
print("READY %d" % os.getpid(), flush=True)
while not os.path.exists(check):
    tally.step()
    state["ticks"] += 1
    print("count %d ticks %d" % (tally.n, state["ticks"]), flush=True)
    time.sleep(0.1)
ok = state["ticks"] == tally.n and tally.history == [i * i for i in range(1, tally.n + 1)]
print(("PASS" if ok else "FAIL") + " python", flush=True)
sys.exit(0 if ok else 1)
PY

log=$TMP/python.log
check=$TMP/python.check
lib_spawn "$log" "$python" -u "$TMP/counter.py" "$check"
pid=$!
wait_line "$log" "^READY $pid\$"
track_pid "$pid"
wait_line "$log" '^count 5 ' 5
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5
last=$(sed -n 's/^count \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
say "python dumped after count $last"
mig_restore "$TMP/img"
assert_alive "$pid" "restored python"
wait_line "$log" "^count $((last + 1)) ticks $((last + 1))\$" 5
touch "$check"
wait_line "$log" '^(PASS|FAIL) python'
grep -q '^PASS python' "$log" || die "python's own check failed"
bad=$(sed -n 's/^count \([0-9]*\) .*/\1/p' "$log" |
	awk 'NR > 1 && $1 != prev + 1 { print prev " then " $1; exit } { prev = $1 }')
[ -z "$bad" ] || die "python's counts not consecutive: $bad"
wait_gone "$pid" 5
