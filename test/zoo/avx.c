/*
 * avx: distinctive values held in ymm8-ymm15 (all 256 bits) across a busy
 * loop inside one asm statement, so that a dump almost always stops the
 * process with them live in registers; checked after every loop. The values
 * change each round so that stale registers from an earlier round show.
 */
#include "zoo.h"

#define NR_YMM 8
#define SPIN 2000000UL

__attribute__((target("avx2"))) static void ymm_hold(const uint64_t *in, uint64_t *out,
						     unsigned long spin)
{
	asm volatile("vmovdqu 0(%[in]), %%ymm8\n\t"
		     "vmovdqu 32(%[in]), %%ymm9\n\t"
		     "vmovdqu 64(%[in]), %%ymm10\n\t"
		     "vmovdqu 96(%[in]), %%ymm11\n\t"
		     "vmovdqu 128(%[in]), %%ymm12\n\t"
		     "vmovdqu 160(%[in]), %%ymm13\n\t"
		     "vmovdqu 192(%[in]), %%ymm14\n\t"
		     "vmovdqu 224(%[in]), %%ymm15\n\t"
		     "1: dec %[spin]\n\t"
		     "jnz 1b\n\t"
		     "vmovdqu %%ymm8, 0(%[out])\n\t"
		     "vmovdqu %%ymm9, 32(%[out])\n\t"
		     "vmovdqu %%ymm10, 64(%[out])\n\t"
		     "vmovdqu %%ymm11, 96(%[out])\n\t"
		     "vmovdqu %%ymm12, 128(%[out])\n\t"
		     "vmovdqu %%ymm13, 160(%[out])\n\t"
		     "vmovdqu %%ymm14, 192(%[out])\n\t"
		     "vmovdqu %%ymm15, 224(%[out])\n\t"
		     "vzeroupper\n\t"
		     : [spin] "+r"(spin)
		     : [in] "r"(in), [out] "r"(out)
		     : "memory", "cc", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		       "xmm15");
}

int main(int argc, char **argv)
{
	uint64_t in[NR_YMM * 4], out[NR_YMM * 4];
	unsigned long round = 0, rounds_checked = 0;
	int i;

	zoo_init(argc, argv, "avx");
	if (!__builtin_cpu_supports("avx2")) {
		printf("FAIL avx: this CPU has no AVX2\n");
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		round++;
		for (i = 0; i < NR_YMM * 4; i++)
			in[i] = zoo_mix(round * 64 + i) | 1; /* never zero: a lost state reads 0 */
		memset(out, 0, sizeof(out));
		ymm_hold(in, out, SPIN);
		for (i = 0; i < NR_YMM * 4; i++)
			if (out[i] != in[i])
				zoo_fail("round %lu: ymm%d lane %d is %#lx, expected %#lx", round,
					 8 + i / 4, i % 4, (unsigned long)out[i],
					 (unsigned long)in[i]);
		rounds_checked++;
	}
	if (rounds_checked == 0)
		zoo_fail("no round completed");
	return zoo_finish();
}
