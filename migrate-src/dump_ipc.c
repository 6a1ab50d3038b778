/*
 * dump_ipc: System V IPC (shared memory, semaphore sets, message queues).
 *
 * A process of the host's IPC namespace uses objects every other process of the host may use
 * too: the tool cannot own them, so an attached segment is refused by name before anything is
 * touched (semaphores and queues leave no trace in /proc: they stay the host's, see README).
 * A tree in an IPC namespace of its own takes the whole namespace along: every object with
 * its id, key, owner, mode and contents, and the namespace's kernel.shm* / msg* / sem
 * settings (msgmnb bounds a queue, shmmax a segment...).
 *
 * The objects are read by a forked helper that setns()es into the namespace: the SysV calls
 * act on the caller's namespace, and the target is never touched. Segments are read through
 * a read-only attachment of the helper, semaphores with GETALL, messages with
 * msgrcv(MSG_COPY), which copies the n-th message without taking it off the queue. The helper
 * sends packed IpcEntry records back over a pipe:
 *
 *	[u32 len][len bytes of IpcEntry] ...            one frame per record, settings first
 *	[u32 0xffffffff][i32 -errno][u32 len][text]     a refusal, then the helper exits
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"
#include "image_ipc.h"
#include "log.h"

#define DUMP_IPC_ERROR 0xffffffffU
/* A segment travels in one record: what an image record holds, less room for its fields. */
#define DUMP_IPC_MAX_SHM (IMAGE_MAX_RECORD - (64U << 10))

union dump_ipc_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* The inode of /proc/PID/ns/ipc (PID 0: ours). */
static int dump_ipc_ns_ino(pid_t pid, ino_t *ret)
{
	char path[64];
	struct stat st;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/ipc");
	if (stat(path, &st) < 0)
		return err_setf(-errno, "cannot read %s: %s", path, strerror(errno));
	*ret = st.st_ino;
	return 0;
}

bool dump_ipc_own_ns(pid_t pid)
{
	ino_t theirs, ours;

	return dump_ipc_ns_ino(pid, &theirs) == 0 && dump_ipc_ns_ino(0, &ours) == 0 &&
	       theirs != ours;
}

static int dump_ipc_run(pid_t pid, bool probe, struct dump_ipc *ret);

/* What the namespace holds that the dump would refuse, found before the process is touched:
 * a segment removed while attached or too big, a queue MSG_COPY cannot read. */
static int dump_ipc_probe(pid_t pid)
{
	struct dump_ipc ipc;
	int r = dump_ipc_run(pid, true, &ipc);

	dump_ipc_fini(&ipc);
	return r;
}

int dump_ipc_check(pid_t pid)
{
	struct proc_vma_list l = { 0 };
	char *text = NULL;
	size_t len;
	int r;

	if (dump_ipc_own_ns(pid))
		return dump_ipc_probe(pid);
	/* The process runs: maps read in several chunks can be torn by an mmap meanwhile (the
	 * parser then sees overlapping lines); read it again rather than fail the dump. */
	for (int tries = 0;; tries++) {
		r = proc_read_file(pid, "maps", &text, &len);
		if (r == 0)
			r = proc_parse_maps(text, len, &l);
		free(text);
		text = NULL;
		if (r != -EINVAL || tries == 4)
			break;
	}
	if (r < 0)
		return dump_err_wrap(r, "cannot read the mappings of pid %d", pid);
	for (size_t i = 0; r == 0 && i < l.count; i++) {
		const struct proc_vma *v = &l.vmas[i];

		if (v->shared && v->deleted && v->path && strncmp(v->path, "/SYSV", 5) == 0)
			r = err_setf(-ENOTSUP,
				     "pid %d attaches SysV shared memory segment key 0x%s "
				     "id %llu (at 0x%llx) of the host's IPC namespace: run it in "
				     "its own IPC namespace (unshare -i)",
				     pid, v->path + 5, (unsigned long long)v->ino,
				     (unsigned long long)v->start);
	}
	proc_vma_list_free(&l);
	return r;
}

/* ---- the helper, in the namespace ---- */

static int dump_ipc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dump_ipc_send(int out, const IpcEntry *e)
{
	size_t len = ipc_entry__get_packed_size(e);
	uint8_t *buf = malloc(len + 4);
	uint32_t hdr = (uint32_t)len;
	int r;

	if (!buf)
		return err_setf(-ENOMEM, "out of memory");
	memcpy(buf, &hdr, 4);
	ipc_entry__pack(e, buf + 4);
	r = dump_ipc_write_all(out, buf, len + 4);
	free(buf);
	return r;
}

static void dump_ipc_perm(IpcPermEntry *p, int id, const struct ipc_perm *k)
{
	p->id = (uint32_t)id;
	p->key = (uint32_t)k->__key;
	p->uid = k->uid;
	p->gid = k->gid;
	p->cuid = k->cuid;
	p->cgid = k->cgid;
	p->mode = k->mode & 0777;
}

static int dump_ipc_sysctls(int out)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < image_ipc_sysctl_count(); i++) {
		IpcEntry e = IPC_ENTRY__INIT;
		IpcSysctlEntry s = IPC_SYSCTL_ENTRY__INIT;
		char path[128], value[128];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/sys/kernel/%s", image_ipc_sysctl_name(i));
		f = fopen(path, "re");
		if (!f)
			return err_setf(-errno, "cannot read %s: %s", path, strerror(errno));
		if (!fgets(value, sizeof(value), f))
			value[0] = 0;
		fclose(f);
		value[strcspn(value, "\n")] = 0;
		for (char *c = value; *c; c++)
			if (*c == '\t')
				*c = ' ';
		s.name = (char *)image_ipc_sysctl_name(i);
		s.value = value;
		e.sysctl = &s;
		r = dump_ipc_send(out, &e);
	}
	return r;
}

/* probe: the refusals only, nothing read or sent (dump_ipc_check). */
static int dump_ipc_shm_one(int out, int id, const struct shmid_ds *ds, bool probe)
{
	IpcEntry e = IPC_ENTRY__INIT;
	IpcShmEntry m = IPC_SHM_ENTRY__INIT;
	IpcPermEntry p = IPC_PERM_ENTRY__INIT;
	void *at;
	int r;

	if (ds->shm_perm.mode & SHM_DEST)
		return err_setf(-ENOTSUP,
				"SysV shared memory segment key 0x%08x id %d is removed "
				"(IPC_RMID) but still attached, which cannot be made again: not "
				"supported",
				(unsigned int)ds->shm_perm.__key, id);
	if (ds->shm_segsz > DUMP_IPC_MAX_SHM)
		return err_setf(-EFBIG,
				"SysV shared memory segment key 0x%08x id %d holds %zu "
				"bytes, more than an image record carries (%u)",
				(unsigned int)ds->shm_perm.__key, id, ds->shm_segsz,
				DUMP_IPC_MAX_SHM);
	if (probe)
		return 0;
	at = shmat(id, NULL, SHM_RDONLY);
	if (at == (void *)-1)
		return err_setf(-errno,
				"cannot attach SysV shared memory segment id %d to read "
				"it: %s",
				id, strerror(errno));
	dump_ipc_perm(&p, id, &ds->shm_perm);
	m.perm = &p;
	m.size = ds->shm_segsz;
	m.data.data = at;
	m.data.len = ds->shm_segsz;
	e.shm = &m;
	r = dump_ipc_send(out, &e);
	(void)shmdt(at);
	return r;
}

static int dump_ipc_shms(int out, bool probe)
{
	struct shm_info info;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&info), r = 0;

	if (max < 0)
		return err_setf(-errno, "SHM_INFO: %s", strerror(errno));
	for (int idx = 0; r == 0 && idx <= max; idx++) {
		struct shmid_ds ds;
		int id = shmctl(idx, SHM_STAT_ANY, &ds);

		if (id >= 0)
			r = dump_ipc_shm_one(out, id, &ds, probe);
	}
	return r;
}

static int dump_ipc_sem_one(int out, int id, const struct semid_ds *ds)
{
	IpcEntry e = IPC_ENTRY__INIT;
	IpcSemEntry m = IPC_SEM_ENTRY__INIT;
	IpcPermEntry p = IPC_PERM_ENTRY__INIT;
	size_t n = ds->sem_nsems;
	unsigned short *vals = calloc(n + 1, sizeof(*vals));
	uint32_t *values = calloc(n + 1, sizeof(*values));
	union dump_ipc_semun arg = { .array = vals };
	int r = 0;

	if (!vals || !values)
		r = err_setf(-ENOMEM, "out of memory");
	else if (semctl(id, 0, GETALL, arg) < 0)
		r = err_setf(-errno, "cannot read semaphore set id %d (GETALL): %s", id,
			     strerror(errno));
	for (size_t i = 0; r == 0 && i < n; i++)
		values[i] = vals[i];
	dump_ipc_perm(&p, id, &ds->sem_perm);
	m.perm = &p;
	m.n_values = n;
	m.values = values;
	e.sem = &m;
	if (r == 0)
		r = dump_ipc_send(out, &e);
	free(vals);
	free(values);
	return r;
}

static int dump_ipc_sems(int out)
{
	struct seminfo info;
	union dump_ipc_semun arg = { .buf = (struct semid_ds *)&info };
	int max = semctl(0, 0, SEM_INFO, arg), r = 0;

	if (max < 0)
		return err_setf(-errno, "SEM_INFO: %s", strerror(errno));
	for (int idx = 0; r == 0 && idx <= max; idx++) {
		struct semid_ds ds;
		int id;

		arg.buf = &ds;
		id = semctl(idx, 0, SEM_STAT_ANY, arg);
		if (id >= 0)
			r = dump_ipc_sem_one(out, id, &ds);
	}
	return r;
}

/* The messages of queue id, in order, into m (freed by the caller). */
static int dump_ipc_msgs(int id, const struct msqid_ds *ds, IpcMsqEntry *m)
{
	size_t size = ds->__msg_cbytes + sizeof(long) + 1;
	char *buf = malloc(size);
	int r = 0;

	m->msgs = calloc(ds->msg_qnum + 1, sizeof(*m->msgs));
	if (!buf || !m->msgs) {
		free(buf);
		return err_setf(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; r == 0 && i < ds->msg_qnum; i++) {
		ssize_t n = msgrcv(id, buf, size - sizeof(long), (long)i, IPC_NOWAIT | MSG_COPY);
		IpcMsgEntry *g = malloc(sizeof(*g));
		uint8_t *text = n >= 0 ? malloc((size_t)n + 1) : NULL;

		if (n < 0 || !g || !text) {
			r = n < 0 ? err_setf(-errno,
					     "cannot copy message %zu of queue id %d "
					     "(MSG_COPY needs CONFIG_CHECKPOINT_RESTORE): %s",
					     i, id, strerror(errno))
				  : err_setf(-ENOMEM, "out of memory");
			free(g);
			free(text);
			break;
		}
		ipc_msg_entry__init(g);
		memcpy(&g->mtype, buf, sizeof(long));
		memcpy(text, buf + sizeof(long), (size_t)n);
		g->text.data = text;
		g->text.len = (size_t)n;
		m->msgs[m->n_msgs++] = g;
	}
	free(buf);
	return r;
}

static int dump_ipc_msq_one(int out, int id, const struct msqid_ds *ds)
{
	IpcEntry e = IPC_ENTRY__INIT;
	IpcMsqEntry m = IPC_MSQ_ENTRY__INIT;
	IpcPermEntry p = IPC_PERM_ENTRY__INIT;
	int r = dump_ipc_msgs(id, ds, &m);

	dump_ipc_perm(&p, id, &ds->msg_perm);
	m.perm = &p;
	m.qbytes = ds->msg_qbytes;
	e.msq = &m;
	if (r == 0)
		r = dump_ipc_send(out, &e);
	for (size_t i = 0; i < m.n_msgs; i++) {
		free(m.msgs[i]->text.data);
		free(m.msgs[i]);
	}
	free(m.msgs);
	return r;
}

static int dump_ipc_msqs(int out)
{
	struct msginfo info;
	int max = msgctl(0, MSG_INFO, (struct msqid_ds *)&info), r = 0;

	if (max < 0)
		return err_setf(-errno, "MSG_INFO: %s", strerror(errno));
	for (int idx = 0; r == 0 && idx <= max; idx++) {
		struct msqid_ds ds;
		int id = msgctl(idx, MSG_STAT_ANY, &ds);

		if (id >= 0)
			r = dump_ipc_msq_one(out, id, &ds);
	}
	return r;
}

static void dump_ipc_child(int nsfd, int out, bool probe)
{
	int r = setns(nsfd, CLONE_NEWIPC) < 0 ? err_setf(-errno, "setns: %s", strerror(errno)) : 0;

	if (r == 0)
		r = dump_ipc_sysctls(out);
	if (r == 0)
		r = dump_ipc_shms(out, probe);
	if (r == 0)
		r = dump_ipc_sems(out);
	if (r == 0)
		r = dump_ipc_msqs(out);
	if (r < 0) {
		const char *d = err_detail();
		uint32_t hdr[3] = { DUMP_IPC_ERROR, (uint32_t)r, (uint32_t)strlen(d) };

		(void)(dump_ipc_write_all(out, hdr, sizeof(hdr)) == 0 &&
		       dump_ipc_write_all(out, d, hdr[2]) == 0);
	}
	_exit(r < 0 ? 1 : 0);
}

/* ---- the dumper's side ---- */

static int dump_ipc_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dump_ipc_push(struct dump_ipc *ipc, const uint8_t *buf, size_t len)
{
	IpcEntry *e = ipc_entry__unpack(NULL, len, buf);
	IpcEntry **bigger;

	if (!e)
		return err_setf(-EPROTO, "the IPC helper sent an undecodable record");
	bigger = realloc(ipc->entries, (ipc->count + 1) * sizeof(*bigger));
	if (!bigger) {
		ipc_entry__free_unpacked(e, NULL);
		return -ENOMEM;
	}
	ipc->entries = bigger;
	ipc->entries[ipc->count++] = e;
	return 0;
}

/* The helper's refusal, as our error. */
static int dump_ipc_read_error(int in, pid_t pid)
{
	uint32_t hdr[2];
	char text[512];
	int r = dump_ipc_read_all(in, hdr, sizeof(hdr));

	if (r < 0 || hdr[1] >= sizeof(text))
		return err_setf(-EPROTO, "the IPC helper failed without saying why");
	r = dump_ipc_read_all(in, text, hdr[1]);
	text[r < 0 ? 0 : hdr[1]] = 0;
	return err_setf((int)hdr[0] < 0 ? (int)hdr[0] : -EIO, "IPC namespace of pid %d: %s", pid,
			text);
}

static int dump_ipc_read_frames(int in, pid_t pid, struct dump_ipc *ipc)
{
	uint8_t *buf = NULL;
	uint32_t len;
	int r;

	while ((r = dump_ipc_read_all(in, &len, sizeof(len))) == 0) {
		if (len == DUMP_IPC_ERROR)
			return dump_ipc_read_error(in, pid);
		if (len > IMAGE_MAX_RECORD)
			return err_setf(-EPROTO, "the IPC helper sent a record of %u bytes", len);
		buf = malloc(len ? len : 1);
		r = buf ? dump_ipc_read_all(in, buf, len) : -ENOMEM;
		if (r == 0)
			r = dump_ipc_push(ipc, buf, len);
		free(buf);
		if (r < 0)
			return r;
	}
	return r == -EPIPE ? 0 : r; /* EOF between frames: the helper is done */
}

static int dump_ipc_wait(pid_t child, int r)
{
	int status;

	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return r < 0 ? r : err_setf(-errno, "waitpid: %s", strerror(errno));
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = err_setf(-EIO, "the IPC helper died (status 0x%x)", status);
	return r;
}

/* The records of pid's namespace (probe: all but the segments' contents). */
static int dump_ipc_run(pid_t pid, bool probe, struct dump_ipc *ret)
{
	char path[64];
	int p[2], nsfd, r;
	pid_t child;

	*ret = (struct dump_ipc){ 0 };
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return err_setf(-errno, "cannot open %s: %s", path, strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		close(nsfd);
		return err_setf(r, "pipe: %s", strerror(-r));
	}
	child = fork();
	if (child == 0) {
		close(p[0]);
		dump_ipc_child(nsfd, p[1], probe);
	}
	close(nsfd);
	close(p[1]);
	r = child < 0 ? err_setf(-errno, "fork: %s", strerror(errno))
		      : dump_ipc_read_frames(p[0], pid, ret);
	close(p[0]);
	if (child > 0)
		r = dump_ipc_wait(child, r);
	if (r < 0)
		dump_ipc_fini(ret);
	else
		log_debug("dump: pid %d: %zu IPC records", pid, ret->count);
	return r;
}

int dump_ipc_collect(pid_t pid, struct dump_ipc *ret)
{
	return dump_ipc_run(pid, false, ret);
}

void dump_ipc_fini(struct dump_ipc *ipc)
{
	for (size_t i = 0; i < ipc->count; i++)
		ipc_entry__free_unpacked(ipc->entries[i], NULL);
	free(ipc->entries);
	*ipc = (struct dump_ipc){ 0 };
}

/* The objects are the root's namespace's: a member in another one would lose its own. */
int dump_ipc_check_tree(const struct dump_tree *tree)
{
	ino_t root, other;
	int r = dump_ipc_ns_ino(tree->procs[0].pid, &root);

	for (size_t i = 1; r == 0 && i < tree->count; i++) {
		if (tree->procs[i].zombie)
			continue;
		r = dump_ipc_ns_ino(tree->procs[i].pid, &other);
		if (r == 0 && other != root)
			r = err_setf(-ENOTSUP,
				     "pid %d lives in another IPC namespace than the root pid %d "
				     "of the tree: not supported; its objects would not travel",
				     tree->procs[i].pid, tree->procs[0].pid);
	}
	return r;
}

int dump_ipc_write(struct image_dir *d, const struct dump_tree *tree, unsigned int *written)
{
	pid_t pid = tree->procs[0].pid;
	struct image_file *f = NULL;
	struct dump_ipc ipc;
	int r, r2;

	r = dump_ipc_check_tree(tree);
	if (r < 0 || !dump_ipc_own_ns(pid))
		return r;
	r = dump_ipc_collect(pid, &ipc);
	if (r < 0)
		return r;
	*written |= 1U << IMAGE_IPC;
	r = image_open_write(d, IMAGE_IPC, 0, &f);
	for (size_t i = 0; r == 0 && i < ipc.count; i++)
		r = image_write_record(f, &ipc.entries[i]->base);
	r2 = image_close(f);
	dump_ipc_fini(&ipc);
	return r < 0 ? r : r2;
}
