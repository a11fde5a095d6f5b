// PrincipalStore: the ingestion server's principals (who may call, with
// which roles), persisted in DATA/principals.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PrincipalStore> store,
//                    PrincipalStore::Open(data_dir + "/principals", {}));
//   v1::Principal p;
//   p.set_name("hotline-a");  p.add_roles(v1::ROLE_AGENCY);
//   ASSIGN_OR_RETURN(PrincipalStore::Added added, store->Add(p, true));
//   // added.token is shown once; only its SHA-256 is kept.
//   std::optional<StoredPrincipal> who = store->FindByToken(token);
//   RETURN_IF_ERROR(store->Revoke("hotline-a").status());
//
// Storage. The whole table is one file, DIR/principals.pb, replaced on every
// change: written to DIR/principals.pb.tmp, fsync'ed, renamed over the old
// file, and the directory fsync'ed; a crash leaves the old or the new table,
// never a mix. Why a file rather than RocksDB: the table is small (at most
// max_principals records, typically tens), changes a few times a day, is read
// only from memory (every RPC authenticates against the in-memory copy), and
// must stay consistent as a whole; one atomically replaced file gives that
// with no second database, compaction or lock files, and is easy to back up
// and inspect. A change is applied in memory only after the file is durable,
// so a failed write (UNAVAILABLE naming the path) changes nothing.
//
// File format (v1): the 8 bytes "HMPRINC1"; then per principal, in name
// order, a varint length + the v1::Principal wire encoding and a varint
// length + the token digest (0 or 32 bytes); then the SHA-256 of all the
// preceding bytes. A file that does not check out is DATA_LOSS at Open (the
// server refuses to start rather than lose or invent principals).
//
// Rules. Names match [A-Za-z0-9._:@-]{1,128}, are unique and never reused
// (a revoked principal keeps its record: revocation sets revoked_at_micros).
// A principal has 1..5 distinct known roles, a note of at most 1024 bytes,
// and a token and/or allow_certificate (else it could never authenticate).
// may_submit_media needs the agency role. Tokens are 32 random bytes from
// OpenSSL RAND_bytes, as "hm_" + unpadded base64url (46 printable
// characters); only their SHA-256 is stored.
//
// Thread safety: all methods may be called concurrently (a shared mutex:
// lookups in parallel, changes one at a time).
#ifndef HASHMATCH_SRC_INGEST_PRINCIPAL_STORE_H_
#define HASHMATCH_SRC_INGEST_PRINCIPAL_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/ingest.pb.h"

namespace hashmatch {
namespace ingest {

struct PrincipalStoreOptions {
  // Most principals (revoked ones included). Default 10000.
  int max_principals = 10000;
  // Microseconds since the epoch for created/revoked times. Default (empty):
  // the system clock.
  std::function<int64_t()> now_micros;
};

// INVALID_ARGUMENT unless `name` matches [A-Za-z0-9._:@-]{1,128}.
absl::Status ValidatePrincipalName(absl::string_view name);

class PrincipalStore {
 public:
  // Opens (creating `dir` if missing) and loads the table. Errors: the
  // directory cannot be made or read (UNAVAILABLE, naming it), a corrupt
  // file (DATA_LOSS).
  static absl::StatusOr<std::unique_ptr<PrincipalStore>> Open(
      const std::string& dir, const PrincipalStoreOptions& options);

  PrincipalStore(const PrincipalStore&) = delete;
  PrincipalStore& operator=(const PrincipalStore&) = delete;

  struct Added {
    hashmatch::v1::Principal principal;
    std::string token;  // Empty unless a token was issued.
  };

  // Adds `principal`. The server sets has_token (= issue_token),
  // created_at_micros (now) and revoked_at_micros (0); whatever the request
  // had there is ignored. Errors: INVALID_ARGUMENT (the rules above),
  // ALREADY_EXISTS (the name is taken, also by a revoked principal),
  // RESOURCE_EXHAUSTED (max_principals), UNAVAILABLE (write failed).
  absl::StatusOr<Added> Add(const hashmatch::v1::Principal& principal,
                            bool issue_token);

  // Revokes `name`: it can no longer authenticate; the record stays.
  // Returns the revoked principal. NOT_FOUND, FAILED_PRECONDITION (already
  // revoked), UNAVAILABLE (write failed).
  absl::StatusOr<hashmatch::v1::Principal> Revoke(absl::string_view name);

  // In name order.
  std::vector<hashmatch::v1::Principal> List(bool include_revoked) const;

  // The principal named `name` (revoked ones too); nullopt when unknown.
  std::optional<hashmatch::v1::Principal> Find(absl::string_view name) const;

  // The principal whose token is `token` (revoked ones too: the caller
  // decides), comparing against every stored digest in constant time.
  std::optional<hashmatch::v1::Principal> FindByToken(
      absl::string_view token) const;

  // True if some principal that is not revoked has the admin role.
  bool HasActiveAdmin() const;

  size_t size() const;

 private:
  struct Record {
    hashmatch::v1::Principal principal;
    std::string token_digest;  // 32 bytes, or empty.
  };
  using Table = std::map<std::string, Record, std::less<>>;

  PrincipalStore(std::string dir, PrincipalStoreOptions options);
  absl::Status Load();
  // Writes `table` durably (see Storage above).
  absl::Status Persist(const Table& table) const;
  int64_t Now() const;

  const std::string dir_;
  const std::string path_;
  const PrincipalStoreOptions options_;
  mutable std::shared_mutex mu_;
  Table table_;  // GUARDED_BY(mu_)
  // Token digests packed back to back for the constant-time scan
  // (server::FindDigestConstantTime), with the name each belongs to.
  // GUARDED_BY(mu_).
  std::string digests_;
  std::vector<std::string> digest_owners_;
  std::mutex write_mu_;  // Serializes Add/Revoke (read-modify-persist).
};

// Reads and writes the file format above (exposed for tests).
std::string EncodePrincipalTable(
    const std::vector<std::pair<hashmatch::v1::Principal, std::string>>&
        records);
absl::StatusOr<std::vector<std::pair<hashmatch::v1::Principal, std::string>>>
DecodePrincipalTable(absl::string_view bytes);

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_PRINCIPAL_STORE_H_
