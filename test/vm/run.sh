#!/bin/bash
# run.sh: runs one shell script inside a QEMU VM that boots Debian 12's own
# kernel (linux-image-6.1: it has soft-dirty, this machine's kernel may not),
# with the project's binaries and their libraries in a small initramfs.
#
#	test/vm/run.sh --build BUILD [OPTIONS] SCRIPT
#
#	--build DIR        the build directory; the kernel is cached in DIR/vm-cache
#	                   (or $MIGRATE_VM_CACHE) so that only the first run downloads
#	--bin REL          $BUILD/REL goes to /build/REL in the guest (with its libraries)
#	--file SRC[:DST]   any host file, at DST (default: the same path) in the guest
#	--tool NAME        a host program from $PATH, at /bin/NAME (e.g. bash, ip)
#	--module NAME      a module of the guest kernel (veth, ...), with its dependencies,
#	                   loaded before the script runs
#	--env NAME=VALUE   set in the script's environment
#	--timeout SEC      the whole VM run, boot included (300)
#	--mem MB, --smp N  guest size (1024, 2)
#	--keep DIR         keep the console log and the initramfs in DIR
#	--fetch-only       only download and unpack the kernel (e.g. in an install step)
#
# In the guest, SCRIPT runs as /test/script from /tmp (a tmpfs) as root, after
# proc, sys, devtmpfs, devpts, tmpfs and lo are up; its shebang picks the shell
# (#!/bin/sh is busybox; #!/bin/bash stages bash). It prints one line per check:
#
#	RESULT NAME PASS|FAIL|SKIP [detail]
#
# This script prints the guest's output, then the RESULT lines, boot and total
# times, and exits 0 when the script exited 0 and no RESULT says FAIL; 1 when
# something failed, the guest crashed or the timeout hit (QEMU is then killed by
# its PID and the log's tail shown); 77 when QEMU, busybox or cpio is missing.
#
# Acceleration: $MIGRATE_VM_ACCEL = auto (KVM where the CPU has vmx/svm and
# /dev/kvm opens, falling back to software emulation when that guest does not
# boot), kvm or tcg.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vmlib.sh
source "$VM_DIR/vmlib.sh"

usage() {
	sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

BUILD='' SCRIPT='' KEEP='' FETCH_ONLY=0 TIMEOUT=300 MEM=1024 SMP=2
BINS=() FILES=() TOOLS=() MODULES=() ENVS=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--bin) BINS+=("$2"); shift ;;
	--file) FILES+=("$2"); shift ;;
	--tool) TOOLS+=("$2"); shift ;;
	--module) MODULES+=("$2"); shift ;;
	--env) ENVS+=("$2"); shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	--mem) MEM=$2; shift ;;
	--smp) SMP=$2; shift ;;
	--keep) KEEP=$2; shift ;;
	--fetch-only) FETCH_ONLY=1 ;;
	-h | --help) usage ;;
	-*) echo "run.sh: unknown option '$1'" >&2; usage ;;
	*) [ -z "$SCRIPT" ] || usage; SCRIPT=$1 ;;
	esac
	shift
done
[ -n "$BUILD" ] || { echo "run.sh: --build is required" >&2; usage; }
BUILD=$(cd "$BUILD" && pwd)
CACHE=${MIGRATE_VM_CACHE:-$BUILD/vm-cache}

skip() {
	echo "vm: SKIP: $*"
	exit 77
}

QEMU=$(command -v qemu-system-x86_64 || true)
[ -n "$QEMU" ] || skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
command -v busybox >/dev/null || skip "busybox is not installed (apt-get install busybox-static)"
command -v cpio >/dev/null || skip "cpio is not installed (apt-get install cpio)"

PDEATHSIG=
if command -v setpriv >/dev/null; then
	PDEATHSIG="setpriv --pdeathsig KILL --"
fi

T0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $T0" | awk '{ printf "%.1f", $1 - $2 }'; }

vm_kernel "$CACHE"
if [ $FETCH_ONLY -eq 1 ]; then
	echo "vm: kernel $VM_KVER ready in $VM_KDIR"
	exit 0
fi
[ -n "$SCRIPT" ] || { echo "run.sh: no script to run" >&2; usage; }
[ -f "$SCRIPT" ] || { echo "run.sh: $SCRIPT: no such file" >&2; exit 2; }

WORK=$(mktemp -d /tmp/migrate-vm.XXXXXX)
QEMU_PID=
cleanup() {
	local status=$?
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -KILL "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP"
		cp -f "$WORK"/console.log "$WORK"/qemu.log "$WORK"/initrd.cpio.gz "$KEEP"/ \
			2>/dev/null || true
	fi
	rm -rf "$WORK"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tree: busybox, /init, the script, then what the caller asked for.
stage_tree() {
	local stage=$WORK/root item src dst shell
	vm_stage_init "$stage" "$VM_DIR/init"
	vm_stage_file "$stage" "$SCRIPT" /test/script
	chmod 755 "$stage/test/script"
	shell=$(head -n 1 "$SCRIPT" | sed -n 's|^#! *\(/[^ ]*/\)\{0,1\}\([^ /]*\).*|\2|p')
	if [ "$shell" = bash ] && [[ " ${TOOLS[*]} " != *" bash "* ]]; then
		TOOLS+=(bash)
	fi
	for item in "${BINS[@]}"; do
		vm_stage_elf "$stage" "$BUILD/$item" "/build/$item"
	done
	for item in "${FILES[@]}"; do
		src=${item%%:*}
		dst=${item#*:}
		[ "$item" != "$src" ] || dst=$src
		vm_stage_elf "$stage" "$src" "$dst"
	done
	for item in "${TOOLS[@]}"; do
		src=$(command -v "$item" || true)
		[ -n "$src" ] || { vm_err "tool $item is not installed here"; return 1; }
		vm_stage_elf "$stage" "$src" "/bin/$item"
	done
	for item in "${MODULES[@]}"; do
		vm_stage_module "$stage" "$item"
	done
	echo "BUILD=/build" >>"$stage/etc/vm-env"
	for item in "${ENVS[@]}"; do
		printf '%s=%q\n' "${item%%=*}" "${item#*=}" >>"$stage/etc/vm-env"
	done
	vm_pack "$stage" "$WORK/initrd.cpio.gz"
}

# KVM only where the CPU shows hardware virtualisation and /dev/kvm opens (a
# /dev/kvm without vmx/svm was seen to crash QEMU or hang the guest); else
# software emulation. "-cpu max" runs our programs (built with -mavx2) under TCG.
accel_args() {
	case ${MIGRATE_VM_ACCEL:-auto} in
	kvm) echo "-accel kvm -cpu host" ;;
	tcg) echo "-accel tcg -cpu max" ;;
	auto)
		if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			echo "-accel kvm -cpu host"
		else
			echo "-accel tcg -cpu max"
		fi ;;
	*) vm_err "MIGRATE_VM_ACCEL must be auto, kvm or tcg"; return 1 ;;
	esac
}

# The guest's lines, from the console log, without the carriage returns.
console() { tr -d '\r' <"$WORK/console.log"; }

# boot_once ACCEL BOOT_LIMIT: runs QEMU until it exits. Returns 0 when it
# exited (the console says how far the guest got), 2 when the guest did not
# boot within BOOT_LIMIT seconds or QEMU died before that, 1 at the timeout.
boot_once() {
	local accel=$1 boot_limit=$2 start now booted=0
	rm -f "$WORK/console.log"
	# The parent-death signal ends QEMU even when this script is killed
	# with SIGKILL (by ctest's timeout, say) and cannot run its trap.
	# shellcheck disable=SC2086 # $accel is several words on purpose
	$PDEATHSIG "$QEMU" $accel -m "$MEM" -smp "$SMP" -nodefaults -no-user-config \
		-display none -no-reboot -serial "file:$WORK/console.log" \
		-kernel "$VM_KERNEL" -initrd "$WORK/initrd.cpio.gz" \
		-append "console=ttyS0 rdinit=/init panic=-1 quiet" \
		</dev/null >"$WORK/qemu.log" 2>&1 &
	QEMU_PID=$!
	start=$(date +%s)
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		now=$(date +%s)
		if [ $booted -eq 0 ] && grep -q '^VM-BOOTED' "$WORK/console.log" 2>/dev/null; then
			booted=1
			echo "vm: booted ($(grep -m1 '^VM-BOOTED' "$WORK/console.log" |
				tr -d '\r')) $(elapsed) s after the start"
		fi
		if [ $booted -eq 0 ] && [ $((now - start)) -ge "$boot_limit" ]; then
			kill -KILL "$QEMU_PID" 2>/dev/null || true
			wait "$QEMU_PID" 2>/dev/null || true
			QEMU_PID=
			return 2
		fi
		if [ "$now" -ge "$DEADLINE" ]; then
			kill -KILL "$QEMU_PID" 2>/dev/null || true
			wait "$QEMU_PID" 2>/dev/null || true
			QEMU_PID=
			echo "vm: FAIL: the VM still ran after $TIMEOUT s: killed; console tail:"
			console | tail -n 30
			return 1
		fi
		sleep 0.1
	done
	local qemu_status=0
	wait "$QEMU_PID" 2>/dev/null || qemu_status=$?
	QEMU_PID=
	if [ $qemu_status -gt 128 ]; then
		echo "vm: qemu was killed by signal $((qemu_status - 128))" \
			"(by the OOM killer? see dmesg)"
	fi
	[ $booted -eq 1 ] || grep -q '^VM-BOOTED' "$WORK/console.log" 2>/dev/null || return 2
}

# With KVM, a guest that does not boot gets a second chance under TCG.
boot() {
	local accel r=0
	accel=$(accel_args)
	DEADLINE=$(($(date +%s) + TIMEOUT))
	echo "vm: qemu $accel -m $MEM -smp $SMP"
	if [[ "$accel" == *kvm* ]] && [ "${MIGRATE_VM_ACCEL:-auto}" = auto ]; then
		# A KVM guest boots in seconds; one that does not will not.
		boot_once "$accel" 60 || r=$?
	else
		boot_once "$accel" "$TIMEOUT" || r=$?
	fi
	if [ $r -eq 2 ] && [[ "$accel" == *kvm* ]] && [ "${MIGRATE_VM_ACCEL:-auto}" = auto ]; then
		echo "vm: no boot under KVM ($(tail -n 1 "$WORK/qemu.log")): retrying under TCG"
		r=0
		boot_once "-accel tcg -cpu max" "$TIMEOUT" || r=$?
	fi
	[ $r -ne 1 ] || return 1
	return 0
}

# Verdict from the console: the script's status and the RESULT lines.
verdict() {
	local done_line status
	echo "vm: --- guest output"
	console | sed -n '/^VM-BOOTED/,$p' | sed 's/^/guest| /'
	echo "vm: ---"
	done_line=$(console | grep -m1 '^VM-DONE' || true)
	if [ -z "$done_line" ]; then
		echo "vm: FAIL: the guest stopped without finishing its script; console tail:"
		console | tail -n 30
		[ -s "$WORK/qemu.log" ] && { echo "vm: qemu said:"; tail -n 5 "$WORK/qemu.log"; }
		return 1
	fi
	console | grep '^RESULT ' | sed 's/^/vm: /' || true
	status=$(echo "$done_line" | sed -n 's/.*status=\([0-9]*\).*/\1/p')
	echo "vm: guest ${done_line#VM-DONE }; total $(elapsed) s"
	if console | grep -q '^RESULT [^ ]* FAIL'; then
		echo "vm: FAIL: $(console | grep -c '^RESULT [^ ]* FAIL') check(s) failed in the guest"
		return 1
	fi
	if [ "$status" != 0 ]; then
		echo "vm: FAIL: the guest script exited with status $status"
		return 1
	fi
	if ! console | grep -q '^RESULT '; then
		echo "vm: FAIL: the guest script printed no RESULT line"
		return 1
	fi
	echo "vm: PASS"
}

echo "vm: kernel $VM_KVER ($VM_KERNEL)"
stage_tree
echo "vm: initramfs $(du -k "$WORK/initrd.cpio.gz" | cut -f1) KiB, staged in $(elapsed) s"
boot
verdict
