/*
 * curl.c: loading libcurl on first use (see curl.h). Never unloaded: its
 * global state (OpenSSL's) lives as long as the process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curl.h"

#define SONAME "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct qa_curl api;
static const struct qa_curl *loaded;
static char error[256];

/* dlsym() into a function pointer (POSIX allows it; ISO C has no word for it). */
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		void *p_ = dlsym(lib, name);                                                       \
		if (p_ == NULL) {                                                                  \
			snprintf(error, sizeof error, "%s has no %s", SONAME, name);               \
			return;                                                                    \
		}                                                                                  \
		memcpy(&api.field, &p_, sizeof p_);                                                \
	} while (0)

static void load(void)
{
	void *lib = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *e = dlerror();
		snprintf(error, sizeof error, "http checks need libcurl (libcurl4): %s",
		         e ? e : "cannot load " SONAME);
		return;
	}
	CURLcode (*global_init)(long flags);
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(url, "curl_url");
	SYM(url_set, "curl_url_set");
	SYM(url_cleanup, "curl_url_cleanup");
	void *p = dlsym(lib, "curl_global_init");
	if (p == NULL) {
		snprintf(error, sizeof error, "%s has no curl_global_init", SONAME);
		return;
	}
	memcpy(&global_init, &p, sizeof p);
	if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(error, sizeof error, "libcurl could not be initialised");
		return;
	}
	loaded = &api;
}

const struct qa_curl *qa_curl(char *why, size_t whylen)
{
	pthread_once(&once, load);
	if (loaded == NULL)
		snprintf(why, whylen, "%s", error);
	return loaded;
}
