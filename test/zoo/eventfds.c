/*
 * eventfds: eventfds, a signalfd, timerfds, inotify and epoll kept across a checkpoint.
 *
 *	sem      eventfd, EFD_SEMAPHORE|EFD_NONBLOCK, counter 42
 *	big      eventfd, blocking, FD_CLOEXEC, counter above 32 bits
 *	sigfd    signalfd for SIGUSR1 (SIGUSR1 and SIGUSR2 blocked), nonblocking
 *	slow     timerfd, CLOCK_MONOTONIC, one shot in an hour
 *	tick     timerfd, CLOCK_MONOTONIC, every TICK_MS
 *	ino      inotify, nonblocking, watch 1 on the check file's directory (IN_CREATE)
 *	ep       epoll watching sem (EPOLLIN, data SEM_DATA) and sigfd (EPOLLIN|EPOLLET, SIG_DATA)
 *
 * After restore: a file created in the directory is reported by ino on watch 1; ep reports
 * sem ready alone, then sigfd too once a SIGUSR1 is sent; sem reads 1 forty-two times then
 * EAGAIN; big reads its value; a SIGUSR1 sent now is read from sigfd and a SIGUSR2 is not;
 * slow has at most an hour left and no less than an hour minus the wall-clock time since it
 * was armed (time frozen does not count, so it may have more); tick fires again about TICK_MS
 * after a read.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "zoo.h"

#define SEM_COUNT 42
#define BIG_COUNT 0x123456789abULL
#define SLOW_S 3600
#define TICK_MS 50
#define SEM_DATA 0x5e5e00000001ULL
#define SIG_DATA 0x5151000000002ULL

static int sem_fd, big_fd, sig_fd, slow_fd, tick_fd, ep_fd, ino_fd;
static char dir[4096];
static uint64_t armed_ms;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int setup(void)
{
	struct itimerspec slow = { .it_value = { .tv_sec = SLOW_S } };
	struct itimerspec tick = { .it_value = { .tv_nsec = TICK_MS * 1000000L },
				   .it_interval = { .tv_nsec = TICK_MS * 1000000L } };
	uint64_t more = SEM_COUNT - 7, big = BIG_COUNT;
	sigset_t mask;

	sem_fd = eventfd(7, EFD_SEMAPHORE | EFD_NONBLOCK);
	big_fd = eventfd(0, EFD_CLOEXEC);
	if (sem_fd < 0 || big_fd < 0 || write(sem_fd, &more, 8) != 8 || write(big_fd, &big, 8) != 8)
		return -1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	sigdelset(&mask, SIGUSR2);
	sig_fd = signalfd(-1, &mask, SFD_NONBLOCK);
	slow_fd = timerfd_create(CLOCK_MONOTONIC, 0);
	tick_fd = timerfd_create(CLOCK_MONOTONIC, 0);
	ino_fd = inotify_init1(IN_NONBLOCK);
	if (ino_fd < 0 || inotify_add_watch(ino_fd, dir, IN_CREATE) != 1)
		return -1;
	ep_fd = epoll_create1(0);
	if (sig_fd < 0 || slow_fd < 0 || tick_fd < 0 || ep_fd < 0)
		return -1;
	if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, sem_fd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.u64 = SEM_DATA }) < 0 ||
	    epoll_ctl(ep_fd, EPOLL_CTL_ADD, sig_fd,
		      &(struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = SIG_DATA }) <
		    0)
		return -1;
	armed_ms = wall_ms();
	if (timerfd_settime(slow_fd, 0, &slow, NULL) < 0 ||
	    timerfd_settime(tick_fd, 0, &tick, NULL) < 0)
		return -1;
	return 0;
}

static void check_eventfds(void)
{
	uint64_t v;
	int i;

	if (!(fcntl(sem_fd, F_GETFL) & O_NONBLOCK))
		zoo_fail("sem eventfd lost O_NONBLOCK");
	if (!(fcntl(big_fd, F_GETFD) & FD_CLOEXEC) || (fcntl(sem_fd, F_GETFD) & FD_CLOEXEC))
		zoo_fail("eventfd FD_CLOEXEC flags changed");
	for (i = 0; i < SEM_COUNT; i++)
		if (read(sem_fd, &v, 8) != 8 || v != 1) {
			zoo_fail("sem eventfd read %d failed (%s) or gave %llu", i, strerror(errno),
				 (unsigned long long)v);
			return;
		}
	if (read(sem_fd, &v, 8) >= 0 || errno != EAGAIN)
		zoo_fail("sem eventfd counted more than %d", SEM_COUNT);
	if (read(big_fd, &v, 8) != 8 || v != BIG_COUNT)
		zoo_fail("big eventfd read %llx, not %llx", (unsigned long long)v, BIG_COUNT);
}

/* What ep reports now: a bit per watched fd (1 sem, 2 sigfd), -1 on anything else. */
static int epoll_ready(void)
{
	struct epoll_event ev[4];
	int n = epoll_wait(ep_fd, ev, 4, 100), got = 0;

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == SEM_DATA && ev[i].events == EPOLLIN)
			got |= 1;
		else if (ev[i].data.u64 == SIG_DATA && ev[i].events == EPOLLIN)
			got |= 2;
		else
			return -1;
	}
	return n < 0 ? -1 : got;
}

static void check_epoll(void)
{
	int got = epoll_ready();

	if (got != 1) {
		zoo_fail("epoll reported %d before the signal, expected sem alone (1)", got);
		return;
	}
	if (kill(getpid(), SIGUSR1) < 0)
		zoo_fail("kill: %s", strerror(errno));
	got = epoll_ready();
	if (got != 3)
		zoo_fail("epoll reported %d after SIGUSR1, expected sem and sigfd (3)", got);
	/* Edge-triggered: sigfd is not reported again until a new signal. */
	else if ((got = epoll_ready()) != 1)
		zoo_fail("epoll reported %d again, expected sem alone (EPOLLET on sigfd)", got);
}

/* Whether ino reported name created under watch 1, waiting a little for it. */
static bool inotify_saw(const char *name)
{
	char buf[4096] __attribute__((aligned(8)));
	const struct inotify_event *ev;

	for (int tries = 0; tries < 100; tries++, zoo_sleep_ms(10)) {
		ssize_t n = read(ino_fd, buf, sizeof(buf));

		for (ssize_t off = 0; n > 0 && off < n; off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->wd == 1 && (ev->mask & IN_CREATE) && ev->len &&
			    strcmp(ev->name, name) == 0)
				return true;
		}
	}
	return false;
}

static void check_inotify(void)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/eventfds.created", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		zoo_fail("create %s: %s", path, strerror(errno));
		return;
	}
	close(fd);
	if (!inotify_saw("eventfds.created"))
		zoo_fail("inotify did not report %s", path);
	unlink(path);
}

static void check_signalfd(void)
{
	struct signalfd_siginfo si;

	if (kill(getpid(), SIGUSR2) < 0 || kill(getpid(), SIGUSR1) < 0) {
		zoo_fail("kill: %s", strerror(errno));
		return;
	}
	if (read(sig_fd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
		zoo_fail("signalfd did not read SIGUSR1 (%s)", strerror(errno));
	else if (read(sig_fd, &si, sizeof(si)) >= 0 || errno != EAGAIN)
		zoo_fail("signalfd read a signal outside its mask");
}

static void check_timerfds(void)
{
	uint64_t ticks, t0, dt, left_ms, since_ms = wall_ms() - armed_ms;
	struct itimerspec its;

	if (timerfd_gettime(slow_fd, &its) < 0) {
		zoo_fail("timerfd_gettime: %s", strerror(errno));
		return;
	}
	left_ms = (uint64_t)its.it_value.tv_sec * 1000 + (uint64_t)its.it_value.tv_nsec / 1000000;
	if (left_ms > SLOW_S * 1000ULL || left_ms + since_ms + 1000 < SLOW_S * 1000ULL ||
	    its.it_interval.tv_sec || its.it_interval.tv_nsec)
		zoo_fail("slow timerfd has %llu ms left after %llu ms", (unsigned long long)left_ms,
			 (unsigned long long)since_ms);
	/* Whatever is pending first, then one period on the clock. */
	if (read(tick_fd, &ticks, 8) != 8 || !ticks) {
		zoo_fail("tick timerfd did not fire: %s", strerror(errno));
		return;
	}
	t0 = wall_ms();
	if (read(tick_fd, &ticks, 8) != 8 || !ticks) {
		zoo_fail("tick timerfd did not fire again: %s", strerror(errno));
		return;
	}
	dt = wall_ms() - t0;
	if (dt > 10 * TICK_MS)
		zoo_fail("tick timerfd fired after %llu ms, not about %d", (unsigned long long)dt,
			 TICK_MS);
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "eventfds");
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		strcpy(dir, ".");
	if (setup() < 0) {
		zoo_fail("setup: %s", strerror(errno));
		return zoo_finish();
	}
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	check_epoll();
	check_eventfds();
	check_signalfd();
	check_timerfds();
	check_inotify();
	return zoo_finish();
}
