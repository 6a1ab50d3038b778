/*
 * fpu: x87 and SSE state. Four 80-bit values stay on the x87 register stack
 * and four values in xmm4-xmm7 across a busy loop inside one asm statement;
 * the x87 control word (precision, rounding) and MXCSR (rounding toward zero,
 * flush to zero) are set to unusual values and must still hold afterwards.
 */
#include "zoo.h"

#define SPIN 2000000UL
#define FPU_CW 0x0e7f	   /* all exceptions masked, 64-bit precision, round toward +inf */
#define MXCSR_VALUE 0xff80 /* all masked, round toward zero, FTZ */

static void regs_hold(const long double *x87_in, long double *x87_out, const uint64_t *sse_in,
		      uint64_t *sse_out, unsigned long spin)
{
	asm volatile("fldt 0(%[xi])\n\t"
		     "fldt 16(%[xi])\n\t"
		     "fldt 32(%[xi])\n\t"
		     "fldt 48(%[xi])\n\t"
		     "movdqu 0(%[si]), %%xmm4\n\t"
		     "movdqu 16(%[si]), %%xmm5\n\t"
		     "movdqu 32(%[si]), %%xmm6\n\t"
		     "movdqu 48(%[si]), %%xmm7\n\t"
		     "1: dec %[spin]\n\t"
		     "jnz 1b\n\t"
		     "fstpt 48(%[xo])\n\t"
		     "fstpt 32(%[xo])\n\t"
		     "fstpt 16(%[xo])\n\t"
		     "fstpt 0(%[xo])\n\t"
		     "movdqu %%xmm4, 0(%[so])\n\t"
		     "movdqu %%xmm5, 16(%[so])\n\t"
		     "movdqu %%xmm6, 32(%[so])\n\t"
		     "movdqu %%xmm7, 48(%[so])\n\t"
		     : [spin] "+r"(spin)
		     : [xi] "r"(x87_in), [xo] "r"(x87_out), [si] "r"(sse_in), [so] "r"(sse_out)
		     : "memory", "cc", "xmm4", "xmm5", "xmm6", "xmm7", "st", "st(1)", "st(2)",
		       "st(3)");
}

static void control_check(unsigned long round)
{
	unsigned short cw;
	unsigned int csr;

	asm volatile("fnstcw %0" : "=m"(cw));
	asm volatile("stmxcsr %0" : "=m"(csr));
	if (cw != FPU_CW)
		zoo_fail("round %lu: x87 control word %#x, expected %#x", round, cw, FPU_CW);
	/* the exception flags (low 6 bits) may be raised by the loop's own work */
	if ((csr & ~0x3fU) != MXCSR_VALUE)
		zoo_fail("round %lu: MXCSR %#x, expected %#x", round, csr, MXCSR_VALUE);
}

int main(int argc, char **argv)
{
	long double x87_in[4], x87_out[4];
	uint64_t sse_in[8], sse_out[8];
	unsigned short cw = FPU_CW;
	unsigned int csr = MXCSR_VALUE;
	unsigned long round = 0;
	int i;

	zoo_init(argc, argv, "fpu");
	asm volatile("fldcw %0" : : "m"(cw));
	asm volatile("ldmxcsr %0" : : "m"(csr));
	zoo_ready();
	while (!zoo_check_requested()) {
		round++;
		for (i = 0; i < 4; i++)
			x87_in[i] = (long double)zoo_mix(round * 8 + i) / 3.0L + i;
		for (i = 0; i < 8; i++)
			sse_in[i] = zoo_mix(round * 16 + i) | 1;
		memset(x87_out, 0, sizeof(x87_out));
		memset(sse_out, 0, sizeof(sse_out));
		regs_hold(x87_in, x87_out, sse_in, sse_out, SPIN);
		for (i = 0; i < 4; i++)
			if (memcmp(&x87_in[i], &x87_out[i], 10))
				zoo_fail("round %lu: x87 st(%d) is %Lg, expected %Lg", round, 3 - i,
					 x87_out[i], x87_in[i]);
		for (i = 0; i < 8; i++)
			if (sse_in[i] != sse_out[i])
				zoo_fail("round %lu: xmm%d half %d is %#lx, expected %#lx", round,
					 4 + i / 2, i % 2, (unsigned long)sse_out[i],
					 (unsigned long)sse_in[i]);
		control_check(round);
	}
	control_check(round);
	return zoo_finish();
}
