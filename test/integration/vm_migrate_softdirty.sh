#!/bin/bash
# vm_migrate_softdirty: live migration with `--tracker soft-dirty`, which this
# machine's kernel may lack; so boot Debian 12's own 6.1 kernel (which has it)
# in QEMU and migrate there, from the guest's root namespaces into a "host"
# (network + PID namespace, joined by veth) running migrate-dst: a zoo counter
# and the dirtier (test/vm/migrate-guest.sh says what each checks). Skips
# when QEMU, busybox or cpio is missing, or while the agent or the daemon is
# not built yet; the first run downloads the kernel into BUILD_DIR/vm-cache
# (or $MIGRATE_VM_CACHE).
set -euo pipefail
NAME=vm_migrate_softdirty
build=${1:-}
[ -n "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

skip() {
	echo "[$NAME] SKIP: $*"
	exit 77
}

command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86," \
		"or run test/install-deps.sh)"
for bin in migrate-src/migrate zoo/counter hosts/hostinit hosts/dirtier; do
	[ -x "$build/$bin" ] || { echo "[$NAME] FAIL: $build/$bin not built" >&2; exit 1; }
done
[ -x "$build/migrate-dst/migrate-dst" ] ||
	skip "$build/migrate-dst/migrate-dst is not built (the destination daemon does not exist yet)"
"$build/migrate-src/migrate" --help 2>&1 | grep -- '--to' | grep -qvi 'not implemented' ||
	skip "'migrate --help' does not offer --to HOST:PORT yet"
# iproute2's ip (busybox's has no netns) and ss, util-linux's unshare and
# nsenter (lib_hosts.sh uses options busybox's lack).
for tool in ip ss unshare nsenter; do
	command -v "$tool" >/dev/null || skip "needs $tool here, to copy it into the guest"
done

args=(--bin migrate-src/migrate --bin migrate-dst/migrate-dst --bin zoo/counter
	--bin hosts/hostinit --bin hosts/dirtier
	--tool ip --tool ss --tool unshare --tool nsenter --module veth
	--file "$here/lib.sh:/test/lib.sh" --file "$here/lib_hosts.sh:/test/lib_hosts.sh")
rc=0
# Both copies of the dirtier (source and destination) and the daemon's
# buffers fit easily in 1 GiB; QEMU only takes what the guest touches. The
# timeout stays under ctest's 600 s so that run.sh reports what hung.
bash "$here/../vm/run.sh" --build "$build" "${args[@]}" --mem 1024 --timeout 540 \
	"$here/../vm/migrate-guest.sh" || rc=$?
case $rc in
0) echo "[$NAME] PASS" ;;
77) echo "[$NAME] SKIP" ;;
*) echo "[$NAME] FAIL" >&2 ;;
esac
exit $rc
