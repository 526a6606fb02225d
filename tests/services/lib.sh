# shellcheck shell=bash
# lib.sh - helpers shared by the service scripts in tests/services/.
# Sourced, never run.  The including script sets SVC (its name, used as the
# prefix of every message).  Messages go to stderr: stdout is reserved for
# the `export` lines that callers eval.

svc_say() { printf '%s: %s\n' "$SVC" "$*" >&2; }

svc_die() {
	printf '%s: error: %s\n' "$SVC" "$*" >&2
	exit 1
}

# svc_tail FILE... - print the last lines of each existing, non-empty FILE
# to stderr (used when a daemon does not come up).
svc_tail() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf '%s: ---- last lines of %s ----\n' "$SVC" "$f" >&2
		tail -n "${SVC_TAIL_LINES:-25}" "$f" >&2
	done
}

# svc_python - print the name of a python3 to run helpers with.
svc_python() {
	command -v python3 >/dev/null 2>&1 || svc_die "python3 is needed (apt-get install python3)"
	echo python3
}

# svc_free_port - print a TCP port of 127.0.0.1 that nothing uses now.
#
# It is picked at random below the kernel's ephemeral range (so that no
# outgoing connection is later handed the same port by the kernel) and
# checked by binding it without SO_REUSEADDR, which fails both for a port
# somebody listens on and for one still in TIME_WAIT.  There is always a
# window between this check and the server binding the port, so callers
# retry with another port when the server reports the address in use.
svc_free_port() {
	"$(svc_python)" - <<'EOF'
import random, socket, sys
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, _hi = (int(x) for x in f.read().split())
except (OSError, ValueError):
    lo = 32768
low, high = 10000, lo - 1
rng = random.SystemRandom()
for _ in range(200):
    port = rng.randint(low, high) if high - low > 1000 else 0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        sys.exit(0)
    except OSError:
        pass
    finally:
        s.close()
sys.exit("no free TCP port found on 127.0.0.1")
EOF
}

# svc_listen_port PID - print the TCP port(s) that process PID listens on
# (its sockets found in /proc/net/tcp in state LISTEN), one a line; fail
# when there is none (yet).
svc_listen_port() {
	"$(svc_python)" - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
try:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
except OSError:
    sys.exit(1)
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            next(f)
            for line in f:
                a = line.split()
                if a[3] == "0A" and a[9] in inodes:  # 0A: LISTEN
                    ports.add(int(a[1].rsplit(":", 1)[1], 16))
    except OSError:
        pass
if not ports:
    sys.exit(1)
print("\n".join(str(p) for p in sorted(ports)))
EOF
}

# svc_port_busy PORT - true when something accepts TCP connections on
# 127.0.0.1:PORT.
svc_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# svc_alive PID - true while process PID exists and is not a zombie.
svc_alive() {
	local st
	[ -n "$1" ] || return 1
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# svc_kill_wait NAME PID SECONDS - send SIGTERM to PID, wait up to SECONDS
# for it to go, then SIGKILL it and wait again.  Returns 0 once it is gone.
svc_kill_wait() {
	local name=$1 pid=$2 secs=$3 i
	svc_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		svc_alive "$pid" || return 0
		sleep 0.1
	done
	svc_say "$name (pid $pid) did not stop in ${secs}s after SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		svc_alive "$pid" || return 0
		sleep 0.1
	done
	svc_say "$name (pid $pid) is still there after SIGKILL"
	return 1
}

# svc_abs DIR - print DIR as an absolute path (DIR must exist).
svc_abs() {
	(cd "$1" && pwd -P)
}
