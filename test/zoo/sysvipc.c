/*
 * sysvipc: System V IPC in an IPC namespace of its own (run it under `unshare --ipc`).
 *
 *	segment A (key 0x5a1c0001, 3 pages + 100 bytes, 0640) attached twice: read-write and
 *	          read-only, at addresses noted before the dump
 *	segment B (key 0x5a1c0002, 0600) created by euid 1234 / egid 4321, not attached
 *	segment C (IPC_PRIVATE) attached read-write
 *	a semaphore set (key 0x5a1c0003, 5 semaphores, owner 1000:1000 by IPC_SET)
 *	a message queue (key 0x5a1c0004, 0620) holding 5 messages of several types, one empty
 *
 * After the restore everything is compared with what was noted: ids, keys, modes, owners and
 * creators, sizes, contents, semaphore values, the messages in order; the attachments are at
 * the same addresses, and still the segment's: a write through the read-write one shows in
 * the read-only one and in a fresh shmat.
 *
 * "sysvipc CHECK host" runs in the host's namespace with private keys (nothing left behind if
 * killed): a dump of it must be refused. "sysvipc CHECK rmid" removes segment C (IPC_RMID)
 * while it stays attached, which a dump must refuse too. "sysvipc CHECK tree" forks a child
 * that inherits the attachments (a tree in one IPC namespace): at the check it verifies them
 * and that they still share the segment, and the parent passes only if the child did.
 */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "zoo.h"

#define PAGE 4096UL
#define A_SIZE (3 * PAGE + 100)
#define B_SIZE (2 * PAGE)
#define C_SIZE PAGE
#define NSEMS 5
#define NMSGS 5

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct obj {
	int id;
	key_t key;
	struct ipc_perm perm; /* as IPC_STAT said before the dump */
};

static struct obj shm_a, shm_b, shm_c, sem_s, msq_q;
static unsigned char *a_rw, *a_ro, *c_rw;
static const unsigned short sem_values[NSEMS] = { 0, 1, 7, 32767, 42 };
static const long msg_types[NMSGS] = { 1, 5, 2, 1, 9 };
static bool host_mode, rmid_mode, tree_mode;

static unsigned char pattern(int seg, size_t i)
{
	return (unsigned char)zoo_mix((uint64_t)seg << 32 | i);
}

static key_t key_of(int n)
{
	return host_mode ? IPC_PRIVATE : (key_t)(0x5a1c0000 + n);
}

/* Message n's text: a few words, an empty one, a kilobyte of pattern. */
static size_t msg_text(int n, char *buf)
{
	if (n == 4)
		return 0;
	if (n == 2) {
		for (size_t i = 0; i < 1000; i++)
			buf[i] = (char)pattern(9, i);
		return 1000;
	}
	return (size_t)sprintf(buf, "message %d of type %ld", n, msg_types[n]);
}

static bool shm_stat(struct obj *o, struct shmid_ds *ds)
{
	if (shmctl(o->id, IPC_STAT, ds) == 0)
		return true;
	zoo_fail("shm id %d: IPC_STAT: %s", o->id, strerror(errno));
	return false;
}

static void fill(unsigned char *p, int seg, size_t size)
{
	for (size_t i = 0; i < size; i++)
		p[i] = pattern(seg, i);
}

static void make_shms(void)
{
	struct shmid_ds ds;
	unsigned char *b;

	shm_a.key = key_of(1);
	shm_a.id = shmget(shm_a.key, A_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	a_rw = shmat(shm_a.id, NULL, 0);
	a_ro = shmat(shm_a.id, NULL, SHM_RDONLY);
	if (shm_a.id < 0 || a_rw == (void *)-1 || a_ro == (void *)-1)
		zoo_fail("segment A: %s", strerror(errno));
	else
		fill(a_rw, 1, A_SIZE);
	/* B: made by another user, as its creator. */
	shm_b.key = key_of(2);
	if (setegid(4321) < 0 || seteuid(1234) < 0)
		zoo_fail("seteuid: %s", strerror(errno));
	shm_b.id = shmget(shm_b.key, B_SIZE, IPC_CREAT | IPC_EXCL | 0600);
	if (seteuid(0) < 0 || setegid(0) < 0)
		zoo_fail("seteuid back: %s", strerror(errno));
	b = shm_b.id >= 0 ? shmat(shm_b.id, NULL, 0) : (void *)-1;
	if (b == (void *)-1) {
		zoo_fail("segment B: %s", strerror(errno));
	} else {
		fill(b, 2, B_SIZE);
		shmdt(b);
	}
	shm_c.key = IPC_PRIVATE;
	shm_c.id = shmget(IPC_PRIVATE, C_SIZE, IPC_CREAT | 0600);
	c_rw = shm_c.id >= 0 ? shmat(shm_c.id, NULL, 0) : (void *)-1;
	if (c_rw == (void *)-1)
		zoo_fail("segment C: %s", strerror(errno));
	else
		fill(c_rw, 3, C_SIZE);
	if (rmid_mode && shmctl(shm_c.id, IPC_RMID, NULL) < 0)
		zoo_fail("segment C: IPC_RMID: %s", strerror(errno));
	if (shm_stat(&shm_a, &ds))
		shm_a.perm = ds.shm_perm;
	if (shm_stat(&shm_b, &ds))
		shm_b.perm = ds.shm_perm;
	if (shm_stat(&shm_c, &ds))
		shm_c.perm = ds.shm_perm;
}

static void make_sem(void)
{
	union semun arg = { .array = (unsigned short *)sem_values };
	struct semid_ds ds;

	sem_s.key = key_of(3);
	sem_s.id = semget(sem_s.key, NSEMS, IPC_CREAT | IPC_EXCL | 0660);
	if (sem_s.id < 0 || semctl(sem_s.id, 0, SETALL, arg) < 0)
		zoo_fail("semaphores: %s", strerror(errno));
	arg.buf = &ds;
	if (semctl(sem_s.id, 0, IPC_STAT, arg) < 0)
		zoo_fail("semaphores: IPC_STAT: %s", strerror(errno));
	ds.sem_perm.uid = 1000;
	ds.sem_perm.gid = 1000;
	if (semctl(sem_s.id, 0, IPC_SET, arg) < 0 || semctl(sem_s.id, 0, IPC_STAT, arg) < 0)
		zoo_fail("semaphores: IPC_SET: %s", strerror(errno));
	sem_s.perm = ds.sem_perm;
}

static void make_msq(void)
{
	struct {
		long mtype;
		char text[1024];
	} m;
	struct msqid_ds ds;

	msq_q.key = key_of(4);
	msq_q.id = msgget(msq_q.key, IPC_CREAT | IPC_EXCL | 0620);
	if (msq_q.id < 0)
		zoo_fail("queue: %s", strerror(errno));
	for (int n = 0; msq_q.id >= 0 && n < NMSGS; n++) {
		m.mtype = msg_types[n];
		if (msgsnd(msq_q.id, &m, msg_text(n, m.text), IPC_NOWAIT) < 0)
			zoo_fail("queue: msgsnd %d: %s", n, strerror(errno));
	}
	if (msgctl(msq_q.id, IPC_STAT, &ds) < 0)
		zoo_fail("queue: IPC_STAT: %s", strerror(errno));
	msq_q.perm = ds.msg_perm;
}

static void check_perm(const char *what, const struct obj *o, const struct ipc_perm *now)
{
	if (now->__key != o->perm.__key || now->uid != o->perm.uid || now->gid != o->perm.gid ||
	    now->cuid != o->perm.cuid || now->cgid != o->perm.cgid ||
	    (now->mode & 0777) != (o->perm.mode & 0777))
		zoo_fail("%s id %d: key 0x%x uid %u gid %u cuid %u cgid %u mode 0%o, was key 0x%x "
			 "uid %u gid %u cuid %u cgid %u mode 0%o",
			 what, o->id, now->__key, now->uid, now->gid, now->cuid, now->cgid,
			 now->mode & 0777, o->perm.__key, o->perm.uid, o->perm.gid, o->perm.cuid,
			 o->perm.cgid, o->perm.mode & 0777);
}

/* Same id under the same key, same perm, same size, same contents (mark: bytes changed). */
static void check_shm(const char *what, struct obj *o, int seg, size_t size, size_t mark)
{
	struct shmid_ds ds;
	unsigned char *p;

	if (o->key != IPC_PRIVATE && shmget(o->key, 0, 0) != o->id)
		zoo_fail("%s: key 0x%x no longer names id %d", what, o->key, o->id);
	if (!shm_stat(o, &ds))
		return;
	check_perm(what, o, &ds.shm_perm);
	if (ds.shm_segsz != size)
		zoo_fail("%s: %zu bytes, was %zu", what, ds.shm_segsz, size);
	p = shmat(o->id, NULL, SHM_RDONLY);
	if (p == (void *)-1) {
		zoo_fail("%s: cannot attach it again: %s", what, strerror(errno));
		return;
	}
	for (size_t i = 0; i < size; i++)
		if (p[i] != (i == mark ? 0xa5 : pattern(seg, i))) {
			zoo_fail("%s: byte %zu is 0x%02x in a fresh attachment", what, i, p[i]);
			break;
		}
	shmdt(p);
}

/* The attachments are where they were and still the segments'. */
static void check_attachments(void)
{
	for (size_t i = 0; i < A_SIZE; i++)
		if (a_rw[i] != pattern(1, i) || a_ro[i] != pattern(1, i)) {
			zoo_fail("segment A: byte %zu reads 0x%02x / 0x%02x through its "
				 "attachments",
				 i, a_rw[i], a_ro[i]);
			return;
		}
	for (size_t i = 0; i < C_SIZE; i++)
		if (c_rw[i] != pattern(3, i)) {
			zoo_fail("segment C: byte %zu reads 0x%02x", i, c_rw[i]);
			return;
		}
	a_rw[PAGE + 7] = 0xa5;
	c_rw[5] = 0xa5;
	if (a_ro[PAGE + 7] != 0xa5)
		zoo_fail("segment A: a write through one attachment does not show in the other");
}

static void check_sem(void)
{
	unsigned short now[NSEMS];
	union semun arg = { .array = now };
	struct semid_ds ds;
	struct sembuf op = { .sem_num = 2, .sem_op = -7, .sem_flg = IPC_NOWAIT };

	if (sem_s.key != IPC_PRIVATE && semget(sem_s.key, 0, 0) != sem_s.id)
		zoo_fail("semaphores: key 0x%x no longer names id %d", sem_s.key, sem_s.id);
	if (semctl(sem_s.id, 0, GETALL, arg) < 0) {
		zoo_fail("semaphores: GETALL: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < NSEMS; i++)
		if (now[i] != sem_values[i])
			zoo_fail("semaphore %d is %u, was %u", i, now[i], sem_values[i]);
	arg.buf = &ds;
	if (semctl(sem_s.id, 0, IPC_STAT, arg) < 0 || ds.sem_nsems != NSEMS)
		zoo_fail("semaphores: IPC_STAT: %s, %lu semaphores", strerror(errno), ds.sem_nsems);
	else
		check_perm("semaphores", &sem_s, &ds.sem_perm);
	if (semop(sem_s.id, &op, 1) < 0 || semctl(sem_s.id, 2, GETVAL) != 0)
		zoo_fail("semaphores: semop: %s", strerror(errno));
}

static void check_msq(void)
{
	struct {
		long mtype;
		char text[1024];
	} m;
	char want[1024];
	struct msqid_ds ds;

	if (msq_q.key != IPC_PRIVATE && msgget(msq_q.key, 0) != msq_q.id)
		zoo_fail("queue: key 0x%x no longer names id %d", msq_q.key, msq_q.id);
	if (msgctl(msq_q.id, IPC_STAT, &ds) < 0 || ds.msg_qnum != NMSGS) {
		zoo_fail("queue: IPC_STAT: %s, %lu messages", strerror(errno), ds.msg_qnum);
		return;
	}
	check_perm("queue", &msq_q, &ds.msg_perm);
	for (int n = 0; n < NMSGS; n++) {
		ssize_t len = msgrcv(msq_q.id, &m, sizeof(m.text), 0, IPC_NOWAIT);
		size_t wlen = msg_text(n, want);

		if (len < 0 || m.mtype != msg_types[n] || (size_t)len != wlen ||
		    memcmp(m.text, want, wlen) != 0) {
			zoo_fail("queue: message %d is type %ld, %zd bytes (%s), expected type "
				 "%ld, %zu bytes",
				 n, m.mtype, len, len < 0 ? strerror(errno) : "", msg_types[n],
				 wlen);
			return;
		}
	}
}

static void cleanup(void)
{
	shmctl(shm_a.id, IPC_RMID, NULL);
	shmctl(shm_b.id, IPC_RMID, NULL);
	shmctl(shm_c.id, IPC_RMID, NULL);
	semctl(sem_s.id, 0, IPC_RMID);
	msgctl(msq_q.id, IPC_RMID, NULL);
}

/* The child of tree mode: its inherited attachments hold the segments' contents and a write
 * through one shows in a fresh attachment. Exit status 0 when so. */
static int child_main(void)
{
	unsigned char *fresh;
	int bad = 0;

	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	for (size_t i = 0; i < A_SIZE && !bad; i++)
		bad = a_rw[i] != pattern(1, i) || a_ro[i] != pattern(1, i);
	for (size_t i = 0; i < C_SIZE && !bad; i++)
		bad = c_rw[i] != pattern(3, i);
	fresh = shmat(shm_c.id, NULL, SHM_RDONLY);
	if (bad || fresh == (void *)-1)
		return 1;
	c_rw[9] = 0x5a;
	bad = fresh[9] != 0x5a;
	c_rw[9] = pattern(3, 9);
	return bad ? 2 : 0;
}

static pid_t start_child(void)
{
	pid_t child = fork();

	if (child == 0)
		_exit(child_main());
	if (child < 0)
		zoo_fail("fork: %s", strerror(errno));
	return child;
}

static void check_child(pid_t child)
{
	int status;

	if (waitpid(child, &status, 0) != child)
		zoo_fail("child %d: waitpid: %s", child, strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		zoo_fail("child %d: its attachments are wrong (status 0x%x)", child, status);
}

int main(int argc, char **argv)
{
	pid_t child = -1;

	zoo_init(argc, argv, "sysvipc");
	host_mode = argc > 2 && strcmp(argv[2], "host") == 0;
	rmid_mode = argc > 2 && strcmp(argv[2], "rmid") == 0;
	tree_mode = argc > 2 && strcmp(argv[2], "tree") == 0;
	make_shms();
	make_sem();
	make_msq();
	if (tree_mode)
		child = start_child();
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	if (child > 0)
		check_child(child);
	if (!zoo_failed())
		check_attachments();
	if (!zoo_failed()) {
		check_shm("segment A", &shm_a, 1, A_SIZE, PAGE + 7);
		check_shm("segment B", &shm_b, 2, B_SIZE, (size_t)-1);
		check_shm("segment C", &shm_c, 3, C_SIZE, 5);
		check_sem();
		check_msq();
	}
	cleanup();
	return zoo_finish();
}
