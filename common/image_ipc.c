/*
 * image_ipc: ipc.img, the System V objects of a tree's own IPC namespace, read and checked
 * before anything is created (image_set_load calls image_ipc_load; the live-migration
 * destination checks each record as it arrives with image_ipc_entry_check).
 */
#include "image.h"
#include "image_ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The kernel's own bounds: SEMMSL, SEMVMX; a message type is a positive long. */
#define IMAGE_IPC_MAX_NSEMS 32000U
#define IMAGE_IPC_MAX_SEMVAL 32767U
#define IMAGE_IPC_MAX_MTYPE 0x7fffffffffffffffULL

/* The settings a restore writes back, all under /proc/sys/kernel: nothing else is accepted. */
static const char *const image_ipc_sysctls[] = {
	"shmmax", "shmall", "shmmni", "shm_rmid_forced", "msgmax", "msgmnb", "msgmni", "sem",
};

bool image_ipc_sysctl_known(const char *name)
{
	for (size_t i = 0; i < sizeof(image_ipc_sysctls) / sizeof(image_ipc_sysctls[0]); i++)
		if (strcmp(name, image_ipc_sysctls[i]) == 0)
			return true;
	return false;
}

size_t image_ipc_sysctl_count(void)
{
	return sizeof(image_ipc_sysctls) / sizeof(image_ipc_sysctls[0]);
}

const char *image_ipc_sysctl_name(size_t i)
{
	return i < image_ipc_sysctl_count() ? image_ipc_sysctls[i] : NULL;
}

static int image_ipc_check_sysctl(const IpcSysctlEntry *s)
{
	size_t len;

	if (!s->name || !s->value || !image_ipc_sysctl_known(s->name))
		return err_setf(-EBADMSG, "ipc.img: setting %s is not one restore writes",
				s->name ? s->name : "(none)");
	len = strlen(s->value);
	if (len == 0 || len > 64 || strspn(s->value, "0123456789 \t") != len)
		return err_setf(-EBADMSG, "ipc.img: setting %s: value \"%.64s\" is not numbers",
				s->name, s->value);
	return 0;
}

static int image_ipc_check_perm(const char *what, const IpcPermEntry *p)
{
	if (!p)
		return err_setf(-EBADMSG, "ipc.img: a %s without its ids and mode", what);
	if (p->id > INT32_MAX || p->mode & ~0777U)
		return err_setf(-EBADMSG, "ipc.img: %s id %u: bad id or mode 0%o", what, p->id,
				p->mode);
	return 0;
}

static int image_ipc_check_shm(const IpcShmEntry *m)
{
	int r = image_ipc_check_perm("shm segment", m->perm);

	if (r == 0 && (m->size == 0 || m->data.len != m->size))
		r = err_setf(-EBADMSG,
			     "ipc.img: shm segment id %u: %zu bytes of contents for a "
			     "size of %llu",
			     m->perm->id, m->data.len, (unsigned long long)m->size);
	return r;
}

static int image_ipc_check_sem(const IpcSemEntry *m)
{
	int r = image_ipc_check_perm("semaphore set", m->perm);

	if (r == 0 && (m->n_values == 0 || m->n_values > IMAGE_IPC_MAX_NSEMS))
		return err_setf(-EBADMSG, "ipc.img: semaphore set id %u has %zu semaphores",
				m->perm->id, m->n_values);
	for (size_t i = 0; r == 0 && i < m->n_values; i++)
		if (m->values[i] > IMAGE_IPC_MAX_SEMVAL)
			return err_setf(-EBADMSG,
					"ipc.img: semaphore set id %u: semaphore %zu "
					"is %u, above %u",
					m->perm->id, i, m->values[i], IMAGE_IPC_MAX_SEMVAL);
	return r;
}

static int image_ipc_check_msq(const IpcMsqEntry *m)
{
	uint64_t bytes = 0;
	int r = image_ipc_check_perm("message queue", m->perm);

	for (size_t i = 0; r == 0 && i < m->n_msgs; i++) {
		if (!m->msgs[i] || m->msgs[i]->mtype == 0 ||
		    m->msgs[i]->mtype > IMAGE_IPC_MAX_MTYPE)
			return err_setf(-EBADMSG,
					"ipc.img: message queue id %u: message %zu has "
					"no type or a bad one",
					m->perm->id, i);
		bytes += m->msgs[i]->text.len;
	}
	if (r == 0 && (bytes > m->qbytes || m->qbytes > INT32_MAX))
		return err_setf(-EBADMSG,
				"ipc.img: message queue id %u holds %llu bytes, its "
				"capacity is %llu",
				m->perm->id, (unsigned long long)bytes,
				(unsigned long long)m->qbytes);
	return r;
}

int image_ipc_entry_check(const IpcEntry *e)
{
	int fields = !!e->sysctl + !!e->shm + !!e->sem + !!e->msq;

	if (fields != 1)
		return err_setf(-EBADMSG, "ipc.img: a record holds %d objects, not one", fields);
	if (e->sysctl)
		return image_ipc_check_sysctl(e->sysctl);
	if (e->shm)
		return image_ipc_check_shm(e->shm);
	if (e->sem)
		return image_ipc_check_sem(e->sem);
	return image_ipc_check_msq(e->msq);
}

/* The perm of e and its kind (1 shm, 2 sem, 3 msq), or NULL for a setting. */
static const IpcPermEntry *image_ipc_perm(const IpcEntry *e, int *ret_kind)
{
	*ret_kind = e->shm ? 1 : e->sem ? 2 : e->msq ? 3 : 0;
	return e->shm ? e->shm->perm : e->sem ? e->sem->perm : e->msq ? e->msq->perm : NULL;
}

static int image_ipc_check_unique(IpcEntry *const *ipc, size_t i)
{
	static const char *const names[] = { "setting", "shm segment", "semaphore set",
					     "message queue" };
	int kind, other;
	const IpcPermEntry *p = image_ipc_perm(ipc[i], &kind), *q;

	for (size_t j = 0; p && j < i; j++) {
		q = image_ipc_perm(ipc[j], &other);
		if (!q || other != kind)
			continue;
		if (q->id == p->id || (p->key && q->key == p->key))
			return err_setf(-EBADMSG, "ipc.img: two %ss with id %u or key 0x%08x",
					names[kind], p->id, p->key);
	}
	return 0;
}

int image_ipc_check(IpcEntry *const *ipc, size_t n)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!ipc[i])
			return err_setf(-EBADMSG, "ipc.img: record %zu is empty", i);
		r = image_ipc_entry_check(ipc[i]);
		if (r == 0)
			r = image_ipc_check_unique(ipc, i);
	}
	return r;
}

void image_ipc_free(IpcEntry **ipc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ipc[i])
			protobuf_c_message_free_unpacked(&ipc[i]->base, NULL);
	free(ipc);
}

int image_ipc_load(struct image_dir *d, IpcEntry ***ret, size_t *ret_n)
{
	struct image_file *f = NULL;
	ProtobufCMessage *msg;
	IpcEntry **list = NULL, **bigger;
	size_t n = 0;
	int r = image_open_read(d, IMAGE_IPC, 0, &f);

	while (r == 0 && (r = image_read_record(f, &msg)) > 0) {
		bigger = realloc(list, (n + 1) * sizeof(*list));
		if (!bigger) {
			protobuf_c_message_free_unpacked(msg, NULL);
			r = -ENOMEM;
			break;
		}
		list = bigger;
		list[n++] = (IpcEntry *)msg;
		r = 0;
	}
	(void)image_close(f); /* read-only: nothing to report */
	if (r == 0)
		r = image_ipc_check(list, n);
	if (r < 0) {
		image_ipc_free(list, n);
		return r;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}
