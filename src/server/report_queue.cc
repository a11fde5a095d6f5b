#include "src/server/report_queue.h"

#include <openssl/rand.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "index/store/private_env.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace server {

namespace v1 = ::hashmatch::v1;

namespace {

constexpr char kQueueIdKey[] = "m:queue_id";
constexpr char kNextKey[] = "m:next";

std::string ItemKey(uint64_t seq) {
  std::string k(1, 'q');
  for (int shift = 56; shift >= 0; shift -= 8) {
    k.push_back(static_cast<char>((seq >> shift) & 0xff));
  }
  return k;
}

uint64_t ItemSeq(const rocksdb::Slice& key) {
  uint64_t v = 0;
  for (int i = 1; i <= 8; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  return v;
}

bool IsItemKey(const rocksdb::Slice& key) {
  return key.size() == 9 && key[0] == 'q';
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(what, ": ", s.ToString()));
  }
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

struct ReportQueue::Writer {
  v1::MatchReport* report = nullptr;
  bool done = false;
  absl::Status status;
};

absl::StatusOr<std::unique_ptr<ReportQueue>> ReportQueue::Open(
    const std::string& dir, const ReportQueueOptions& options) {
  if (options.max_reports < 1 || options.max_group < 1) {
    return absl::InvalidArgumentError(
        "report queue max_reports and max_group must be >= 1");
  }
  rocksdb::Options o;
  o.create_if_missing = true;
  // Queued reports hold platforms' content references: owner-only files.
  o.env = PrivateRocksEnv();
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, dir, &raw),
                            absl::StrCat("opening report queue ", dir)));
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string id;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kQueueIdKey, &id);
  if (s.IsNotFound()) {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return absl::InternalError("no entropy for the report queue id");
    }
    id = absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(bytes), 8));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(
        FromRocks(db->Put(wo, kQueueIdKey, id), "writing the queue id"));
  } else {
    RETURN_IF_ERROR(FromRocks(s, "reading the queue id"));
  }
  bool any = false;
  uint64_t first_item = 0, last_item = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions()));
    it->Seek(ItemKey(0));
    if (it->Valid() && IsItemKey(it->key())) {
      any = true;
      first_item = ItemSeq(it->key());
      it->SeekForPrev(ItemKey(~uint64_t{0}));
      last_item = ItemSeq(it->key());
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scanning the report queue"));
  }
  // Sequences continue after the last one ever used, even when the queue was
  // emptied (a reused key would be taken for a redelivery and dropped).
  uint64_t next = any ? last_item + 1 : 1;
  std::string used;
  s = db->Get(rocksdb::ReadOptions(), kNextKey, &used);
  if (s.ok() && used.size() == 9) {
    next = std::max(next, ItemSeq(used));
  } else if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "reading the next queue sequence"));
  }
  const uint64_t first = any ? first_item : next;
  return std::unique_ptr<ReportQueue>(
      new ReportQueue(std::move(db), options, id, first, next));
}

ReportQueue::ReportQueue(std::unique_ptr<rocksdb::DB> db,
                         const ReportQueueOptions& o, std::string queue_id,
                         uint64_t first, uint64_t next)
    : db_(std::move(db)),
      options_(o),
      queue_id_(std::move(queue_id)),
      first_(first),
      next_(next) {}

ReportQueue::~ReportQueue() = default;

absl::Status ReportQueue::Append(v1::MatchReport report) {
  Writer w;
  w.report = &report;
  std::unique_lock<std::mutex> lock(mu_);
  if (static_cast<int64_t>(next_ - first_ + writers_.size()) >=
      options_.max_reports) {
    return absl::ResourceExhaustedError(
        absl::StrCat("report queue full (", options_.max_reports,
                     " reports waiting for delivery)"));
  }
  writers_.push_back(&w);
  cv_.wait(lock, [&] { return w.done || writers_.front() == &w; });
  if (w.done) return w.status;
  // The leader: commit everything queued behind it, up to max_group.
  std::vector<Writer*> group;
  rocksdb::WriteBatch batch;
  uint64_t seq = next_;
  for (Writer* x : writers_) {
    if (static_cast<int>(group.size()) == options_.max_group) break;
    x->report->set_report_key(absl::StrCat(queue_id_, ":", seq));
    batch.Put(ItemKey(seq), x->report->SerializeAsString());
    group.push_back(x);
    ++seq;
  }
  batch.Put(kNextKey, ItemKey(seq));
  lock.unlock();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  const absl::Status status =
      FromRocks(db_->Write(wo, &batch), "writing the report queue");
  lock.lock();
  if (status.ok()) {
    next_ = seq;
    ++commits_;
  }
  for (Writer* x : group) {
    writers_.pop_front();
    x->status = status;
    x->done = true;
  }
  cv_.notify_all();
  return w.status;
}

absl::StatusOr<std::vector<ReportQueue::Item>> ReportQueue::Peek(
    int max) const {
  std::vector<Item> items;
  uint64_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = first_;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ItemKey(first)); it->Valid() && IsItemKey(it->key()) &&
                                 static_cast<int>(items.size()) < max;
       it->Next()) {
    Item& item = items.emplace_back();
    item.sequence = ItemSeq(it->key());
    if (!item.report.ParseFromArray(it->value().data(),
                                    static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("queued report ", item.sequence, " does not parse"));
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the report queue"));
  return items;
}

absl::Status ReportQueue::Remove(uint64_t through) {
  std::lock_guard<std::mutex> lock(mu_);
  if (through < first_) return absl::OkStatus();
  const uint64_t end = std::min(through + 1, next_);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(ItemKey(first_), ItemKey(end));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  RETURN_IF_ERROR(
      FromRocks(db_->Write(wo, &batch), "removing delivered reports"));
  first_ = end;
  return absl::OkStatus();
}

int64_t ReportQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(next_ - first_);
}

int64_t ReportQueue::commits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}

}  // namespace server
}  // namespace hashmatch
