/*
 * simcert.h: client certificates for quell-sim's agents, made from the
 * fleet CA's files (simcert.c).
 */
#ifndef QUELL_SIMCERT_H
#define QUELL_SIMCERT_H

#include <stddef.h>

struct sim_ca;
/* DIR/ca.crt and DIR/ca.key. 0, or -1 and a sentence in why. */
int sim_ca_load(const char *dir, struct sim_ca **out, char *why, size_t whylen);
void sim_ca_free(struct sim_ca *ca);
/* A new key (crt_path: 0644, key_path: 0600) and certificate for name. */
int sim_cert_write(struct sim_ca *ca, const char *name, const char *crt_path, const char *key_path,
                   char *why, size_t whylen);

#endif
