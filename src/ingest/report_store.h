// ReportStore: the ingestion server's durable store of match reports
// (DATA/reports, RocksDB), written only by ReportServiceImpl.
//
//   absl::StatusOr<std::unique_ptr<ReportStore>> store =
//       ReportStore::Open(data_dir + "/reports", ReportStoreOptions());
//   std::vector<v1::MatchReport> batch = ...;  // match_server, received_at set
//   absl::StatusOr<std::vector<uint64_t>> ids = (*store)->Append(batch);
//   (*store)->ForEachOfAgency("agency-a", 0, [](const v1::MatchReport& r) {
//     ...; return true;  // false stops
//   });
//
// Keys (one column family, one-byte prefixes, integers big-endian):
//   'r' id                         -> MatchReport (report_id set)
//   'k' match_server '\0' report_key -> id   (idempotency)
//   'e' entry_id id                -> ""     (reports matching an entry)
//   'a' len32 agency id            -> ""     (reports matching an agency's
//                                             entries)
// Ids are 1, 2, ... in append order; the next id is one past the largest
// stored at open. The idempotency key is scoped to the reporting match
// server's principal, so two match servers cannot collide or overwrite each
// other. Append writes one WriteBatch (synced unless options say otherwise):
// a batch is wholly stored or not at all.
//
// Thread safety: all methods may be called concurrently; Append calls are
// serialized by a mutex (id assignment and the idempotency check).
#ifndef HASHMATCH_SRC_INGEST_REPORT_STORE_H_
#define HASHMATCH_SRC_INGEST_REPORT_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/hashmatch/v1/ingest.pb.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace hashmatch {
namespace ingest {

struct ReportStoreOptions {
  // fsync every Append before it returns. Default true (the ack to the match
  // server means the report is on disk here).
  bool sync = true;
};

class ReportStore {
 public:
  // Creates `dir` if missing: 0700, its files 0600, whatever the umask
  // (PrivateRocksEnv, index/store/private_env.h).
  static absl::StatusOr<std::unique_ptr<ReportStore>> Open(
      const std::string& dir, const ReportStoreOptions& options);
  ~ReportStore();
  ReportStore(const ReportStore&) = delete;
  ReportStore& operator=(const ReportStore&) = delete;

  // Stores `reports` (report_id ignored; match_server and report_key must be
  // set) and returns their ids in order. A report whose (match_server,
  // report_key) is already stored, or repeats an earlier one of this batch,
  // gets the existing id and is not stored again (its content is not
  // compared).
  absl::StatusOr<std::vector<uint64_t>> Append(
      const std::vector<hashmatch::v1::MatchReport>& reports);

  absl::StatusOr<hashmatch::v1::MatchReport> Get(uint64_t id) const;
  // Largest stored id (0 when empty).
  uint64_t last_id() const;

  // Calls `fn` on the reports with id > after_id in id order until it
  // returns false: every report, those matching entry `entry_id`, or those
  // matching an entry of `agency`. Returns the iterator's status.
  using Visitor = std::function<bool(const hashmatch::v1::MatchReport&)>;
  absl::Status ForEach(uint64_t after_id, const Visitor& fn) const;
  absl::Status ForEachOfEntry(uint64_t entry_id, uint64_t after_id,
                              const Visitor& fn) const;
  absl::Status ForEachOfAgency(const std::string& agency, uint64_t after_id,
                               const Visitor& fn) const;

 private:
  ReportStore(std::unique_ptr<rocksdb::DB> db, const ReportStoreOptions& o,
              uint64_t last_id);
  absl::Status ForEachIndexed(const std::string& prefix, uint64_t after_id,
                              const Visitor& fn) const;

  const std::unique_ptr<rocksdb::DB> db_;
  const ReportStoreOptions options_;
  std::mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> last_id_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_REPORT_STORE_H_
