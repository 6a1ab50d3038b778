#!/bin/bash
# vm_softdirty: the soft-dirty tracker needs CONFIG_MEM_SOFT_DIRTY, which this
# machine's kernel may lack; so boot Debian 12's own 6.1 kernel (which has it)
# in QEMU and run there: `migrate check`, the tracker unit test, and a zoo
# counter through dump and restore (test/vm/softdirty-guest.sh says what each
# checks). Skips when QEMU, busybox or cpio is missing; the first run downloads
# the kernel package into BUILD_DIR/vm-cache.
set -euo pipefail
NAME=vm_softdirty
build=${1:-}
[ -n "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "[$NAME] SKIP: qemu-system-x86_64 is not installed" \
		"(apt-get install qemu-system-x86, or run test/install-deps.sh)"
	exit 77
fi
for bin in migrate-src/migrate zoo/counter; do
	[ -x "$build/$bin" ] || { echo "[$NAME] FAIL: $build/$bin not built" >&2; exit 1; }
done

args=(--bin migrate-src/migrate --bin zoo/counter --file "$here/lib.sh:/test/lib.sh")
# The tracker's unit test is another module's; run it when it is built.
if [ -x "$build/test/test_track" ]; then
	args+=(--bin test/test_track)
fi
rc=0
# 2 GiB: test_track's 1 GiB cases need room (QEMU only takes what the guest touches).
bash "$here/../vm/run.sh" --build "$build" "${args[@]}" --mem 2048 --timeout 420 \
	"$here/../vm/softdirty-guest.sh" || rc=$?
case $rc in
0) echo "[$NAME] PASS" ;;
77) echo "[$NAME] SKIP" ;;
*) echo "[$NAME] FAIL" >&2 ;;
esac
exit $rc
