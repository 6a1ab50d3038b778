/*
 * pty_queue: the data queued in a pseudo-terminal pair, taken out and put back exactly.
 *
 * A tty cannot be read without consuming it (no tee for ttys), so the dump takes the queued
 * data out and puts it back at once, and the restore puts it into a new pair:
 *
 *	dump:    pty_queue_take(master, slave, &q)  ->  pty_queue_put(master, slave, termios, &q)
 *	restore: (new pair, any termios)             ->  pty_queue_put(master, slave, termios, &q)
 *
 * master and slave are our own descriptions of the pair, opened read-write and blocking (the
 * slave one from TIOCGPTPEER, so that a process's O_NONBLOCK is not touched), with packet
 * mode off on the master. Nobody else may read or write the pair meanwhile: the process is
 * frozen, or not yet running.
 *
 * to_master is what the master will read: the slave's output, after output processing.
 * to_slave is what the slave will read: input already received by its line discipline. It is
 * put back through the master with echo and every input transformation off and the special
 * characters disabled, in the pair's canonical mode, so that lines end where they ended; the
 * echo of it, read back and dropped, tells when the line discipline has taken all of it.
 */
#ifndef MIGRATE_PTY_QUEUE_H
#define MIGRATE_PTY_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define PTY_QUEUE_WUR __attribute__((warn_unused_result))

struct pty_queue {
	uint8_t *to_master;
	size_t to_master_len;
	uint8_t *to_slave;
	size_t to_slave_len;
};

/* Reads out all the queued data of the pair into q (malloc'd buffers, pty_queue_fini). The
 * slave's termios are changed to read it (ICANON off): put them back with pty_queue_put,
 * which also puts the data back; on failure, whatever was read is in q too. */
int pty_queue_take(int master, int slave, struct pty_queue *q) PTY_QUEUE_WUR;

/* Puts the data of q into the pair and leaves the slave with termios final. -ETIMEDOUT when
 * the line discipline did not take the input within two seconds. */
int pty_queue_put(int master, int slave, const struct termios *final,
		  const struct pty_queue *q) PTY_QUEUE_WUR;

void pty_queue_fini(struct pty_queue *q);

#endif
