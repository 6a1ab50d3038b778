/*
 * refuse: a process holding, at fd 9, one fd of a kind that migrate refuses by name, to check
 * that a dump or a migration is refused before the process is touched and that it runs on
 * unchanged. argv[2] chooses the kind:
 *
 *	io_uring      a ring (raw io_uring_setup, rings mapped) that ran one NOP: after the
 *	              check a second NOP must complete through the same ring
 *	bpf           an array map holding one value: after the check the value is still there
 *	userfaultfd   a userfaultfd with a page registered (missing mode): after the check the
 *	              registration must still be there to be removed
 *	perf_event    a software task-clock counter of the process: after the check it counts on
 *	fanotify      a fanotify group
 *	pidfd         a pidfd of the process itself: after the check it still signals it
 *	device PATH   PATH opened read-only (a device file other than null, zero, ...)
 *
 * Every kind: fd 9 must be the very same file after the check (same link, device and
 * inode), and a counter run by the main loop must have gone on. A kind the kernel does not
 * offer here prints "SKIP refuse: KIND: why" and exits 77 instead of READY.
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "zoo.h"

#define HELD_FD 9
#define BPF_VALUE 0x5eed5eedULL
#define NOP_DATA 0xfeedULL

static const char *kind;
static struct stat held_st;
static char held_link[256];
static uint64_t loops;

/* io_uring: the rings as mapped, and the positions of the NOPs. */
static struct {
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
} ring;
static void *uffd_page;
static uint64_t perf_first;

static int hold(int fd)
{
	if (fd < 0)
		return -1;
	if (fd != HELD_FD && (dup2(fd, HELD_FD) < 0 || close(fd)))
		return -1;
	return 0;
}

static void *ring_map(size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, HELD_FD, off);

	return p == MAP_FAILED ? NULL : p;
}

static int uring_setup(void)
{
	struct io_uring_params p = { 0 };
	char *sq, *cq;

	if (hold((int)syscall(__NR_io_uring_setup, 4, &p)))
		return -1;
	sq = ring_map(p.sq_off.array + p.sq_entries * sizeof(unsigned int), IORING_OFF_SQ_RING);
	cq = ring_map(p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		      IORING_OFF_CQ_RING);
	ring.sqes = ring_map(p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	if (!sq || !cq || !ring.sqes)
		return -1;
	ring.sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	ring.sq_array = (unsigned int *)(sq + p.sq_off.array);
	ring.cq_head = (unsigned int *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	ring.cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* One NOP through the ring: 0 when its completion came back with our data. */
static int uring_nop(void)
{
	unsigned int tail = *ring.sq_tail, idx = tail & *ring.sq_mask, head;
	struct io_uring_sqe *sqe = &ring.sqes[idx];
	struct io_uring_cqe *cqe;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_NOP;
	sqe->user_data = NOP_DATA + tail;
	ring.sq_array[idx] = idx;
	__atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, HELD_FD, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) != 1)
		return -1;
	head = *ring.cq_head;
	if (head == __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE))
		return -1;
	cqe = &ring.cqes[head & *ring.cq_mask];
	__atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
	return cqe->user_data == NOP_DATA + tail && cqe->res == 0 ? 0 : -1;
}

static int bpf_call(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int bpf_elem(int cmd, uint64_t *value)
{
	uint32_t key = 0;
	union bpf_attr a = { 0 };

	a.map_fd = HELD_FD;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)value;
	return bpf_call(cmd, &a);
}

static int bpf_setup(void)
{
	union bpf_attr a = { 0 };
	uint64_t v = BPF_VALUE;

	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = sizeof(uint32_t);
	a.value_size = sizeof(uint64_t);
	a.max_entries = 1;
	if (hold(bpf_call(BPF_MAP_CREATE, &a)))
		return -1;
	return bpf_elem(BPF_MAP_UPDATE_ELEM, &v);
}

static int uffd_range(unsigned long ioc)
{
	struct uffdio_register reg = { .range = { (uintptr_t)uffd_page, 4096 },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (ioc == UFFDIO_UNREGISTER)
		return ioctl(HELD_FD, UFFDIO_UNREGISTER, &reg.range);
	return ioctl(HELD_FD, UFFDIO_REGISTER, &reg);
}

static int uffd_setup(void)
{
	struct uffdio_api api = { .api = UFFD_API };

	if (hold((int)syscall(__NR_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */)) ||
	    ioctl(HELD_FD, UFFDIO_API, &api))
		return -1;
	uffd_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return uffd_page == MAP_FAILED ? -1 : uffd_range(UFFDIO_REGISTER);
}

static uint64_t perf_read(void)
{
	uint64_t v = 0;

	return read(HELD_FD, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static int perf_setup(void)
{
	struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE,
				     .size = sizeof(a),
				     .config = PERF_COUNT_SW_TASK_CLOCK };

	if (hold((int)syscall(__NR_perf_event_open, &a, 0, -1, -1, 0)))
		return -1;
	perf_first = perf_read();
	return 0;
}

static int setup(int argc, char **argv)
{
	if (!strcmp(kind, "io_uring"))
		return uring_setup() || uring_nop();
	if (!strcmp(kind, "bpf"))
		return bpf_setup();
	if (!strcmp(kind, "userfaultfd"))
		return uffd_setup();
	if (!strcmp(kind, "perf_event"))
		return perf_setup();
	if (!strcmp(kind, "fanotify"))
		return hold(fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY));
	if (!strcmp(kind, "pidfd"))
		return hold((int)syscall(SYS_pidfd_open, getpid(), 0));
	if (!strcmp(kind, "device") && argc > 3)
		return hold(open(argv[3], O_RDONLY | O_NONBLOCK | O_CLOEXEC));
	errno = EINVAL;
	return -1;
}

static int remember(void)
{
	ssize_t n = readlink("/proc/self/fd/9", held_link, sizeof(held_link) - 1);

	if (n < 0 || fstat(HELD_FD, &held_st))
		return -1;
	held_link[n] = '\0';
	return 0;
}

static void verify_same_fd(void)
{
	char link[sizeof(held_link)] = "";
	struct stat st;
	ssize_t n = readlink("/proc/self/fd/9", link, sizeof(link) - 1);

	if (n >= 0)
		link[n] = '\0';
	if (n < 0 || fstat(HELD_FD, &st))
		zoo_fail("fd 9 is gone: %s", strerror(errno));
	else if (strcmp(link, held_link) || st.st_dev != held_st.st_dev ||
		 st.st_ino != held_st.st_ino || st.st_rdev != held_st.st_rdev)
		zoo_fail("fd 9 is now %s, was %s", link, held_link);
}

/* What each kind can still do after the check. */
static void verify_kind(void)
{
	uint64_t v = 0;

	if (!strcmp(kind, "io_uring") && uring_nop())
		zoo_fail("io_uring: a NOP did not complete through the ring");
	if (!strcmp(kind, "bpf") && (bpf_elem(BPF_MAP_LOOKUP_ELEM, &v) || v != BPF_VALUE))
		zoo_fail("bpf map: value %#llx, expected %#llx", (unsigned long long)v, BPF_VALUE);
	if (!strcmp(kind, "userfaultfd") && uffd_range(UFFDIO_UNREGISTER))
		zoo_fail("userfaultfd: the registered page is no longer registered: %s",
			 strerror(errno));
	if (!strcmp(kind, "perf_event") && perf_read() <= perf_first)
		zoo_fail("perf_event: the task clock stopped counting");
	if (!strcmp(kind, "pidfd") && syscall(SYS_pidfd_send_signal, HELD_FD, 0, NULL, 0))
		zoo_fail("pidfd: cannot signal ourselves through it: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	uint64_t before;

	zoo_init(argc, argv, "refuse");
	kind = argc > 2 ? argv[2] : "";
	if (setup(argc, argv) || remember()) {
		printf("SKIP refuse: %s: %s\n", kind, strerror(errno));
		return 77;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		loops++;
		zoo_sleep_ms(10);
	}
	before = loops;
	verify_same_fd();
	verify_kind();
	if (before < 10)
		zoo_fail("the main loop ran %llu times only", (unsigned long long)before);
	return zoo_finish();
}
