/*
 * tls.h: mutual TLS for the nng sockets, and the agent's certificate proof.
 *
 * Transport: `tls+tcp://` URLs get an nng TLS configuration built from PEM
 * files named in the config (certificate, secret key, CA bundle). The
 * coordinator's agent socket requires a client certificate from the fleet
 * CA; its control socket only presents its own (operators are known by
 * their signing keys); agents and the CLI verify the coordinator's
 * certificate against the CA and the name they expect.
 *
 * Identity: Debian's nng 1.5 verifies a peer's certificate but cannot tell
 * us which name it carries (there is no peer-certificate option), so TLS
 * alone cannot stop host A's valid certificate from claiming to be host B.
 * The agent therefore sends its certificate in its hello, with a signature
 * by the certificate's key over its signing key and hostname (the
 * "binding"). The coordinator checks that the certificate chains to the CA,
 * is for client use, names the claimed host, and made that signature: only
 * the holder of host B's certificate key can bind a signing key to host B.
 */
#ifndef QL_TLS_H
#define QL_TLS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "ql.h"

#define QL_MAX_CERT_DER 4096  /* an agent certificate in a hello */
#define QL_MAX_CERT_SIG 160   /* its binding signature (ECDSA P-256: at most 72) */
#define QL_MAX_TLS_FILE 65536 /* a PEM file we read */

/* PEM files from a config; any may be NULL. Owned strings. */
struct ql_tls_files {
	char *cert;
	char *key;
	char *ca;
	char *server_name; /* dialers: the name in the coordinator's certificate */
};

enum ql_tls_role {
	QL_TLS_AGENT,   /* dialer: present our certificate, verify the coordinator's */
	QL_TLS_CLI,     /* dialer: verify the coordinator's, present none */
	QL_TLS_AGENTS,  /* listener: present ours, require a client certificate from the CA */
	QL_TLS_CONTROL, /* listener: present ours, ask for none */
};

/* Is url a tls+tcp:// URL? */
bool ql_url_tls(const char *url);
/* Free the strings (not f itself). */
void ql_tls_files_fini(struct ql_tls_files *f);
/*
 * Config-time check: the files role needs for url are named. A plain tcp://
 * URL needs none. QL_ERR_CONFIG with a sentence naming the missing key.
 */
QL_NODISCARD enum ql_err ql_tls_files_check(const struct ql_tls_files *f, enum ql_tls_role role,
                                            const char *url, char *why, size_t whylen);
/* Log the every-start warning for a plain tcp:// URL (nothing for others). */
void ql_url_warn_plain(const char *url, const char *what);

/*
 * Open the transport: a listener on url (started), or a dialer on url (not
 * started: the caller sets its options first). For tls+tcp:// the files are
 * read now (the secret key must be readable by its owner only) and their
 * errors are reported by file name.
 */
QL_NODISCARD enum ql_err ql_tls_listen(nng_socket s, const char *url, enum ql_tls_role role,
                                       const struct ql_tls_files *f, char *why, size_t whylen);
QL_NODISCARD enum ql_err ql_tls_dialer(nng_socket s, const char *url, enum ql_tls_role role,
                                       const struct ql_tls_files *f, nng_dialer *out, char *why,
                                       size_t whylen);

/* --check: read and use the files as ql_tls_listen/ql_tls_dialer would, nothing more. */
QL_NODISCARD enum ql_err ql_tls_check(enum ql_tls_role role, const struct ql_tls_files *f,
                                      const char *url, char *why, size_t whylen);

/*
 * Read a PEM file whole, NUL-terminated, into *out (ql_tls_pem_free it). A
 * secret one must be a regular file only its owner can read.
 */
QL_NODISCARD enum ql_err ql_tls_read_pem(const char *path, bool secret, char **out, char *why,
                                         size_t whylen);
/* Wipe and free what ql_tls_read_pem returned (NULL is fine). */
void ql_tls_pem_free(char *pem);

/* Did this pipe's peer present a certificate that verified? */
bool ql_pipe_tls_verified(nng_pipe p);

/* The agent's side of the binding: its certificate and the signature. */
struct ql_tls_proof {
	uint8_t *cert_der; /* malloc'd */
	size_t cert_len;
	uint8_t sig[QL_MAX_CERT_SIG];
	size_t sig_len;
};
/*
 * Load cert/key (PEM), check that they are a pair, and sign the binding of
 * signing key pk to hostname.
 */
QL_NODISCARD enum ql_err ql_tls_prove(const char *cert, const char *key,
                                      const uint8_t pk[QL_PUBKEY_LEN], const char *hostname,
                                      struct ql_tls_proof *out, char *why, size_t whylen);
void ql_tls_proof_fini(struct ql_tls_proof *p);

/* The coordinator's side: the fleet CA bundle. Safe to share between threads. */
struct ql_tls_ca;
QL_NODISCARD enum ql_err ql_tls_ca_load(const char *path, struct ql_tls_ca **out, char *why,
                                        size_t whylen);
/* The same from PEM text (NUL-terminated); name is for messages. */
QL_NODISCARD enum ql_err ql_tls_ca_from_pem(const char *pem, const char *name,
                                            struct ql_tls_ca **out, char *why, size_t whylen);
void ql_tls_ca_free(struct ql_tls_ca *ca);
/*
 * UNTRUSTED cert/sig from a hello. QL_OK only if cert chains to the CA, is
 * valid now, has an extended key usage naming clientAuth, names hostname
 * exactly (a DNS subjectAltName, or the CN when it has none; no wildcards,
 * no case folding), and its key signed the binding of pk to hostname. Otherwise
 * QL_ERR_BAD_SIGNATURE with the reason in why.
 */
QL_NODISCARD enum ql_err ql_tls_ca_check(struct ql_tls_ca *ca, const uint8_t *cert, size_t cert_len,
                                         const uint8_t *sig, size_t sig_len,
                                         const uint8_t pk[QL_PUBKEY_LEN], const char *hostname,
                                         char *why, size_t whylen);

#endif
