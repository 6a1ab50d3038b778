#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char err_text[1024];

int err_setf(int err, const char *fmt, ...)
{
	/* Formatted aside first: callers wrap the previous detail ("fd 3: %s", err_detail()),
	 * and vsnprintf into the buffer it reads from would overwrite it while reading. */
	char text[sizeof(err_text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memcpy(err_text, text, sizeof(err_text));
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
