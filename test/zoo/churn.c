/*
 * churn: the memory layout changes all the time. 32 slots, each empty or an
 * anonymous mapping of 1-16 pages that is read-write, read-only or PROT_NONE;
 * random operations mmap, munmap (whole or its last page), mprotect and
 * rewrite them, and every area is checked against its pattern whenever it is
 * readable. A dump freezes the layout at an arbitrary step.
 */
#include <sys/mman.h>

#include "zoo.h"

#define SLOTS 32
#define PAGE 4096

enum slot_state {
	SLOT_EMPTY,
	SLOT_RW,
	SLOT_RO,
	SLOT_NONE
};

struct slot {
	uint64_t *addr;
	size_t pages;
	uint64_t seed;
	enum slot_state state;
};

static struct slot slots[SLOTS];
static uint64_t rng = 0x1234567;
static unsigned long ops;

static uint64_t rnd(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return rng >> 33;
}

/* One word per 512 bytes is enough to tell pages apart. */
static void slot_fill(struct slot *s, uint64_t seed)
{
	size_t i;

	s->seed = seed;
	for (i = 0; i < s->pages * PAGE / 8; i += 64)
		s->addr[i] = zoo_mix(seed + i);
}

static void slot_verify(int n)
{
	struct slot *s = &slots[n];
	size_t i;

	if (s->state != SLOT_RW && s->state != SLOT_RO)
		return;
	for (i = 0; i < s->pages * PAGE / 8; i += 64)
		if (s->addr[i] != zoo_mix(s->seed + i)) {
			zoo_fail("slot %d (%p, %zu pages) word %zu changed after %lu ops", n,
				 (void *)s->addr, s->pages, i, ops);
			return;
		}
}

static int slot_protect(struct slot *s, enum slot_state state)
{
	int prot = state == SLOT_RW ? PROT_READ | PROT_WRITE : state == SLOT_RO ? PROT_READ : 0;

	if (mprotect(s->addr, s->pages * PAGE, prot))
		return -1;
	s->state = state;
	return 0;
}

static int slot_step(int n)
{
	struct slot *s = &slots[n];
	uint64_t r = rnd();

	slot_verify(n);
	switch (s->state) {
	case SLOT_EMPTY:
		s->pages = 1 + r % 16;
		s->addr = mmap(NULL, s->pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->addr == MAP_FAILED)
			return -1;
		s->state = SLOT_RW;
		slot_fill(s, rnd());
		return 0;
	case SLOT_RW:
		if (r % 4 == 0)
			return slot_protect(s, SLOT_RO);
		if (r % 4 == 1) {
			slot_fill(s, rnd());
			return 0;
		}
		if (r % 4 == 2 && s->pages > 1) {
			s->pages--;
			return munmap((char *)s->addr + s->pages * PAGE, PAGE);
		}
		s->state = SLOT_EMPTY;
		return munmap(s->addr, s->pages * PAGE);
	case SLOT_RO:
		return slot_protect(s, r % 2 ? SLOT_NONE : SLOT_RW);
	case SLOT_NONE:
		return slot_protect(s, SLOT_RO);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	zoo_init(argc, argv, "churn");
	for (i = 0; i < SLOTS * 4; i++)
		if (slot_step(i % SLOTS))
			return 1;
	zoo_ready();
	while (!zoo_check_requested()) {
		for (i = 0; i < 50; i++, ops++)
			if (slot_step((int)(rnd() % SLOTS)))
				zoo_fail("op %lu: %s", ops, strerror(errno));
		zoo_sleep_ms(1);
	}
	for (i = 0; i < SLOTS; i++)
		slot_verify(i);
	return zoo_finish();
}
