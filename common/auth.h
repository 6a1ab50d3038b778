/*
 * auth: both ends prove knowledge of a pre-shared key before anything else.
 *
 * A root daemon that restores what it receives must not accept strangers,
 * and the agent must not hand a process's memory to an impostor; so each side
 * proves the key to the other over fresh nonces, and the key never crosses.
 * Primitives: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written here
 * because the dependencies are fixed by design (no OpenSSL).
 *
 *	client (migrate)                          server (migrate-dst)
 *	auth_psk_load(path, &psk)                 auth_psk_load(path, &psk)
 *	auth_client_start(&s, &psk)
 *	  Hello{client_nonce} ------------------>  auth_server_challenge(&s, &psk, client_nonce)
 *	                    <------------------ Challenge{server_nonce}
 *	auth_client_prove(&s, server_nonce, proof)
 *	  AuthProof{proof} -------------------->  auth_server_verify(&s, proof, server_proof)
 *	                                            wrong: -EACCES, send Abort{AUTH}, close
 *	                    <------------------ AuthOk{server_proof}
 *	auth_client_verify(&s, server_proof)
 *	  wrong: -EACCES, send Abort{AUTH}, close
 *	auth_session_fini(&s); auth_psk_fini(&psk)   (wipe the key and nonces)
 *
 * proof        = HMAC-SHA256(psk, "migrate client proof v1" || client_nonce || server_nonce)
 * server_proof = HMAC-SHA256(psk, "migrate server proof v1" || client_nonce || server_nonce)
 *
 * The distinct labels stop a proof being reflected back as the other side's;
 * each side's own fresh nonce stops a recorded proof being replayed. Proofs
 * are compared in constant time. A session is single use: any call out of the
 * order above returns -EPROTO, and a failed verification leaves the session
 * failed. This module authenticates only; it does not encrypt the stream.
 *
 * The key file holds the key's bytes; trailing newlines ("\n", "\r\n") are
 * not part of the key, so `head -c 32 /dev/urandom | base64 > key` works.
 * Shorter than AUTH_PSK_MIN bytes (or empty) is refused; a file that group or
 * others may read or write is loaded but flagged, for the caller to warn.
 */
#ifndef MIGRATE_AUTH_H
#define MIGRATE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_WUR __attribute__((warn_unused_result))

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64
#define AUTH_NONCE_SIZE 32
#define AUTH_PROOF_SIZE SHA256_DIGEST_SIZE
#define AUTH_PSK_MIN 16
#define AUTH_PSK_MAX 1024

struct sha256_ctx {
	uint32_t state[8];
	uint64_t bytes; /* message length so far */
	uint8_t block[SHA256_BLOCK_SIZE];
	size_t block_len;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]); /* wipes c */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);

struct hmac_sha256_ctx {
	struct sha256_ctx inner;
	struct sha256_ctx outer;
};

void hmac_sha256_init(struct hmac_sha256_ctx *c, const void *key, size_t key_len);
void hmac_sha256_update(struct hmac_sha256_ctx *c, const void *data, size_t len);
void hmac_sha256_final(struct hmac_sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]); /* wipes c */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[SHA256_DIGEST_SIZE]);

/* True when a and b are equal; time depends on len only. */
bool auth_equal(const void *a, const void *b, size_t len);

struct auth_psk {
	uint8_t key[AUTH_PSK_MAX];
	size_t len;
	bool loose_mode; /* the file is accessible to group or others: warn */
};

/* Loads the key file. -ENOENT/-EACCES/... from open, -EINVAL for an empty,
 * short, oversized or non-regular file, with the reason in err_detail(). */
int auth_psk_load(const char *path, struct auth_psk *ret) AUTH_WUR;
/* Sets a key from memory (tests, key from elsewhere); same length rules. */
int auth_psk_set(struct auth_psk *psk, const void *key, size_t len) AUTH_WUR;
void auth_psk_fini(struct auth_psk *psk); /* wipes */

enum auth_state {
	AUTH_NEW,
	AUTH_CLIENT_HELLO_SENT,
	AUTH_CLIENT_PROOF_SENT,
	AUTH_SERVER_CHALLENGED,
	AUTH_DONE,
	AUTH_FAILED,
};

struct auth_session {
	enum auth_state state;
	struct auth_psk psk; /* a copy: the session may outlive the caller's */
	uint8_t client_nonce[AUTH_NONCE_SIZE];
	uint8_t server_nonce[AUTH_NONCE_SIZE];
};

/* Client: draws the client nonce (getrandom) into s->client_nonce, to send in Hello. */
int auth_client_start(struct auth_session *s, const struct auth_psk *psk) AUTH_WUR;
/* Client: takes the server's nonce, writes the proof to send in AuthProof. */
int auth_client_prove(struct auth_session *s, const uint8_t *server_nonce, size_t len,
		      uint8_t ret_proof[AUTH_PROOF_SIZE]) AUTH_WUR;
/* Client: checks AuthOk's proof; -EACCES when the server does not know the key. */
int auth_client_verify(struct auth_session *s, const uint8_t *server_proof, size_t len) AUTH_WUR;

/* Server: takes Hello's nonce, draws s->server_nonce to send in Challenge. */
int auth_server_challenge(struct auth_session *s, const struct auth_psk *psk,
			  const uint8_t *client_nonce, size_t len) AUTH_WUR;
/* Server: checks AuthProof; on success writes the proof to send in AuthOk.
 * -EACCES when the client does not know the key. */
int auth_server_verify(struct auth_session *s, const uint8_t *proof, size_t len,
		       uint8_t ret_server_proof[AUTH_PROOF_SIZE]) AUTH_WUR;

bool auth_session_done(const struct auth_session *s);
void auth_session_fini(struct auth_session *s); /* wipes */

#endif
