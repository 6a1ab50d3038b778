/*
 * heap: malloc'd structures. A linked list of small nodes (brk heap) and a
 * few large blocks (mmap'd by malloc), with checksums kept apart from them.
 * The list is churned (nodes freed and allocated) all the time, so a dump
 * catches malloc's own bookkeeping in the middle of its work.
 */
#include <stdlib.h>

#include "zoo.h"

#define NODES 20000
#define BIG_BLOCKS 4
#define BIG_SIZE (1U << 20)

struct node {
	struct node *next;
	uint64_t value;
	char pad[40];
};

static struct node *list;
static uint64_t list_sum; /* sum of zoo_mix(value) over the list */
static unsigned long list_len;

static uint64_t *big[BIG_BLOCKS];
static uint64_t big_seed[BIG_BLOCKS];

static int list_push(uint64_t value)
{
	struct node *n = malloc(sizeof(*n));

	if (!n)
		return -1;
	n->value = value;
	memset(n->pad, (int)(value & 0xff), sizeof(n->pad));
	n->next = list;
	list = n;
	list_sum += zoo_mix(value);
	list_len++;
	return 0;
}

static void list_pop(void)
{
	struct node *n = list;

	list = n->next;
	list_sum -= zoo_mix(n->value);
	list_len--;
	free(n);
}

static void list_verify(void)
{
	uint64_t sum = 0;
	unsigned long len = 0;
	struct node *n;

	for (n = list; n; n = n->next) {
		if ((unsigned char)n->pad[39] != (n->value & 0xff))
			zoo_fail("node %p padding corrupted", (void *)n);
		sum += zoo_mix(n->value);
		len++;
	}
	if (sum != list_sum || len != list_len)
		zoo_fail("list: %lu nodes sum %#lx, expected %lu nodes sum %#lx", len,
			 (unsigned long)sum, list_len, (unsigned long)list_sum);
}

static void big_fill(int i, uint64_t seed)
{
	size_t k;

	big_seed[i] = seed;
	for (k = 0; k < BIG_SIZE / 8; k += 512)
		big[i][k] = zoo_mix(seed + k);
}

static void big_verify(int i)
{
	size_t k;

	for (k = 0; k < BIG_SIZE / 8; k += 512)
		if (big[i][k] != zoo_mix(big_seed[i] + k)) {
			zoo_fail("big block %d word %zu changed", i, k);
			return;
		}
}

int main(int argc, char **argv)
{
	uint64_t next = 1;
	int i, round = 0;

	zoo_init(argc, argv, "heap");
	for (i = 0; i < NODES; i++)
		if (list_push(next++))
			return 1;
	for (i = 0; i < BIG_BLOCKS; i++) {
		big[i] = malloc(BIG_SIZE);
		if (!big[i])
			return 1;
		big_fill(i, (uint64_t)i << 32);
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		/* Replace a few hundred nodes, and one big block now and then. */
		for (i = 0; i < 300; i++)
			list_pop();
		for (i = 0; i < 300; i++)
			if (list_push(next++))
				zoo_fail("malloc failed");
		if (++round % 10 == 0) {
			i = round / 10 % BIG_BLOCKS;
			big_verify(i);
			free(big[i]);
			big[i] = malloc(BIG_SIZE);
			if (!big[i])
				return 1;
			big_fill(i, next);
		}
		list_verify();
		zoo_sleep_ms(10);
	}
	list_verify();
	for (i = 0; i < BIG_BLOCKS; i++)
		big_verify(i);
	return zoo_finish();
}
