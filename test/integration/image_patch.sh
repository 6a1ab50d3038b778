#!/bin/bash
# image_patch: the pages image is raw memory that ordinary tools can edit.
# The patch program prints a string it holds in memory; we dump it, replace
# the string in pages-PID.img with perl (same length), restore, and the
# program must print, and hold, the new string.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v perl >/dev/null || skip "needs perl"

original=ZOO-PATCH-ORIGINAL-7f3a
replaced=ZOO-PATCH-REPLACED-7f3a
img=$TMP/img

zoo_start patch
pid=$ZOO_PID
wait_line "$ZOO_LOG" "^msg $original\$"
mig_dump "$pid" "$img"
wait_gone "$pid" 5

pages=$img/pages-$pid.img
[ -f "$pages" ] || die "no $pages after the dump: $(ls "$img")"
hits=$(grep -c -a -- "$original" "$pages") || true
[ "${hits:-0}" -ge 1 ] || die "$original not found in $pages"
size=$(stat -c %s "$pages")
perl -0777 -pi -e "s/\Q$original\E/$replaced/g" "$pages"
[ "$(stat -c %s "$pages")" = "$size" ] || die "perl changed the size of $pages"
! grep -q -a -- "$original" "$pages" || die "$original still in $pages after the patch"
say "patched $hits copies of the string in $pages"

lines_before=$(grep -c "^msg $replaced\$" "$ZOO_LOG") || true
[ "${lines_before:-0}" -eq 0 ] || die "the log shows $replaced before the restore"
mig_restore "$img"
assert_alive "$pid" "patched patch program"
wait_line "$ZOO_LOG" "^msg $replaced\$"
zoo_check patch
last=$(grep '^msg ' "$ZOO_LOG" | tail -n 1)
[ "$last" = "msg $replaced" ] || die "last message '$last', expected 'msg $replaced'"
wait_gone "$pid" 5
