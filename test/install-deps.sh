#!/bin/bash
# Installs what building and testing migrate needs on Debian 12. Idempotent:
# when everything is already there it does nothing (no apt-get update either).
# Run as root. Quiet on success; on failure shows apt's output.
set -euo pipefail

# The one list. Each entry says who needs it; add here, nowhere else.
PACKAGES=(
	build-essential     # gcc, make
	cmake
	pkg-config          # CMake finds the libraries below through it
	libuv1-dev          # event loop (page server, streaming sender)
	libprotobuf-c-dev   # image records and wire messages
	protobuf-c-compiler # protoc-c, run at build time
	liblz4-dev          # page compression
	libnl-3-dev         # netlink (network handover)
	libnl-route-3-dev   # addresses and links
	libcmocka-dev       # unit tests
	python3             # integration test real_python: a program nobody here wrote
	tmux                # integration test shell_job: a job on a real terminal
	strace              # integration test errors: dump refuses a traced process
	qemu-system-x86     # integration test vm_softdirty: Debian's 6.1 kernel (soft-dirty) in a VM
	busybox-static      # vm_softdirty: the VM's userland (test/vm)
	cpio                # vm_softdirty: packs the VM's initramfs
	iproute2            # ip: veth pairs, bridge, addresses of test hosts (test_ipmove, test_netlock)
	redis-server        # integration tests redis_migrate, redis_local (its service: see below)
	redis-tools         # redis-cli, to look at the tests' redis by hand
	nginx-light         # integration tests nginx_local, nginx_migrate: a real master/worker server (its service: see below)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$pkg")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root to install them" >&2
	exit 1
fi

log=$(mktemp /tmp/install-deps.XXXXXX)
# Packages of servers (redis-server, nginx) start and enable their service when installed. The tests
# start their own server inside a test host and want none on this machine: while installing,
# a policy-rc.d that refuses every start (invoke-rc.d and deb-systemd-invoke obey it), unless
# the machine has its own; afterwards the service is stopped and disabled.
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# install-deps.sh (migrate): no service starts while it installs\nexit 101\n' \
		>"$POLICY"
	chmod 755 "$POLICY"
	own_policy=1
fi
trap 'rm -f "$log"; [ "$own_policy" = 0 ] || rm -f "$POLICY"' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
if ! apt-get update -qq >"$log" 2>&1 ||
	! apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get failed (output above)" >&2
	exit 1
fi
if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null; then
	systemctl disable redis-server.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl stop redis-server.service >/dev/null 2>&1 || true
	fi
fi
# nginx-light's package (Debian's nginx) enables nginx.service the same way: the tests run their
# own nginx with a configuration of their own in a network namespace.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null; then
	systemctl disable nginx.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl stop nginx.service >/dev/null 2>&1 || true
	fi
fi
