#!/bin/bash
# Runs each scenario of src/main.rs in its hostile environment and prints `ok NAME` or
# `FAILED NAME: why`. Needs root (unshare, mount, cgroups); a scenario that cannot set its
# environment up says `skipped`. After each: no live process of the program left, nothing
# new in /dev/shm. `./run.sh [FILTER]` runs the scenarios whose name contains FILTER.
set -u
cd "$(dirname "$0")"
cargo build --release -q || exit 1
T=$(mktemp -d /tmp/zp-env.XXXXXX)
BIN="$T/envprog"
cp "${CARGO_TARGET_DIR:-target}/release/zeroproc-env36" "$BIN"
FILTER=${1:-}
FAILS=0

live() { # live (not zombie) processes of this program
    local p
    p=$(pgrep -d, -f "$T/" 2>/dev/null) || { echo 0; return; }
    ps -o stat= -p "$p" | grep -vc '^Z'
}
shm_now() { ls /dev/shm | sort; }
kill_ours() { # by pid: the processes of this run's copy of the program
    local p
    for p in $(pgrep -f "$T/"); do kill -KILL "$p" 2>/dev/null; done
}

# check NAME PATTERN CMD...: runs CMD (under `timeout 60`), wants PATTERN in its output.
check() {
    local name=$1 pattern=$2
    shift 2
    [ -n "$FILTER" ] && [[ $name != *"$FILTER"* ]] && return
    local before out why=
    before=$(shm_now)
    out=$(cd "$T" && timeout -k 5 60 "$@" 2>&1)
    local rc=$?
    sleep 0.3
    [ $rc -eq 124 ] && why="hung (timeout 60 s)"
    [ -z "$why" ] && ! grep -qE -- "$pattern" <<<"$(tr '\n' ' ' <<<"$out")" && why="want /$pattern/, got: $(tail -c 600 <<<"$out")"
    [ "$(live)" != 0 ] && why="$why; processes left: $(pgrep -af "$T/")" && kill_ours
    local added
    added=$(comm -13 <(echo "$before") <(shm_now) | grep zeroproc)
    [ -n "$added" ] && why="$why; left in /dev/shm: $added"
    if [ -z "$why" ]; then echo "ok $name"; else echo "FAILED $name: $why"; FAILS=$((FAILS + 1)); fi
}

P="$BIN"
# 1. A small, tiny, full or read-only /dev/shm (the default memfd backing does not use it).
for sz in 2M 64k; do
    check "shm-$sz" "RESULT shm: ok" unshare -m sh -c "mount -t tmpfs -o size=$sz tmpfs /dev/shm && exec $P shm"
done
check shm-full "RESULT shm: ok" unshare -m sh -c \
    "mount -t tmpfs -o size=1M tmpfs /dev/shm && (dd if=/dev/zero of=/dev/shm/fill bs=64k 2>/dev/null; true) && exec $P shm"
check shm-readonly "RESULT shm: ok" unshare -m sh -c "mount -t tmpfs -o ro tmpfs /dev/shm && exec $P shm"
# RLIMIT_FSIZE: shared memory is a file. Before env36: killed by SIGXFSZ (exit 153), or hung.
check fsize-16k "Pool::new: pool segment: .*RLIMIT_FSIZE" bash -c "ulimit -f 16; exec $P basic"
check fsize-100m-array "SharedArray 100 MiB: .*RLIMIT_FSIZE" bash -c "ulimit -f 100000; exec $P shm"
# Under 64 MiB the spill heap starts smaller: the map of 1 MiB results spills (env36).
check fsize-20m-spill "RESULT shm: FAILED SharedArray 100 MiB: .*RLIMIT_FSIZE" bash -c "ulimit -f 20000; exec $P shm"
check fsize-4m-queue "RESULT bigqueue: FAILED put 8 MiB: .*could not grow.*|RLIMIT_FSIZE" \
    bash -c "ulimit -f 4096; exec $P bigqueue"
check fsize-100m-results "RESULT bigresults: FAILED 64 MiB result: too large to carry: the result: the pool's spill heap could not grow: .*RLIMIT_FSIZE" \
    bash -c "ulimit -f 100000; exec $P bigresults"
check fsize-4m-dict "RESULT bigdict: FAILED insert 8 MiB: .*cannot grow.*RLIMIT_FSIZE" bash -c "ulimit -f 4096; exec $P bigdict"

# 2. Affinity masks and a CPU quota.
check taskset-1 "default_workers=1 worker_masks=\{\[1\]\} workers4_masks=\[\[1\]\]" taskset -c 1 "$P" affinity
check taskset-0 "default_workers=1 worker_masks=\{\[0\]\} workers4_masks=\[\[0\]\]" taskset -c 0 "$P" affinity
CG=/sys/fs/cgroup/cpu/zp-env-$$
if mkdir "$CG" 2>/dev/null && echo 100000 >"$CG/cpu.cfs_quota_us"; then
    # A quota of one CPU on a larger mask: available_parallelism (and so the default
    # pool) follows the quota; Python's os.process_cpu_count() does not.
    check cpu-quota-1 "RESULT affinity: .*default_workers=1 " sh -c "echo \$\$ > $CG/cgroup.procs; exec $P affinity"
    rmdir "$CG"
else
    echo "skipped cpu-quota-1: no writable cgroup v1 cpu controller"
fi

# 3. Descriptor limits: every refusal names RLIMIT_NOFILE (a Process before env36 did not).
for n in 32 16; do
    check "nofile-$n" "RESULT fds: ok" prlimit --nofile=$n:$n "$P" fds
done
check nofile-6-process "Process::spawn: .*descriptor limit is reached: soft limit 6" prlimit --nofile=6:6 "$P" basic
check nofile-4-pool "Pool::new: .*descriptor limit is reached: soft limit 4" prlimit --nofile=4:4 "$P" basic
check nofile-16-pools10 "RESULT pools10: (ok|FAILED Pool::new: .*descriptor limit)" prlimit --nofile=16:16 "$P" pools10

# 4. The executable changes or cannot be found.
check exe-deleted "RESULT exe-delete: ok replaced worker" sh -c "cp $P $T/del && exec $T/del exe-delete"
check exe-replaced "RESULT exe-replace: ok replaced worker" sh -c "cp $P $T/rep && exec $T/rep exe-replace"
check exe-symlink "RESULT basic: ok" sh -c "ln -sf $P $T/link && exec $T/link basic"
check cwd-deleted "RESULT basic: ok" sh -c "mkdir $T/gone && cd $T/gone && rmdir $T/gone && exec $P basic"
check env-i "RESULT basic: ok" env -i "$P" basic
check tmpdir-nowhere "RESULT basic: ok" env TMPDIR=/nonexistent/x "$P" basic
check no-proc "/proc is not mounted" unshare -m sh -c "umount -l /proc && exec $P basic"

# 5. Signals and sessions (nothing may be left behind).
# (the inner timeout's own 124 wrapped, so that it is not taken for a hang of the check)
check timeout-term "READY.*rc=124" sh -c "timeout 2 $P long; echo rc=\$?"
check timeout-int "READY.*rc=124" sh -c "timeout -s INT 2 $P long; echo rc=\$?"
check timeout-hup "READY.*rc=124" sh -c "timeout -s HUP 2 $P long; echo rc=\$?"
# SIGTERM to the controller only: the workers end with it; the non-daemon Process child
# runs on to its end (30 s), as Python's does: killed here by the check, not counted.
check timeout-foreground "READY.*rc=124 left=1 " sh -c "timeout --foreground 2 $P long; echo rc=\$?; sleep 0.5; \
    L=\$(ps -o pid=,stat= -p \$(pgrep -d, -f '$T/envprog [_]_zeroproc') | awk '\$2 !~ /Z/ {print \$1}'); \
    echo left=\$(echo \$L | wc -w); kill \$L"
check setsid "RESULT basic: ok" setsid -w "$P" basic
check sigpipe-ignored "RESULT basic: ok" sh -c "trap '' PIPE; exec $P basic"
check sigchld-ignored "RESULT basic: ok" sh -c "trap '' CHLD; exec $P basic"
check sigchld-ignored-timeout "READY.*rc=124" sh -c "trap '' CHLD; timeout 2 $P long; echo rc=\$?"
check stdin-closed "RESULT basic: ok" sh -c "exec $P basic <&-"
check all-std-closed "rc=0" sh -c "$P basic <&- >&- 2>&-; echo rc=\$?"
# `| true`: the controller's own println! panics (Rust's, as Python's print raises
# BrokenPipeError); jobs that print fail with that panic named, the pool goes on.
check stdout-closed-pipe "rc=101" bash -c "$P basic 2>/dev/null | true; echo rc=\${PIPESTATUS[0]}"
check jobs-print-to-closed-pipe "RESULT print: ok 20 of 20 printing jobs failed, first: job panicked: failed printing to stdout: Broken pipe.*sum 90" \
    bash -c "$P print | true"
check chrt-fifo "RESULT pending100k: ok" chrt -f 1 "$P" pending100k

# 6. Scale.
check workers64 "RESULT scale64: ok workers=64 distinct_worker_pids=64" "$P" scale64
check workers64-one-core "RESULT scale64: ok workers=64" taskset -c 0 "$P" scale64
check pending100k "RESULT pending100k: ok" "$P" pending100k
check pools10 "RESULT pools10: ok" "$P" pools10

rm -rf "$T"
[ $FAILS -eq 0 ] && echo "all ok" || echo "$FAILS FAILED"
exit $FAILS
