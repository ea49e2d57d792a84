/*
 * db.c: see db.h. Errors are logged here with the path, so callers only
 * need to say what the store was for.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "db.h"
#include "log.h"

enum ql_err ql_db_open(const char *dir, const char *file, const char *schema, sqlite3 **out)
{
	char path[4096] = ":memory:";
	*out = NULL;
	if (dir) {
		if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
			return QL_ERR_TOO_BIG;
		mkdir(dir, 0700); /* may exist; sqlite reports the real problem */
	}
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		ql_error("store: cannot open %s: %s", path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return QL_ERR_STORE;
	}
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		ql_error("store: cannot initialise %s: %s", path, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_close(db);
		return QL_ERR_STORE;
	}
	*out = db;
	return QL_OK;
}

sqlite3_stmt *ql_db_cached(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
	if (*slot == NULL &&
	    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
		sqlite3_finalize(*slot);
		*slot = NULL;
	}
	return *slot;
}

void ql_db_release(sqlite3_stmt *q)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q); /* nothing keeps pointing at the caller's buffers */
}
