// PrivateRocksEnv: the rocksdb::Env every hashmatch RocksDB database is
// opened with (HashStore, the match server's report queue, the ingestion
// server's report store), so that the directories RocksDB creates are 0700
// and its files (SST, WAL, MANIFEST, CURRENT, OPTIONS, IDENTITY, LOCK, LOG)
// 0600, whatever the process umask. RocksDB itself creates them 0755 / 0644
// less the umask (Env::SetAllowNonOwnerAccess does not reach its POSIX file
// system in RocksDB 7.8), which left the hash list and queued reports
// readable by every local user.
//
//   rocksdb::Options options;
//   options.env = PrivateRocksEnv();
//   rocksdb::DB::Open(options, dir, &db);
//
// How: a FileSystemWrapper around FileSystem::Default() chmods each file it
// creates (new, reopened, reused, random-RW, lock) to 0600 and each
// directory it creates to 0700 right after creation; the Env wrapper does
// the same for the info LOG, which RocksDB opens outside the FileSystem. A
// file is briefly under its umask mode between open and chmod, inside a
// directory that is already 0700 when RocksDB created it. Directories that
// existed before keep their mode, and so does a file another user owns (chmod
// EPERM: e.g. a store shared through group permissions before; failing the
// open would be worse than its mode).
//
// Thread safety: the Env is process-wide, created on first use, never
// destroyed (like Env::Default()), and safe for concurrent use.
#ifndef HASHMATCH_INDEX_STORE_PRIVATE_ENV_H_
#define HASHMATCH_INDEX_STORE_PRIVATE_ENV_H_

#include "rocksdb/env.h"

namespace hashmatch {

rocksdb::Env* PrivateRocksEnv();

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_STORE_PRIVATE_ENV_H_
