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

#endif
