/*
 * test_auth: SHA-256 (FIPS 180-4 vectors), HMAC-SHA256 (RFC 4231 vectors),
 * key files, and the challenge-response between two in-memory peers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "err.h"

static void hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	assert_int_equal(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void assert_digest(const uint8_t *got, const char *want_hex)
{
	uint8_t want[SHA256_DIGEST_SIZE];

	hex_to_bytes(want_hex, want, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
}

static void test_sha256_fips(void **state)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;
	char a[1000];

	sha256("abc", 3, d);
	assert_digest(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256(m448, strlen(m448), d);
	assert_digest(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	sha256("", 0, d);
	assert_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* One million 'a', in pieces of 1000 so the block buffering is exercised. */
	memset(a, 'a', sizeof(a));
	sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sha256_update(&c, a, sizeof(a));
	sha256_final(&c, d);
	assert_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_split(void **state)
{
	uint8_t msg[300], whole[SHA256_DIGEST_SIZE], parts[SHA256_DIGEST_SIZE];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	/* Every length around the padding boundaries (55, 56, 63, 64, 119, 120). */
	for (size_t len = 0; len < sizeof(msg); len++) {
		for (size_t cut = 0; cut <= len; cut += 13) {
			struct sha256_ctx c;

			sha256(msg, len, whole);
			sha256_init(&c);
			sha256_update(&c, msg, cut);
			sha256_update(&c, msg + cut, len - cut);
			sha256_final(&c, parts);
			assert_memory_equal(whole, parts, sizeof(whole));
		}
	}
}

struct hmac_vector {
	const char *key_hex;
	const char *data;
	size_t data_len;
	const char *mac_hex;
	size_t mac_len; /* RFC 4231 test 5 checks 128 bits only */
};

static void test_hmac_rfc4231(void **state)
{
	static const char big_key[] =
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 131 bytes */
	static const char t6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char t7[] =
		"This is a test using a larger than block-size key and a larger than block-size "
		"data. The key needs to be hashed before being used by the HMAC algorithm.";
	uint8_t t3[50], t4[50];
	const struct hmac_vector v[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", 8,
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32 },
		{ "4a656665", "what do ya want for nothing?", 28,
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", (const char *)t3, 50,
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32 },
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819", (const char *)t4, 50,
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32 },
		{ "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation", 20,
		  "a3b6167473100ee06e0c796c2955552b", 16 },
		{ big_key, t6, strlen(t6),
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32 },
		{ big_key, t7, strlen(t7),
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32 },
	};

	memset(t3, 0xdd, sizeof(t3));
	memset(t4, 0xcd, sizeof(t4));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t key[131], mac[SHA256_DIGEST_SIZE], want[SHA256_DIGEST_SIZE];
		size_t key_len = strlen(v[i].key_hex) / 2;

		hex_to_bytes(v[i].key_hex, key, key_len);
		hex_to_bytes(v[i].mac_hex, want, v[i].mac_len);
		hmac_sha256(key, key_len, v[i].data, v[i].data_len, mac);
		assert_memory_equal(mac, want, v[i].mac_len);
	}
}

static void test_equal(void **state)
{
	uint8_t a[32] = { 1, 2, 3 }, b[32] = { 1, 2, 3 };

	assert_true(auth_equal(a, b, sizeof(a)));
	b[31] ^= 0x80;
	assert_false(auth_equal(a, b, sizeof(a)));
	assert_true(auth_equal(a, b, 0));
}

static char key_path[] = "/tmp/test_auth.key.XXXXXX";

static void key_file(const char *contents, size_t len, mode_t mode)
{
	int fd = mkstemp(key_path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, contents, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void key_file_done(void)
{
	(void)unlink(key_path);
	strcpy(key_path, "/tmp/test_auth.key.XXXXXX");
}

static void test_psk_load(void **state)
{
	static const char good[] = "0123456789abcdef0123456789abcdef\n";
	struct auth_psk psk;

	key_file(good, strlen(good), 0600);
	assert_int_equal(auth_psk_load(key_path, &psk), 0);
	assert_int_equal(psk.len, 32); /* newline stripped */
	assert_memory_equal(psk.key, good, 32);
	assert_false(psk.loose_mode);
	key_file_done();

	key_file(good, strlen(good), 0644);
	assert_int_equal(auth_psk_load(key_path, &psk), 0);
	assert_true(psk.loose_mode);
	key_file_done();

	key_file("", 0, 0600);
	assert_int_equal(auth_psk_load(key_path, &psk), -EINVAL);
	assert_non_null(strstr(err_detail(), "0 bytes"));
	key_file_done();

	key_file("short\n", 6, 0600);
	assert_int_equal(auth_psk_load(key_path, &psk), -EINVAL);
	assert_non_null(strstr(err_detail(), "fewer than the 16"));
	key_file_done();

	assert_int_equal(auth_psk_load("/nonexistent/key", &psk), -ENOENT);
	assert_int_equal(auth_psk_load("/tmp", &psk), -EINVAL);
	auth_psk_fini(&psk);
}

static void test_psk_too_long(void **state)
{
	char big[AUTH_PSK_MAX + 10];
	struct auth_psk psk;

	memset(big, 'k', sizeof(big));
	key_file(big, sizeof(big), 0600);
	assert_int_equal(auth_psk_load(key_path, &psk), -EINVAL);
	assert_non_null(strstr(err_detail(), "longer than"));
	key_file_done();
	/* Exactly the maximum plus a newline is fine. */
	big[AUTH_PSK_MAX] = '\n';
	key_file(big, AUTH_PSK_MAX + 1, 0600);
	assert_int_equal(auth_psk_load(key_path, &psk), 0);
	assert_int_equal(psk.len, AUTH_PSK_MAX);
	key_file_done();
}

/* Runs the whole exchange; returns the first failure of either side. */
struct peers {
	struct auth_session client, server;
	uint8_t proof[AUTH_PROOF_SIZE], server_proof[AUTH_PROOF_SIZE];
	int client_r, server_r;
};

static void handshake(struct peers *p, const char *client_key, const char *server_key)
{
	struct auth_psk ck, sk;

	memset(p, 0, sizeof(*p));
	assert_int_equal(auth_psk_set(&ck, client_key, strlen(client_key)), 0);
	assert_int_equal(auth_psk_set(&sk, server_key, strlen(server_key)), 0);
	assert_int_equal(auth_client_start(&p->client, &ck), 0);
	assert_int_equal(auth_server_challenge(&p->server, &sk, p->client.client_nonce,
					       AUTH_NONCE_SIZE), 0);
	assert_int_equal(auth_client_prove(&p->client, p->server.server_nonce, AUTH_NONCE_SIZE,
					   p->proof), 0);
	p->server_r = auth_server_verify(&p->server, p->proof, AUTH_PROOF_SIZE, p->server_proof);
	if (p->server_r == 0)
		p->client_r = auth_client_verify(&p->client, p->server_proof, AUTH_PROOF_SIZE);
	auth_psk_fini(&ck);
	auth_psk_fini(&sk);
}

static void test_handshake_ok(void **state)
{
	struct peers p;

	handshake(&p, "the same key, 24 bytes..", "the same key, 24 bytes..");
	assert_int_equal(p.server_r, 0);
	assert_int_equal(p.client_r, 0);
	assert_true(auth_session_done(&p.client));
	assert_true(auth_session_done(&p.server));
	/* Done sessions refuse to go on. */
	assert_int_equal(auth_client_verify(&p.client, p.server_proof, AUTH_PROOF_SIZE), -EPROTO);
	auth_session_fini(&p.client);
	auth_session_fini(&p.server);
}

static void test_handshake_wrong_key(void **state)
{
	struct auth_psk right;
	struct peers p;
	uint8_t forged[AUTH_PROOF_SIZE];

	/* Server side: a client with the wrong key is refused. */
	handshake(&p, "the wrong key, 24 bytes.", "the right key, 24 bytes.");
	assert_int_equal(p.server_r, -EACCES);
	assert_false(auth_session_done(&p.server));
	/* ... and the failed session cannot be retried with another guess. */
	assert_int_equal(auth_server_verify(&p.server, p.proof, AUTH_PROOF_SIZE, forged), -EPROTO);

	/* Client side: a server that does not know the key cannot forge its proof,
	 * even when it has the client's valid proof in hand. */
	assert_int_equal(auth_psk_set(&right, "the right key, 24 bytes.", 24), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(auth_client_start(&p.client, &right), 0);
	memset(p.server.server_nonce, 0x42, AUTH_NONCE_SIZE);
	assert_int_equal(auth_client_prove(&p.client, p.server.server_nonce, AUTH_NONCE_SIZE,
					   p.proof), 0);
	/* Reflection: the client's own proof is not the server's. */
	assert_int_equal(auth_client_verify(&p.client, p.proof, AUTH_PROOF_SIZE), -EACCES);
	assert_non_null(strstr(err_detail(), "does not know the key"));
	assert_false(auth_session_done(&p.client));
	auth_psk_fini(&right);
}

static void test_handshake_replay(void **state)
{
	struct peers first, second;
	uint8_t out[AUTH_PROOF_SIZE];
	const char *key = "replayed key, 24 bytes..";
	struct auth_psk psk;

	handshake(&first, key, key);
	assert_int_equal(first.server_r, 0);
	assert_int_equal(first.client_r, 0);

	/* An eavesdropper replays the first connection's client proof to a new
	 * server session: its nonce is fresh, so the proof is wrong. */
	assert_int_equal(auth_psk_set(&psk, key, strlen(key)), 0);
	memset(&second, 0, sizeof(second));
	assert_int_equal(auth_server_challenge(&second.server, &psk, first.client.client_nonce,
					       AUTH_NONCE_SIZE), 0);
	assert_int_equal(auth_server_verify(&second.server, first.proof, AUTH_PROOF_SIZE, out),
			 -EACCES);

	/* A fake server replays the first AuthOk to a new client session. */
	assert_int_equal(auth_client_start(&second.client, &psk), 0);
	assert_int_equal(auth_client_prove(&second.client, first.server.server_nonce,
					   AUTH_NONCE_SIZE, out), 0);
	assert_int_equal(auth_client_verify(&second.client, first.server_proof, AUTH_PROOF_SIZE),
			 -EACCES);
	auth_psk_fini(&psk);
}

static void test_handshake_hostile(void **state)
{
	struct auth_session s;
	struct auth_psk psk;
	uint8_t out[AUTH_PROOF_SIZE], nonce[AUTH_NONCE_SIZE] = { 0 };

	assert_int_equal(auth_psk_set(&psk, "0123456789abcdef", 16), 0);
	assert_int_equal(auth_psk_set(&psk, "0123456789abcde", 15), -EINVAL);
	assert_int_equal(auth_server_challenge(&s, &psk, nonce, 31), -EPROTO);
	assert_int_equal(auth_client_start(&s, &psk), 0);
	assert_int_equal(auth_client_prove(&s, nonce, 33, out), -EPROTO);
	/* A server echoing the client's nonce. */
	assert_int_equal(auth_client_start(&s, &psk), 0);
	assert_int_equal(auth_client_prove(&s, s.client_nonce, AUTH_NONCE_SIZE, out), -EPROTO);
	/* Out of order: verifying before proving. */
	assert_int_equal(auth_client_start(&s, &psk), 0);
	assert_int_equal(auth_client_verify(&s, out, AUTH_PROOF_SIZE), -EPROTO);
	auth_session_fini(&s);
	auth_psk_fini(&psk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_fips),
		cmocka_unit_test(test_sha256_split),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_psk_load),
		cmocka_unit_test(test_psk_too_long),
		cmocka_unit_test(test_handshake_ok),
		cmocka_unit_test(test_handshake_wrong_key),
		cmocka_unit_test(test_handshake_replay),
		cmocka_unit_test(test_handshake_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
