/*
 * fuzz_cert.c: the coordinator's check of the certificate and binding
 * signature an agent's hello carries (ql_tls_ca_check, proto/tls.c), the
 * one place quell parses X.509 from the network. Input: one byte n (the
 * signature's length), n bytes of signature, then the certificate (DER).
 * The claimed host is "web-1", the agent key 32 bytes of 7.
 *
 * The CA below and the seeds in corpus/cert/ were made once with
 * certs/quell-certs (its key is gone: nothing else can be signed by it):
 *   valid-web-1      web-1's certificate and its key's binding signature
 *   other-host       web-2's certificate, signature by web-2's key
 *   other-ca         a certificate for web-1 from another CA
 *   no-signature, truncated, garbage
 * Invariants: every refusal is QL_ERR_BAD_SIGNATURE with a reason; nothing
 * crashes or leaks on any bytes (ASan, UBSan).
 */
#include "fuzz.h"
#include "tls.h"

static const char CA_PEM[] = "-----BEGIN CERTIFICATE-----\n"
			     "MIIBmzCCAUKgAwIBAgIUQcvn7B0V93r/xl8X/qGNDbWnZkwwCgYIKoZIzj0EAwIw\n"
			     "GTEXMBUGA1UEAwwOcXVlbGwgZmxlZXQgQ0EwIBcNMjYxMjA2MTIwNzIzWhgPMjEy\n"
			     "NjExMTIxMjA3MjNaMBkxFzAVBgNVBAMMDnF1ZWxsIGZsZWV0IENBMFkwEwYHKoZI\n"
			     "zj0CAQYIKoZIzj0DAQcDQgAEaKJ3naa6QcH43hSMkZqa5fCiY0+sBHgk9ct+k/++\n"
			     "azaFIdJX/EtauaSdDVsu31rYEXaOP6MMUWNQPlycS9FJjKNmMGQwHQYDVR0OBBYE\n"
			     "FLXVqDiZB8ArxONE+p59GrcsfHV9MB8GA1UdIwQYMBaAFLXVqDiZB8ArxONE+p59\n"
			     "GrcsfHV9MBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMAoGCCqG\n"
			     "SM49BAMCA0cAMEQCIFovVAduXaNvn6V1xdzVNDevFAPmNp8Vpev5wOVvirP7AiBL\n"
			     "iDRCDe5r9lUgMGz9w+fddx19LqdK3ng+KGQyfWTkMg==\n"
			     "-----END CERTIFICATE-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ql_tls_ca *ca;
	char why[256];
	if (ca == NULL && ql_tls_ca_from_pem(CA_PEM, "fuzz CA", &ca, why, sizeof why) != QL_OK) {
		fprintf(stderr, "fuzz_cert: %s\n", why);
		abort();
	}
	if (size == 0)
		return 0;
	size_t n = data[0];
	if (n > size - 1)
		n = size - 1;
	uint8_t pk[QL_PUBKEY_LEN];
	memset(pk, 7, sizeof pk);
	why[0] = '\0';
	enum ql_err err = ql_tls_ca_check(ca, data + 1 + n, size - 1 - n, data + 1, n, pk, "web-1",
	                                  why, sizeof why);
	if (err != QL_OK && err != QL_ERR_BAD_SIGNATURE)
		abort(); /* the only refusal it has */
	if (err != QL_OK && why[0] == '\0')
		abort(); /* every refusal says why */
	return 0;
}
