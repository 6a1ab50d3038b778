/*
 * threads: 8 threads, each checksumming its own data over and over and
 * comparing with the value computed at start. Each records its TID at start
 * and compares with gettid() on every round (TIDs must survive a restore).
 * The main thread checks that every thread is alive and progressing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "zoo.h"

#define NR_THREADS 8
#define DATA_WORDS (16384) /* 128 KiB each */

struct worker {
	pthread_t thread;
	int index;
	pid_t tid;
	uint64_t *data;
	uint64_t expected_sum;
	atomic_ulong rounds;
	char failure[160];
};

static struct worker workers[NR_THREADS];
static atomic_int workers_ready;

static uint64_t data_sum(const uint64_t *data)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < DATA_WORDS; i++)
		sum = sum * 31 + data[i];
	return sum;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	w->tid = (pid_t)syscall(SYS_gettid);
	for (i = 0; i < DATA_WORDS; i++)
		w->data[i] = zoo_mix(((uint64_t)w->index << 40) + i);
	w->expected_sum = data_sum(w->data);
	atomic_fetch_add(&workers_ready, 1);
	for (;;) {
		uint64_t sum = data_sum(w->data);
		pid_t tid = (pid_t)syscall(SYS_gettid);

		if (sum != w->expected_sum && !w->failure[0])
			snprintf(w->failure, sizeof(w->failure), "thread %d checksum %#lx != %#lx",
				 w->index, (unsigned long)sum, (unsigned long)w->expected_sum);
		if (tid != w->tid && !w->failure[0])
			snprintf(w->failure, sizeof(w->failure), "thread %d tid %d, was %d",
				 w->index, (int)tid, (int)w->tid);
		atomic_fetch_add(&w->rounds, 1);
		zoo_sleep_ms(1);
	}
	return NULL;
}

static void check_progress(void)
{
	unsigned long before[NR_THREADS];
	int i;

	for (i = 0; i < NR_THREADS; i++)
		before[i] = atomic_load(&workers[i].rounds);
	zoo_sleep_ms(200);
	for (i = 0; i < NR_THREADS; i++) {
		char path[64];

		if (atomic_load(&workers[i].rounds) == before[i])
			zoo_fail("thread %d (tid %d) made no progress in 200 ms", i,
				 (int)workers[i].tid);
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)workers[i].tid);
		if (access(path, F_OK))
			zoo_fail("thread %d: tid %d is not one of our threads", i,
				 (int)workers[i].tid);
		if (workers[i].failure[0])
			zoo_fail("%s", workers[i].failure);
	}
}

int main(int argc, char **argv)
{
	int i;

	zoo_init(argc, argv, "threads");
	for (i = 0; i < NR_THREADS; i++) {
		workers[i].index = i;
		workers[i].data = malloc(DATA_WORDS * sizeof(uint64_t));
		if (!workers[i].data ||
		    pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			return 1;
	}
	while (atomic_load(&workers_ready) < NR_THREADS)
		zoo_sleep_ms(1);
	zoo_ready();
	while (!zoo_check_requested()) {
		for (i = 0; i < NR_THREADS; i++)
			if (workers[i].failure[0])
				zoo_fail("%s", workers[i].failure);
		zoo_sleep_ms(10);
	}
	check_progress();
	return zoo_finish();
}
