// ReportQueue: the match server's durable local queue of MATCH reports
// (RocksDB in the directory of --report_queue), drained by the report sender
// to the ingestion server's ReportService.
//
//   ReportQueueOptions options;
//   options.max_reports = 100000;
//   absl::StatusOr<std::unique_ptr<ReportQueue>> queue =
//       ReportQueue::Open("/var/lib/hashmatch/reports", options);
//   absl::Status s = (*queue)->Append(report);   // durable when OK
//   std::vector<ReportQueue::Item> batch = (*queue)->Peek(100);
//   ... deliver; after the ack:
//   (*queue)->Remove(batch.back().sequence);
//
// Append assigns the report's local sequence (1, 2, ... across restarts) and
// its report_key "<queue id>:<sequence>", where the queue id is 16 random hex
// digits drawn when the directory is created and kept in it: keys stay unique
// across restarts and match servers, and a redelivery carries the same key
// (the ingestion server stores it once).
//
// Durability and group commit: Append returns OK only after the report is in
// a synced RocksDB write (options.sync, default true), so a caller that
// answers after Append never answers a MATCH whose report a crash can lose.
// Concurrent Appends are committed together: the first waiting caller writes
// every report queued behind it in one synced WriteBatch while the others
// wait, so N concurrent MATCH calls cost about one fsync, not N.
//
// Bound: at most max_reports reports are queued (delivered ones are removed);
// an Append beyond it returns RESOURCE_EXHAUSTED at once and stores nothing
// (it never blocks). Removal is by sequence prefix: Remove(s) deletes every
// report with sequence <= s, after the ingestion server acknowledged them.
//
// Thread safety: all methods may be called concurrently.
#ifndef HASHMATCH_SRC_SERVER_REPORT_QUEUE_H_
#define HASHMATCH_SRC_SERVER_REPORT_QUEUE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
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
namespace server {

struct ReportQueueOptions {
  // Reports queued at most; more are RESOURCE_EXHAUSTED. Default 100000.
  int64_t max_reports = 100000;
  // fsync each group commit. Default true.
  bool sync = true;
  // Reports written per group commit at most. Default 1024.
  int max_group = 1024;
};

class ReportQueue {
 public:
  struct Item {
    uint64_t sequence = 0;
    hashmatch::v1::MatchReport report;  // report_key set
  };

  // Creates `dir` if missing: 0700, its files 0600, whatever the umask
  // (PrivateRocksEnv, index/store/private_env.h).
  static absl::StatusOr<std::unique_ptr<ReportQueue>> Open(
      const std::string& dir, const ReportQueueOptions& options);
  ~ReportQueue();
  ReportQueue(const ReportQueue&) = delete;
  ReportQueue& operator=(const ReportQueue&) = delete;

  // Stores `report` durably (see above); sets its report_key.
  absl::Status Append(hashmatch::v1::MatchReport report);
  // Up to `max` of the oldest queued reports, oldest first.
  absl::StatusOr<std::vector<Item>> Peek(int max) const;
  // Deletes every queued report with sequence <= `through` (synced).
  absl::Status Remove(uint64_t through);

  int64_t size() const;
  const std::string& queue_id() const { return queue_id_; }
  // Group commits written (for tests and metrics).
  int64_t commits() const;

 private:
  struct Writer;
  ReportQueue(std::unique_ptr<rocksdb::DB> db, const ReportQueueOptions& o,
              std::string queue_id, uint64_t first, uint64_t next);

  const std::unique_ptr<rocksdb::DB> db_;
  const ReportQueueOptions options_;
  const std::string queue_id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  // Queued sequences are [first_, next_).
  uint64_t first_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_);
  int64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_REPORT_QUEUE_H_
