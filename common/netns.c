#include "netns.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

int netns_enter(int netns_fd, int *ret_saved)
{
	int self;

	*ret_saved = -1;
	if (netns_fd < 0)
		return 0;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return err_setf(errno, "own network namespace: %s", strerror(errno));
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int err = err_setf(errno, "entering network namespace fd %d: %s", netns_fd,
				   strerror(errno));
		close(self);
		return err;
	}
	*ret_saved = self;
	return 0;
}

int netns_leave(int saved, int r)
{
	if (saved < 0)
		return r;
	if (setns(saved, CLONE_NEWNET) < 0)
		r = err_setf(ENOTRECOVERABLE, "cannot return to own network namespace: %s",
			     strerror(errno));
	close(saved);
	return r;
}
