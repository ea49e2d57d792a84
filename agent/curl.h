/*
 * curl.h: libcurl, for the http health check, loaded when first needed.
 *
 * Linked into quell-agent, libcurl (Debian's libcurl4, built with OpenSSL)
 * brings 30 more shared libraries (OpenSSL, GnuTLS, Kerberos, LDAP, SASL,
 * SSH, RTMP, ...) into every agent, which doubled an idle agent's RSS
 * (5.2 MB to 10.9 MB, 1.1 MB of it private) and put all that code in a root
 * daemon on hosts that have no http check at all. So the agent dlopen()s
 * libcurl.so.4 (its ABI has been stable since 2006) the first time a
 * config names an http check, and a host without libcurl is told so at
 * start-up, with the line of the check.
 */
#ifndef QA_CURL_H
#define QA_CURL_H

#define CURL_DISABLE_TYPECHECK /* calls go through the pointers below */
#include <curl/curl.h>
#include <stddef.h>

struct qa_curl {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode rc);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *content, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
};

/*
 * libcurl, loaded and initialised (curl_global_init) on the first call, from
 * any thread; NULL with the reason in why if it cannot be.
 */
const struct qa_curl *qa_curl(char *why, size_t whylen);

#endif
