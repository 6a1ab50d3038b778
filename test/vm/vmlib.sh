# shellcheck shell=bash
# vmlib.sh: the pieces of the VM runner (sourced by run.sh, not run).
#
#	vm_kernel CACHE                    Debian 12's kernel unpacked under CACHE (cached);
#	                                   sets $VM_KDIR (the unpacked package), $VM_KERNEL
#	                                   (its vmlinuz), $VM_KVER (uname -r in the guest)
#	vm_stage_init STAGE INIT           an empty initramfs tree: busybox, the init script
#	vm_stage_elf STAGE SRC DST         a program (or any file) at DST in the guest; for a
#	                                   dynamically linked ELF also the libraries ldd lists
#	                                   and the loader, at the paths ldd gives
#	vm_stage_module STAGE NAME         a kernel module of $VM_KDIR and the modules it
#	                                   depends on, loaded by /init in dependency order
#	vm_pack STAGE OUT                  cpio -H newc | gzip of the tree
#
# Failures print what failed to stderr and return 1; nothing here prints on success
# except to the log files it names.

VM_CACHE_LOCK_TIMEOUT=${VM_CACHE_LOCK_TIMEOUT:-600}

vm_err() { echo "vm: $*" >&2; }

# The linux-image-6.1 package that linux-image-amd64 depends on, as apt sees it
# now (empty when apt knows no such package, e.g. apt-get update never ran).
vm_kernel_package() {
	if [ -n "${MIGRATE_VM_KERNEL_PKG:-}" ]; then
		echo "$MIGRATE_VM_KERNEL_PKG"
		return 0
	fi
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-6\.1/ { print $2; exit }'
}

# vm_kernel_fetch CACHE PKG: downloads PKG and unpacks it to CACHE/PKG. The
# unpacking goes to a temporary name first, so an interrupted run never leaves
# a half-unpacked kernel that the next run would take for a good one.
vm_kernel_fetch() {
	local cache=$1 pkg=$2 dl=$1/download log=$1/download.log deb
	rm -rf "$dl" "$cache/$pkg.partial"
	mkdir -p "$dl"
	# The _apt sandbox user cannot write here; apt then downloads as root
	# and says so: that warning is expected and goes to the log.
	echo "vm: downloading $pkg (once; cached in $cache)" >&2
	if ! (cd "$dl" && apt-get download "$pkg") >"$log" 2>&1; then
		cat "$log" >&2
		vm_err "apt-get download $pkg failed (output above): is the network" \
			"reachable and apt's list up to date (apt-get update)?"
		return 1
	fi
	deb=$(ls "$dl"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { vm_err "apt-get download $pkg left no .deb in $dl"; return 1; }
	dpkg -x "$deb" "$cache/$pkg.partial" || {
		vm_err "dpkg -x $deb failed"
		return 1
	}
	mv "$cache/$pkg.partial" "$cache/$pkg"
	rm -rf "$dl" "$log"
}

# vm_kernel_pick DIR: sets VM_KDIR, VM_KERNEL, VM_KVER from an unpacked package.
vm_kernel_pick() {
	VM_KDIR=$1
	VM_KERNEL=$(ls "$VM_KDIR"/boot/vmlinuz-* 2>/dev/null | head -n 1)
	[ -n "$VM_KERNEL" ] || { vm_err "no boot/vmlinuz-* in $VM_KDIR"; return 1; }
	VM_KVER=${VM_KERNEL##*/vmlinuz-}
}

vm_kernel() {
	local cache=$1 pkg old
	mkdir -p "$cache" || return 1
	# One download at a time, even when two runs share the cache.
	exec 9>"$cache/.lock"
	flock -w "$VM_CACHE_LOCK_TIMEOUT" 9 || { vm_err "cache $cache stays locked"; return 1; }
	pkg=$(vm_kernel_package)
	if [ -z "$pkg" ]; then
		# Offline, or apt never updated: any kernel unpacked before will do.
		old=
		for pkg in "$cache"/linux-image-6.1*; do
			[ -d "$pkg" ] && [[ "$pkg" != *.partial ]] && old=$pkg
		done
		if [ -z "$old" ]; then
			exec 9>&-
			vm_err "apt knows no linux-image-6.1 package (linux-image-amd64's" \
				"dependency) and none is cached in $cache: run apt-get update"
			return 1
		fi
		pkg=${old##*/}
	elif [ ! -d "$cache/$pkg" ]; then
		vm_kernel_fetch "$cache" "$pkg" || { exec 9>&-; return 1; }
		# A newer kernel replaces the older ones: they are 400 MB each.
		for old in "$cache"/linux-image-6.1*; do
			[ "$old" = "$cache/$pkg" ] || rm -rf "$old"
		done
	fi
	exec 9>&-
	vm_kernel_pick "$cache/$pkg"
}

# vm_stage_file STAGE SRC DST: copies SRC (following links) to DST in the tree.
vm_stage_file() {
	local stage=$1 src=$2 dst=$3
	if ! mkdir -p "$stage$(dirname "$dst")" || ! cp -L --preserve=mode "$src" "$stage$dst"; then
		vm_err "cannot copy $src into the guest at $dst"
		return 1
	fi
}

# The shared libraries and the loader of an ELF program, one path a line;
# nothing for a static program or a file that is not ELF.
vm_elf_libs() {
	[ "$(head -c 4 "$1" 2>/dev/null)" = $'\x7fELF' ] || return 0
	ldd "$1" 2>/dev/null | awk '$1 ~ /^\// { print $1 } $3 ~ /^\// { print $3 }' || true
}

vm_stage_elf() {
	local stage=$1 src=$2 dst=$3 lib libs
	[ -e "$src" ] || { vm_err "$src does not exist"; return 1; }
	vm_stage_file "$stage" "$src" "$dst" || return 1
	libs=$(vm_elf_libs "$src")
	if ldd "$src" 2>&1 | grep -q 'not found'; then
		vm_err "$src needs libraries ldd cannot find: $(ldd "$src" | grep 'not found')"
		return 1
	fi
	for lib in $libs; do
		[ -e "$stage$lib" ] && continue
		vm_stage_file "$stage" "$lib" "$lib" || return 1
	done
}

vm_stage_init() {
	local stage=$1 init=$2 busybox
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || { vm_err "busybox is missing (apt-get install busybox-static)"; return 1; }
	mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp,run,root,test,lib/modules} || return 1
	vm_stage_elf "$stage" "$busybox" /bin/busybox || return 1
	vm_stage_file "$stage" "$init" /init || return 1
	chmod 755 "$stage/init"
	: >"$stage/etc/vm-modules"
	: >"$stage/etc/vm-env"
}

# vm_module_path NAME: the .ko of NAME in $VM_KDIR ('-' and '_' are the same in
# module names).
vm_module_path() {
	local name=${1//-/_} alt=${1//_/-}
	find "$VM_KDIR/lib/modules/$VM_KVER/kernel" \( -name "$name.ko" -o -name "$alt.ko" \) \
		-print -quit 2>/dev/null
}

# The "depends=" field of a module's .modinfo section, as a list of names
# (no modinfo needed: the section is NUL-separated key=value strings).
vm_module_depends() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}

# vm_stage_module STAGE NAME: its dependencies first, each module once. A
# module built into the kernel needs nothing and is accepted.
vm_stage_module() {
	local stage=$1 name=$2 ko dep
	grep -qxF "$name" "$stage/etc/vm-modules" && return 0
	ko=$(vm_module_path "$name")
	if [ -z "$ko" ]; then
		grep -qE "/${name//[-_]/[-_]}\.ko$" \
			"$VM_KDIR/lib/modules/$VM_KVER/modules.builtin" 2>/dev/null && return 0
		vm_err "kernel $VM_KVER has no module $name"
		return 1
	fi
	for dep in $(vm_module_depends "$ko"); do
		vm_stage_module "$stage" "$dep" || return 1
	done
	grep -qxF "$name" "$stage/etc/vm-modules" && return 0
	vm_stage_file "$stage" "$ko" "/lib/modules/$name.ko" || return 1
	echo "$name" >>"$stage/etc/vm-modules"
}

vm_pack() {
	local stage=$1 out=$2
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out" ||
		{ vm_err "cannot pack $stage into $out"; return 1; }
}
