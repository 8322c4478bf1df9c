#ifndef FLOWCTL_CSQLITEOPTIONS_H
#define FLOWCTL_CSQLITEOPTIONS_H

// sqlite3_db_config is variadic, which Swift cannot call: one plain function per option used.

/// Leaves the write-ahead log in place when the connection closes, instead of copying it into
/// the database (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). `db` is a `sqlite3 *`. Returns an SQLite
/// result code.
int flow_sqlite_no_checkpoint_on_close(void *db);

#endif
