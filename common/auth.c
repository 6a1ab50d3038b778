#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the
 * cube roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static const char auth_client_label[] = "migrate client proof v1";
static const char auth_server_label[] = "migrate server proof v1";

static inline uint32_t ror32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* FIPS 180-4 section 6.2.2: one 512-bit block. */
static void sha256_block(uint32_t h[8], const uint8_t *block)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = ror32(w[t - 15], 7) ^ ror32(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = ror32(w[t - 2], 17) ^ ror32(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
			      sha256_k[t] + w[t];
		uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
			      ((a & b) ^ (a & c) ^ (b & c));

		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void sha256_init(struct sha256_ctx *c)
{
	/* Section 5.3.3: square roots of the first 8 primes. */
	static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(c->state, h0, sizeof(h0));
	c->bytes = 0;
	c->block_len = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->bytes += len;
	if (c->block_len) {
		size_t n = SHA256_BLOCK_SIZE - c->block_len;

		if (n > len)
			n = len;
		memcpy(c->block + c->block_len, p, n);
		c->block_len += n;
		p += n;
		len -= n;
		if (c->block_len < SHA256_BLOCK_SIZE)
			return;
		sha256_block(c->state, c->block);
		c->block_len = 0;
	}
	for (; len >= SHA256_BLOCK_SIZE; p += SHA256_BLOCK_SIZE, len -= SHA256_BLOCK_SIZE)
		sha256_block(c->state, p);
	memcpy(c->block, p, len);
	c->block_len = len;
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE])
{
	uint64_t bits = c->bytes * 8;
	uint8_t pad[SHA256_BLOCK_SIZE + 8] = { 0x80 };
	/* Section 5.1.1: 0x80, zeros up to 56 mod 64, then the bit length. */
	size_t pad_len = (c->block_len < 56 ? 56 : 120) - c->block_len;

	for (int i = 0; i < 8; i++)
		pad[pad_len + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(c, pad, pad_len + 8);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->state[i]);
	explicit_bzero(c, sizeof(*c));
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}

void hmac_sha256_init(struct hmac_sha256_ctx *c, const void *key, size_t key_len)
{
	uint8_t k[SHA256_BLOCK_SIZE] = { 0 }, pad[SHA256_BLOCK_SIZE];

	/* RFC 2104: keys longer than a block are hashed first. */
	if (key_len > SHA256_BLOCK_SIZE)
		sha256(key, key_len, k);
	else if (key_len)
		memcpy(k, key, key_len);
	for (int i = 0; i < SHA256_BLOCK_SIZE; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&c->inner);
	sha256_update(&c->inner, pad, sizeof(pad));
	for (int i = 0; i < SHA256_BLOCK_SIZE; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&c->outer);
	sha256_update(&c->outer, pad, sizeof(pad));
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

void hmac_sha256_update(struct hmac_sha256_ctx *c, const void *data, size_t len)
{
	sha256_update(&c->inner, data, len);
}

void hmac_sha256_final(struct hmac_sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE])
{
	uint8_t inner[SHA256_DIGEST_SIZE];

	sha256_final(&c->inner, inner);
	sha256_update(&c->outer, inner, sizeof(inner));
	sha256_final(&c->outer, out);
	explicit_bzero(inner, sizeof(inner));
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[SHA256_DIGEST_SIZE])
{
	struct hmac_sha256_ctx c;

	hmac_sha256_init(&c, key, key_len);
	hmac_sha256_update(&c, data, len);
	hmac_sha256_final(&c, out);
}

bool auth_equal(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	/* volatile: keep the compiler from turning this into an early-exit memcmp. */
	for (size_t i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

int auth_psk_set(struct auth_psk *psk, const void *key, size_t len)
{
	if (!psk || !key)
		return -EINVAL;
	if (len == 0)
		return err_setf(-EINVAL, "the key is empty");
	if (len < AUTH_PSK_MIN)
		return err_setf(-EINVAL, "the key is %zu bytes, shorter than the %d required "
				"(make one with: head -c 32 /dev/urandom | base64 > FILE)",
				len, AUTH_PSK_MIN);
	if (len > AUTH_PSK_MAX)
		return err_setf(-EINVAL, "the key is longer than %d bytes", AUTH_PSK_MAX);
	explicit_bzero(psk, sizeof(*psk));
	memcpy(psk->key, key, len);
	psk->len = len;
	return 0;
}

void auth_psk_fini(struct auth_psk *psk)
{
	explicit_bzero(psk, sizeof(*psk));
}

/* Reads at most size bytes; -EFBIG when the file holds more. */
static int auth_read_all(int fd, uint8_t *buf, size_t size, size_t *ret_len)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size)
			return -EFBIG;
	}
	*ret_len = len;
	return 0;
}

static int auth_psk_read(int fd, const char *path, struct auth_psk *ret)
{
	uint8_t buf[AUTH_PSK_MAX + 3]; /* room to see "too long" past a trailing "\r\n" */
	struct stat st;
	size_t len = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return err_setf(-errno, "cannot stat key file %s", path);
	if (!S_ISREG(st.st_mode))
		return err_setf(-EINVAL, "key file %s is not a regular file", path);
	r = auth_read_all(fd, buf, sizeof(buf), &len);
	while (r == 0 && len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (r == -EFBIG)
		r = err_setf(-EINVAL, "key file %s is longer than %d bytes", path, AUTH_PSK_MAX);
	else if (r < 0)
		r = err_setf(r, "cannot read key file %s", path);
	else if (len < AUTH_PSK_MIN)
		r = err_setf(-EINVAL, "key file %s holds %zu bytes, fewer than the %d required "
			     "(make one with: head -c 32 /dev/urandom | base64 > %s)",
			     path, len, AUTH_PSK_MIN, path);
	else
		r = auth_psk_set(ret, buf, len);
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		return r;
	ret->loose_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
	return 0;
}

int auth_psk_load(const char *path, struct auth_psk *ret)
{
	struct auth_psk psk;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_setf(-errno, "cannot open key file %s", path);
	r = auth_psk_read(fd, path, &psk);
	close(fd);
	if (r == 0)
		*ret = psk;
	explicit_bzero(&psk, sizeof(psk));
	return r;
}

static int auth_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_setf(-errno, "getrandom failed");
		got += (size_t)n;
	}
	return 0;
}

static void auth_proof(const struct auth_session *s, const char *label,
		       uint8_t out[AUTH_PROOF_SIZE])
{
	struct hmac_sha256_ctx c;

	hmac_sha256_init(&c, s->psk.key, s->psk.len);
	hmac_sha256_update(&c, label, strlen(label));
	hmac_sha256_update(&c, s->client_nonce, AUTH_NONCE_SIZE);
	hmac_sha256_update(&c, s->server_nonce, AUTH_NONCE_SIZE);
	hmac_sha256_final(&c, out);
}

/* Moves the session to AUTH_FAILED and returns err, so that a session
 * cannot be retried with another guess. */
static int auth_fail(struct auth_session *s, int err)
{
	s->state = AUTH_FAILED;
	return err;
}

static int auth_expect(struct auth_session *s, enum auth_state state, const char *step)
{
	if (s->state != state)
		return auth_fail(s, err_setf(-EPROTO, "authentication: %s out of order", step));
	return 0;
}

static int auth_size_check(struct auth_session *s, size_t len, size_t want, const char *what)
{
	if (len != want)
		return auth_fail(s, err_setf(-EPROTO, "authentication: %s is %zu bytes, not %zu",
					     what, len, want));
	return 0;
}

int auth_client_start(struct auth_session *s, const struct auth_psk *psk)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->psk = *psk;
	r = auth_random(s->client_nonce, AUTH_NONCE_SIZE);
	if (r < 0)
		return auth_fail(s, r);
	s->state = AUTH_CLIENT_HELLO_SENT;
	return 0;
}

int auth_client_prove(struct auth_session *s, const uint8_t *server_nonce, size_t len,
		      uint8_t ret_proof[AUTH_PROOF_SIZE])
{
	int r = auth_expect(s, AUTH_CLIENT_HELLO_SENT, "challenge");

	if (r == 0)
		r = auth_size_check(s, len, AUTH_NONCE_SIZE, "the server's nonce");
	if (r < 0)
		return r;
	/* A server echoing our nonce would have us compute its proof for it. */
	if (auth_equal(server_nonce, s->client_nonce, AUTH_NONCE_SIZE))
		return auth_fail(s, err_setf(-EPROTO, "authentication: the server sent our own "
					     "nonce back"));
	memcpy(s->server_nonce, server_nonce, AUTH_NONCE_SIZE);
	auth_proof(s, auth_client_label, ret_proof);
	s->state = AUTH_CLIENT_PROOF_SENT;
	return 0;
}

int auth_client_verify(struct auth_session *s, const uint8_t *server_proof, size_t len)
{
	uint8_t want[AUTH_PROOF_SIZE];
	bool ok;
	int r = auth_expect(s, AUTH_CLIENT_PROOF_SENT, "server proof");

	if (r == 0)
		r = auth_size_check(s, len, AUTH_PROOF_SIZE, "the server's proof");
	if (r < 0)
		return r;
	auth_proof(s, auth_server_label, want);
	ok = auth_equal(want, server_proof, AUTH_PROOF_SIZE);
	explicit_bzero(want, sizeof(want));
	if (!ok)
		return auth_fail(s, err_setf(-EACCES, "the destination does not know the key: "
					     "check that both sides use the same key file"));
	s->state = AUTH_DONE;
	return 0;
}

int auth_server_challenge(struct auth_session *s, const struct auth_psk *psk,
			  const uint8_t *client_nonce, size_t len)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->psk = *psk;
	r = auth_size_check(s, len, AUTH_NONCE_SIZE, "the client's nonce");
	if (r < 0)
		return r;
	memcpy(s->client_nonce, client_nonce, AUTH_NONCE_SIZE);
	r = auth_random(s->server_nonce, AUTH_NONCE_SIZE);
	if (r < 0)
		return auth_fail(s, r);
	s->state = AUTH_SERVER_CHALLENGED;
	return 0;
}

int auth_server_verify(struct auth_session *s, const uint8_t *proof, size_t len,
		       uint8_t ret_server_proof[AUTH_PROOF_SIZE])
{
	uint8_t want[AUTH_PROOF_SIZE];
	bool ok;
	int r = auth_expect(s, AUTH_SERVER_CHALLENGED, "client proof");

	if (r == 0)
		r = auth_size_check(s, len, AUTH_PROOF_SIZE, "the client's proof");
	if (r < 0)
		return r;
	auth_proof(s, auth_client_label, want);
	ok = auth_equal(want, proof, AUTH_PROOF_SIZE);
	explicit_bzero(want, sizeof(want));
	if (!ok)
		return auth_fail(s, err_setf(-EACCES, "the client does not know the key"));
	auth_proof(s, auth_server_label, ret_server_proof);
	s->state = AUTH_DONE;
	return 0;
}

bool auth_session_done(const struct auth_session *s)
{
	return s->state == AUTH_DONE;
}

void auth_session_fini(struct auth_session *s)
{
	explicit_bzero(s, sizeof(*s));
}
