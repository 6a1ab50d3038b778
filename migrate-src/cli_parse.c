#include "cli.h"

#include <errno.h>
#include <stdlib.h>

int cli_parse_number(const char *text, unsigned long long min, unsigned long long max,
		     unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	/* strtoull would take "-1", " 7" and "+7" */
	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}
