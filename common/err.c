#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static __thread char err_text[1024];

int err_setf(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_text, sizeof(err_text), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

const char *err_detail(void)
{
	return err_text;
}

void err_clear(void)
{
	err_text[0] = '\0';
}
