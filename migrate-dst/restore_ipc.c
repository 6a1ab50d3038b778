/*
 * restore_ipc: the System V objects of ipc.img, made again in a new IPC namespace of the
 * restored root, each with its id, key, owner, mode and contents.
 *
 *	restore_ipc_one(p, e)    for each record, settings first (restore_ipc_run: all of them)
 *
 * The new namespace is made by the puppet itself (a remote unshare, restore_ipc_enter_ns):
 * `migrate restore` asks for it at create (restore_opts.new_ipc_ns, from the inventory), before
 * a tree's children are forked, so that they share it; the live-migration destination, which
 * learns that the process had its own namespace only from the records of the freeze window,
 * gets it with the first record, which restore_ipc_one enters when not done yet (a tree's
 * session asks for it at create, as `migrate restore` does: Start's inventory tells). Each
 * object is made by a forked helper that setns()es into that namespace, because the SysV
 * calls act on the caller's: *_next_id gives the object its id; the helper takes the
 * creator's uid/gid as its effective ids to create it (cuid/cgid cannot be set otherwise),
 * then as root sets owner and mode (IPC_SET) and the contents: a segment by writing through an
 * attachment, a semaphore set with SETALL, a queue by sending its messages in order.
 *
 * The attachments of a segment (VMA_SYSV_SHM) are placeholders in the layout until then
 * (restore_mm.c): restore_ipc_one attaches the segment where the image says, each VMA by
 * itself: shmat anywhere, mremap of the VMA's part onto its place, the rest detached.
 *
 * Undo: none of its own. The objects live in the puppet's namespace and go with it when a
 * failed restore kills the puppet.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "image_ipc.h"
#include "log.h"

/* The helper's error text, in a page shared with it. */
#define RESTORE_IPC_REPORT 4096

union restore_ipc_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* ---- the helper, in the namespace ---- */

static int restore_ipc_sysctl_write(const char *name, const char *value)
{
	char path[128];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		r = err_setf(-errno, "cannot write %s to %s: %s", value, path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return r;
}

static int restore_ipc_sysctl_read(const char *name, char *buf, size_t size)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		if (fd >= 0)
			close(fd);
		return err_setf((int)n, "cannot read %s: %s", path, strerror((int)-n));
	}
	close(fd);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int restore_ipc_next_id(const char *kind, uint32_t id)
{
	char name[32], value[16];

	snprintf(name, sizeof(name), "%s_next_id", kind);
	snprintf(value, sizeof(value), "%u", id);
	return restore_ipc_sysctl_write(name, value);
}

/* Effective ids of the creator for the get; root again after it (saved ids stay 0). */
static int restore_ipc_become(const IpcPermEntry *p, bool creator)
{
	int r = creator ? setegid(p->cgid) : seteuid(0);

	if (r == 0)
		r = creator ? seteuid(p->cuid) : setegid(0);
	return r < 0 ? err_setf(-errno, "cannot take uid %u gid %u: %s", creator ? p->cuid : 0,
				creator ? p->cgid : 0, strerror(errno))
		     : 0;
}

/* get(key, flags) with perm's id, as its creator. */
static int restore_ipc_get(const char *kind, const IpcPermEntry *p, int (*get)(key_t, void *),
			   void *arg)
{
	int id, r = restore_ipc_next_id(kind, p->id);

	if (r == 0)
		r = restore_ipc_become(p, true);
	if (r < 0)
		return r;
	id = get((key_t)p->key, arg);
	r = id < 0 ? -errno : 0;
	if (restore_ipc_become(p, false) < 0)
		return -EPERM;
	if (r < 0)
		return err_setf(r, "cannot create %s key 0x%08x id %u: %s", kind, p->key, p->id,
				strerror(-r));
	if ((uint32_t)id != p->id)
		return err_setf(-EEXIST, "%s key 0x%08x was made with id %d, not %u", kind, p->key,
				id, p->id);
	return 0;
}

static void restore_ipc_set_perm(struct ipc_perm *k, const IpcPermEntry *p)
{
	k->uid = p->uid;
	k->gid = p->gid;
	k->mode = (unsigned short)p->mode;
}

static int restore_ipc_shm_get(key_t key, void *arg)
{
	const IpcShmEntry *m = arg;

	return shmget(key, m->size, IPC_CREAT | IPC_EXCL | (int)m->perm->mode);
}

static int restore_ipc_shm(const IpcShmEntry *m)
{
	int id = (int)m->perm->id,
	    r = restore_ipc_get("shm", m->perm, restore_ipc_shm_get, (void *)m);
	struct shmid_ds ds;
	void *at;

	if (r < 0)
		return r;
	at = shmat(id, NULL, 0);
	if (at == (void *)-1)
		return err_setf(-errno, "cannot attach shm id %d: %s", id, strerror(errno));
	memcpy(at, m->data.data, m->size);
	(void)shmdt(at);
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return err_setf(-errno, "shm id %d: IPC_STAT: %s", id, strerror(errno));
	restore_ipc_set_perm(&ds.shm_perm, m->perm);
	if (shmctl(id, IPC_SET, &ds) < 0)
		return err_setf(-errno, "shm id %d: IPC_SET: %s", id, strerror(errno));
	return 0;
}

static int restore_ipc_sem_get(key_t key, void *arg)
{
	const IpcSemEntry *m = arg;

	return semget(key, (int)m->n_values, IPC_CREAT | IPC_EXCL | (int)m->perm->mode);
}

static int restore_ipc_sem(const IpcSemEntry *m)
{
	int id = (int)m->perm->id,
	    r = restore_ipc_get("sem", m->perm, restore_ipc_sem_get, (void *)m);
	unsigned short *vals = calloc(m->n_values, sizeof(*vals));
	union restore_ipc_semun arg = { .array = vals };
	struct semid_ds ds;

	for (size_t i = 0; vals && i < m->n_values; i++)
		vals[i] = (unsigned short)m->values[i];
	if (r == 0 && !vals)
		r = -ENOMEM;
	if (r == 0 && semctl(id, 0, SETALL, arg) < 0)
		r = err_setf(-errno, "sem id %d: SETALL: %s", id, strerror(errno));
	arg.buf = &ds;
	if (r == 0 && semctl(id, 0, IPC_STAT, arg) < 0)
		r = err_setf(-errno, "sem id %d: IPC_STAT: %s", id, strerror(errno));
	if (r == 0) {
		restore_ipc_set_perm(&ds.sem_perm, m->perm);
		if (semctl(id, 0, IPC_SET, arg) < 0)
			r = err_setf(-errno, "sem id %d: IPC_SET: %s", id, strerror(errno));
	}
	free(vals);
	return r;
}

static int restore_ipc_msq_get(key_t key, void *arg)
{
	const IpcMsqEntry *m = arg;

	return msgget(key, IPC_CREAT | IPC_EXCL | (int)m->perm->mode);
}

static int restore_ipc_msq_fill(const IpcMsqEntry *m)
{
	int id = (int)m->perm->id;
	struct msqid_ds ds;

	if (msgctl(id, IPC_STAT, &ds) < 0)
		return err_setf(-errno, "msg id %d: IPC_STAT: %s", id, strerror(errno));
	restore_ipc_set_perm(&ds.msg_perm, m->perm);
	ds.msg_qbytes = m->qbytes;
	if (msgctl(id, IPC_SET, &ds) < 0)
		return err_setf(-errno, "msg id %d: IPC_SET: %s", id, strerror(errno));
	for (size_t i = 0; i < m->n_msgs; i++) {
		const IpcMsgEntry *g = m->msgs[i];
		char *buf = malloc(sizeof(long) + g->text.len + 1);
		long mtype = (long)g->mtype;
		int r = 0;

		if (!buf)
			return -ENOMEM;
		memcpy(buf, &mtype, sizeof(mtype));
		if (g->text.len)
			memcpy(buf + sizeof(long), g->text.data, g->text.len);
		if (msgsnd(id, buf, g->text.len, IPC_NOWAIT) < 0)
			r = err_setf(-errno, "msg id %d: cannot send message %zu back: %s", id, i,
				     strerror(errno));
		free(buf);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A queue starts with msgmnb bytes and raising it needs CAP_SYS_RESOURCE, which root may lack
 * here: the namespace's msgmnb is the queue's capacity while it is made. */
static int restore_ipc_msq(const IpcMsqEntry *m)
{
	char saved[64], want[32];
	int r = restore_ipc_sysctl_read("msgmnb", saved, sizeof(saved)), r2;

	snprintf(want, sizeof(want), "%llu", (unsigned long long)m->qbytes);
	if (r == 0)
		r = restore_ipc_sysctl_write("msgmnb", want);
	if (r < 0)
		return r;
	r = restore_ipc_get("msg", m->perm, restore_ipc_msq_get, (void *)m);
	if (r == 0)
		r = restore_ipc_msq_fill(m);
	r2 = restore_ipc_sysctl_write("msgmnb", saved);
	return r < 0 ? r : r2;
}

static int restore_ipc_make(const IpcEntry *e)
{
	if (e->sysctl)
		return restore_ipc_sysctl_write(e->sysctl->name, e->sysctl->value);
	if (e->shm)
		return restore_ipc_shm(e->shm);
	if (e->sem)
		return restore_ipc_sem(e->sem);
	return restore_ipc_msq(e->msq);
}

/* Opens the namespace itself and reports through a shared page, inheriting no fd: in the
 * daemon's sessions, libuv's fork handler closes and remakes its signal pipe by the numbers it
 * had in the daemon, which may be any of ours there (the session closed the daemon's fds). */
static void restore_ipc_child(pid_t pid, char *report, const IpcEntry *e)
{
	char path[64];
	int nsfd, r;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWIPC) < 0)
		r = err_setf(-errno, "cannot join the IPC namespace %s: %s", path, strerror(errno));
	else
		r = restore_ipc_make(e);
	if (r < 0)
		snprintf(report, RESTORE_IPC_REPORT, "%s",
			 err_detail()[0] ? err_detail() : strerror(-r));
	_exit(r < 0 ? 1 : 0);
}

/* ---- the restorer's side ---- */

/* The puppet in an IPC namespace of its own (once: later records find it there). */
int restore_ipc_enter_ns(struct restore_proc *p)
{
	char path[64];
	struct stat ours, theirs;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", p->pid);
	if (stat("/proc/self/ns/ipc", &ours) < 0 || stat(path, &theirs) < 0)
		return log_error_errno(-errno, "pid %d: cannot read its IPC namespace: %m", p->pid);
	if (ours.st_ino != theirs.st_ino)
		return 0;
	return restore_call(&p->puppets[0], "unshare(CLONE_NEWIPC)", NULL, SYS_unshare,
			    CLONE_NEWIPC, 0, 0, 0, 0, 0);
}

static const char *restore_ipc_what(const IpcEntry *e, char *buf, size_t size)
{
	const IpcPermEntry *perm = e->shm ? e->shm->perm : e->sem ? e->sem->perm : NULL;
	const char *kind = e->shm ? "shm segment" : e->sem ? "semaphore set" : "message queue";

	if (e->sysctl) {
		snprintf(buf, size, "the setting kernel.%s", e->sysctl->name);
		return buf;
	}
	if (!perm)
		perm = e->msq->perm;
	snprintf(buf, size, "the %s key 0x%08x id %u", kind, perm->key, perm->id);
	return buf;
}

/* Runs the helper for e; its error text becomes ours. */
static int restore_ipc_helper(struct restore_proc *p, const IpcEntry *e)
{
	char *report = mmap(NULL, RESTORE_IPC_REPORT, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char what[96];
	int status = 0, r = 0;
	pid_t child;

	if (report == MAP_FAILED)
		return log_error_errno(-errno, "pid %d: IPC helper: %m", p->pid);
	report[0] = 0;
	child = fork();
	if (child == 0)
		restore_ipc_child(p->pid, report, e);
	if (child < 0)
		r = log_error_errno(-errno, "pid %d: cannot fork the IPC helper: %m", p->pid);
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = log_error_errno(-EIO, "pid %d: cannot restore %s: %s", p->pid,
				    restore_ipc_what(e, what, sizeof(what)),
				    report[0] ? report : "the helper died");
	munmap(report, RESTORE_IPC_REPORT);
	return r;
}

/* Attaches segment id over the placeholder of one VMA (see the head of the file). */
static int restore_ipc_attach(struct restore_proc *p, const struct restore_vma *v,
			      const IpcShmEntry *m)
{
	struct puppet *pp = &p->puppets[0];
	uint64_t len = v->end - v->start,
		 whole = (m->size + IMAGE_PAGE_SIZE - 1) & ~(uint64_t)(IMAGE_PAGE_SIZE - 1);
	int flags = (v->prot & PROT_WRITE ? 0 : SHM_RDONLY) | (v->prot & PROT_EXEC ? SHM_EXEC : 0);
	long at;
	int r;

	if (v->pgoff > whole || len > whole - v->pgoff)
		return log_error_errno(-EINVAL,
				       "pid %d: mapping 0x%llx-0x%llx reaches past the "
				       "end of shm segment id %u (%llu bytes)",
				       p->pid, (unsigned long long)v->start,
				       (unsigned long long)v->end, m->perm->id,
				       (unsigned long long)m->size);
	r = restore_call(pp, "shmat", &at, SYS_shmat, m->perm->id, 0, (uint64_t)flags, 0, 0, 0);
	if (r < 0)
		return r;
	r = restore_call(pp, "mremap", NULL, SYS_mremap, (uint64_t)at + v->pgoff, len, len,
			 MREMAP_MAYMOVE | MREMAP_FIXED, v->start, 0);
	if (r == 0 && v->pgoff)
		r = restore_call(pp, "munmap", NULL, SYS_munmap, (uint64_t)at, v->pgoff, 0, 0, 0,
				 0);
	if (r == 0 && v->pgoff + len < whole)
		r = restore_call(pp, "munmap", NULL, SYS_munmap, (uint64_t)at + v->pgoff + len,
				 whole - v->pgoff - len, 0, 0, 0, 0);
	if (r == 0)
		r = restore_call(pp, "mprotect", NULL, SYS_mprotect, v->start, len, v->prot, 0, 0,
				 0);
	return r;
}

static int restore_ipc_attach_all(struct restore_proc *p, const IpcShmEntry *m)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->layout_count; i++) {
		const struct restore_vma *v = &p->layout[i];

		if (v->kind != VMA_KIND__VMA_SYSV_SHM || v->ino != m->perm->id)
			continue;
		if (v->has_file_size && v->file_size != m->size)
			return log_error_errno(-EINVAL,
					       "pid %d: mapping 0x%llx of shm id %u says "
					       "%llu bytes, the segment has %llu",
					       p->pid, (unsigned long long)v->start, m->perm->id,
					       (unsigned long long)v->file_size,
					       (unsigned long long)m->size);
		r = restore_ipc_attach(p, v, m);
	}
	return r;
}

int restore_ipc_one(struct restore_proc *p, const IpcEntry *e)
{
	int r = restore_ipc_enter_ns(p);

	if (r == 0)
		r = restore_ipc_helper(p, e);
	if (r == 0 && e->shm)
		r = restore_ipc_attach_all(p, e->shm);
	return r;
}

/* Every attachment of the layout has its segment among ipc (else it would stay a
 * placeholder). */
static int restore_ipc_check_layout(const struct restore_proc *p, IpcEntry *const *ipc, size_t n)
{
	for (size_t i = 0; i < p->layout_count; i++) {
		const struct restore_vma *v = &p->layout[i];
		bool found = false;

		for (size_t j = 0; v->kind == VMA_KIND__VMA_SYSV_SHM && j < n && !found; j++)
			found = ipc[j]->shm && ipc[j]->shm->perm->id == v->ino;
		if (v->kind == VMA_KIND__VMA_SYSV_SHM && !found)
			return log_error_errno(-EBADMSG,
					       "pid %d: mapping 0x%llx attaches shm id "
					       "%llu, which the image does not hold",
					       p->pid, (unsigned long long)v->start,
					       (unsigned long long)v->ino);
	}
	return 0;
}

int restore_ipc_run(struct restore_proc *p, IpcEntry *const *ipc, size_t n)
{
	int r = restore_ipc_check_layout(p, ipc, n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (p->tree_index == 0)
			r = restore_ipc_one(p, ipc[i]);
		else if (ipc[i]->shm) /* made by the root, which comes first */
			r = restore_ipc_attach_all(p, ipc[i]->shm);
	}
	if (r == 0 && n)
		log_debug("restore: pid %d: %zu IPC records in a new IPC namespace", p->pid, n);
	return r;
}
