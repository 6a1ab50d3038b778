/*
 * libFuzzer harness for ipc.img's records: the input unpacked as an IpcEntry (as the image
 * loader and the live-migration destination do) and checked by image_ipc_entry_check, then a
 * list of the same record twice by image_ipc_check. An accepted record must keep the
 * promises restore_ipc.c relies on; anything but -EBADMSG for a refusal is a bug.
 *
 *	cmake -DMIGRATE_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && make fuzz_image_ipc
 *	./fuzz_image_ipc -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "image_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What restore_ipc.c takes for granted in an accepted record. */
static void fuzz_ipc_promises(const IpcEntry *e)
{
	if (e->sysctl && !image_ipc_sysctl_known(e->sysctl->name))
		abort();
	if (e->shm && (e->shm->data.len != e->shm->size || e->shm->perm->mode > 0777))
		abort();
	if (e->sem && (e->sem->n_values == 0 || !e->sem->perm))
		abort();
	for (size_t i = 0; e->msq && i < e->msq->n_msgs; i++)
		if (!e->msq->msgs[i] || e->msq->msgs[i]->mtype == 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	IpcEntry *e = ipc_entry__unpack(NULL, size, data);
	IpcEntry *two[2];
	int r;

	if (!e)
		return 0;
	r = image_ipc_entry_check(e);
	if (r != 0 && r != -EBADMSG)
		abort();
	if (r == 0)
		fuzz_ipc_promises(e);
	two[0] = two[1] = e;
	/* The same object twice: a duplicate id, refused (a setting may repeat). */
	r = image_ipc_check(two, 2);
	if (r == 0 && !e->sysctl)
		abort();
	ipc_entry__free_unpacked(e, NULL);
	return 0;
}
