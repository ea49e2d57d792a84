/*
 * db.h: opening a SQLite store the way both daemons need it: the directory
 * created with tight permissions, WAL mode, a busy timeout, and the schema
 * applied. The schema string carries each side's own PRAGMA synchronous.
 */
#ifndef QL_DB_H
#define QL_DB_H

#include <sqlite3.h>

#include "ql.h"

/* dir NULL: an in-memory database (the fleet simulator; not crash-safe). */
QL_NODISCARD enum ql_err ql_db_open(const char *dir, const char *file, const char *schema,
                                    sqlite3 **out);

/*
 * The statement in *slot, prepared on first use and kept (for statements
 * that run for every command or result: parsing SQL each time was a fifth
 * of an agent's CPU per command). NULL if it cannot be prepared; the reason
 * is in sqlite3_errmsg(db). After use, ql_db_release() readies it for the
 * next; sqlite3_finalize(*slot) before closing the connection.
 */
sqlite3_stmt *ql_db_cached(sqlite3 *db, sqlite3_stmt **slot, const char *sql);
void ql_db_release(sqlite3_stmt *q);

#endif
