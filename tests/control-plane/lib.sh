# shellcheck shell=bash
# Shared by up, down, restart-apiserver and watchdog (sourced, never run).
#
# A state directory holds everything one running control plane owns:
#
#   kubeconfig, kubeconfig-norights   what clients use (admin / authenticated, no rights)
#   kubeconfig-controller-manager     kube-controller-manager's (client certificate)
#   env                               ports, binary path, owner (sourced by the scripts)
#   pki/                              throw-away CA, serving and client certs, service-account keys
#   tokens.csv                        the static token file for --token-auth-file
#   etcd/                             etcd's data
#   etcd.args                         etcd's arguments, one a line (restart-etcd reuses them)
#   apiserver.args                    kube-apiserver's arguments, one a line (restart reuses them)
#   controller-manager.args           kube-controller-manager's arguments, one a line
#   {etcd,apiserver,controller-manager,watchdog}.pid   the processes `down` stops, and only those
#   {etcd,apiserver,controller-manager,watchdog}.log   their output
#
# Processes are recognised by PID *and* by their command line mentioning the state
# directory, so a PID reused by an unrelated process after a crash is never signalled.

# The files and folders a control plane creates in its state directory: down removes
# these and nothing else, so pointing it at a folder with other content is safe.
# shellcheck disable=SC2034 # used by down, which sources this file
kcp_owned_entries=(
	kubeconfig kubeconfig-norights kubeconfig-controller-manager env pki tokens.csv etcd
	etcd.args apiserver.args controller-manager.args
	etcd.pid apiserver.pid controller-manager.pid watchdog.pid
	etcd.log apiserver.log controller-manager.log watchdog.log .lock
)

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# Absolute, symlink-free path of a state directory (created if missing): the command
# lines of our processes contain this exact string.
kcp_state_dir() {
	[[ -n "${1:-}" ]] || die "missing <state-dir>"
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

# Prints the PID recorded in <state>/<name>.pid if that process is alive and is ours.
# Succeeds only then.
kcp_live_pid() {
	local state="$1" name="$2" pid cmdline
	[[ -f "$state/$name.pid" ]] || return 1
	pid="$(<"$state/$name.pid")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	# /proc works for processes of other users too (kill -0 would say EPERM).
	cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
	[[ "$cmdline" == *"$state"* ]] || return 1
	echo "$pid"
}

# The start time of a process (clock ticks since boot, field 22 of /proc/PID/stat):
# with the PID it identifies one process for good, even after the PID is reused.
kcp_start_time() {
	local stat rest fields
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	# The command name (field 2) may contain spaces and parentheses: cut after the last ')'.
	rest="${stat##*) }"
	read -r -a fields <<<"$rest"
	echo "${fields[19]}"
}

# Runs a command detached as <state>/<name>: its own session (a Ctrl-C meant for the
# caller does not reach it), stdin closed, output to <name>.log (so a caller reading
# our stdout through a pipe is not kept waiting by it). The wrapper shell writes its
# own PID and then execs the command, so the PID file holds the real process even
# when setsid has to fork.
kcp_spawn() {
	local state="$1" name="$2"
	shift 2
	rm -f "$state/$name.pid"
	# shellcheck disable=SC2016 # $$ and $@ are for the inner shell
	setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$state/$name.pid" "$@" \
		</dev/null >>"$state/$name.log" 2>&1 &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s "$state/$name.pid" ]] && return 0
		sleep 0.05
	done
	die "$name did not start (see $state/$name.log)"
}

# True when process <pid> no longer runs. An exited process whose parent has not
# reaped it yet (a zombie, state Z) counts as gone: it holds no ports or files.
kcp_gone() {
	local state
	state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 0
	[[ -z "$state" || "$state" == Z ]]
}

# Stops one of our processes: SIGTERM, then SIGKILL if it is still there after
# <grace> seconds. Waits until it is gone either way.
kcp_stop() {
	local state="$1" name="$2" grace="${3:-20}" pid i
	if pid="$(kcp_live_pid "$state" "$name")"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			kcp_gone "$pid" && break
			sleep 0.1
		done
		if ! kcp_gone "$pid"; then
			echo "${0##*/}: $name (pid $pid) ignored SIGTERM for ${grace}s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kcp_gone "$pid" && break
				sleep 0.1
			done
		fi
	fi
	rm -f "$state/$name.pid"
}

# Waits until <url> answers 200 (https: checked against our CA; with the admin token
# when given), while the process <name> is alive. Fails fast when that process exits.
kcp_wait_http() {
	local state="$1" name="$2" url="$3" timeout="$4" token="${5:-}" i
	local curl_args=(--silent --show-error --fail --max-time 2 --output /dev/null)
	if [[ "$url" == https://* ]]; then
		curl_args+=(--cacert "$state/pki/ca.crt")
	fi
	if [[ -n "$token" ]]; then
		curl_args+=(--header "Authorization: Bearer $token")
	fi
	for ((i = 0; i < timeout * 4; i++)); do
		kcp_live_pid "$state" "$name" >/dev/null || return 1
		if curl "${curl_args[@]}" "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.25
	done
	return 1
}

# Starts kube-apiserver from <state>/apiserver.args and waits for /readyz.
kcp_start_apiserver() {
	local state="$1"
	# shellcheck source=/dev/null
	source "$state/env"
	local args
	mapfile -t args <"$state/apiserver.args"
	kcp_spawn "$state" apiserver "$KCP_BIN" apiserver "${args[@]}"
	# The first start writes the bootstrap RBAC roles, priority levels and so on into
	# etcd; it usually takes a few seconds, much longer on a busy 2-core machine.
	kcp_wait_http "$state" apiserver "https://127.0.0.1:$KCP_APISERVER_PORT/readyz" 180 "$KCP_ADMIN_TOKEN"
}

# Starts kube-controller-manager from <state>/controller-manager.args and waits until
# its /healthz lists every controller named in --controllers as started and ok. Its
# plain /healthz answers 200 as soon as it serves, before the controllers start; the
# per-controller checks appear only once each controller has its credentials (a
# ServiceAccount token from the API server) and runs, so this also proves that the
# certificate, RBAC and token setup work. /healthz needs no credentials (it is in the
# controller-manager's always-allowed paths).
kcp_start_controller_manager() {
	local state="$1" args controllers i body missing name
	# shellcheck source=/dev/null
	source "$state/env"
	mapfile -t args <"$state/controller-manager.args"
	controllers="$(sed -n 's/^--controllers=//p' "$state/controller-manager.args")"
	kcp_spawn "$state" controller-manager "$KCP_BIN" controller-manager "${args[@]}"
	for ((i = 0; i < 180 * 4; i++)); do
		kcp_live_pid "$state" controller-manager >/dev/null || return 1
		body="$(curl --silent --max-time 2 --cacert "$state/pki/ca.crt" \
			"https://127.0.0.1:$KCP_CONTROLLER_MANAGER_PORT/healthz?verbose" 2>/dev/null)" || body=""
		missing=""
		for name in ${controllers//,/ }; do
			[[ "$body" == *"[+]$name ok"* ]] || missing=1
		done
		[[ -n "$body" && -z "$missing" ]] && return 0
		sleep 0.25
	done
	return 1
}

kcp_log_tail() {
	local state="$1" name="$2"
	if [[ -f "$state/$name.log" ]]; then
		echo "---- last lines of $state/$name.log ----" >&2
		tail -n 30 "$state/$name.log" >&2
	fi
}
