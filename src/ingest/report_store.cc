#include "src/ingest/report_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "index/store/private_env.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace ingest {

namespace v1 = ::hashmatch::v1;

namespace {

void PutBe64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t GetBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string ReportKey(uint64_t id) {
  std::string k(1, 'r');
  PutBe64(&k, id);
  return k;
}

std::string IdemKey(const std::string& match_server, const std::string& key) {
  return absl::StrCat("k", match_server, std::string(1, '\0'), key);
}

std::string EntryPrefix(uint64_t entry_id) {
  std::string k(1, 'e');
  PutBe64(&k, entry_id);
  return k;
}

std::string AgencyPrefix(const std::string& agency) {
  std::string k(1, 'a');
  const uint32_t n = static_cast<uint32_t>(agency.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    k.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  k += agency;
  return k;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(what);
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(what, ": ", s.ToString()));
  }
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReportStore>> ReportStore::Open(
    const std::string& dir, const ReportStoreOptions& options) {
  rocksdb::Options o;
  o.create_if_missing = true;
  // Reports hold platforms' content references: owner-only files.
  o.env = PrivateRocksEnv();
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, dir, &raw),
                            absl::StrCat("opening report store ", dir)));
  std::unique_ptr<rocksdb::DB> db(raw);
  uint64_t last = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions()));
    it->SeekForPrev(ReportKey(~uint64_t{0}));
    if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'r') {
      last = GetBe64(it->key().data() + 1);
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the last report id"));
  }
  return std::unique_ptr<ReportStore>(
      new ReportStore(std::move(db), options, last));
}

ReportStore::ReportStore(std::unique_ptr<rocksdb::DB> db,
                         const ReportStoreOptions& o, uint64_t last_id)
    : db_(std::move(db)),
      options_(o),
      next_id_(last_id + 1),
      last_id_(last_id) {}

ReportStore::~ReportStore() = default;

uint64_t ReportStore::last_id() const { return last_id_.load(); }

absl::StatusOr<std::vector<uint64_t>> ReportStore::Append(
    const std::vector<v1::MatchReport>& reports) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  ids.reserve(reports.size());
  std::map<std::string, uint64_t> in_batch;
  rocksdb::WriteBatch batch;
  uint64_t next = next_id_;
  for (const v1::MatchReport& in : reports) {
    if (in.report_key().empty() || in.match_server().empty()) {
      return absl::InvalidArgumentError(
          "a stored report needs report_key and match_server");
    }
    const std::string idem = IdemKey(in.match_server(), in.report_key());
    if (auto it = in_batch.find(idem); it != in_batch.end()) {
      ids.push_back(it->second);
      continue;
    }
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), idem, &value);
    if (s.ok() && value.size() == 8) {
      ids.push_back(GetBe64(value.data()));
      continue;
    }
    if (!s.IsNotFound()) {
      RETURN_IF_ERROR(FromRocks(s, "reading a report key"));
      return absl::DataLossError("report key index holds a malformed id");
    }
    const uint64_t id = next++;
    v1::MatchReport r = in;
    r.set_report_id(id);
    std::string id_bytes;
    PutBe64(&id_bytes, id);
    batch.Put(ReportKey(id), r.SerializeAsString());
    batch.Put(idem, id_bytes);
    std::set<uint64_t> entries;
    std::set<std::string> agencies;
    for (const v1::ReportedMatch& m : r.matches()) {
      entries.insert(m.entry_id());
      agencies.insert(m.source_agency());
    }
    for (uint64_t e : entries) batch.Put(EntryPrefix(e) + id_bytes, "");
    for (const std::string& a : agencies) {
      batch.Put(AgencyPrefix(a) + id_bytes, "");
    }
    in_batch[idem] = id;
    ids.push_back(id);
  }
  if (next != next_id_) {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "storing reports"));
    next_id_ = next;
    last_id_.store(next - 1);
  }
  return ids;
}

absl::StatusOr<v1::MatchReport> ReportStore::Get(uint64_t id) const {
  std::string value;
  RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), ReportKey(id), &value),
                absl::StrCat("report ", id)));
  v1::MatchReport r;
  if (!r.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("report ", id, " does not parse"));
  }
  return r;
}

absl::Status ReportStore::ForEach(uint64_t after_id, const Visitor& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ReportKey(after_id + 1)); it->Valid(); it->Next()) {
    if (it->key().size() != 9 || it->key()[0] != 'r') break;
    v1::MatchReport r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat(
          "report ", GetBe64(it->key().data() + 1), " does not parse"));
    }
    if (!fn(r)) return absl::OkStatus();
  }
  return FromRocks(it->status(), "scanning reports");
}

absl::Status ReportStore::ForEachIndexed(const std::string& prefix,
                                         uint64_t after_id,
                                         const Visitor& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  std::string start = prefix;
  PutBe64(&start, after_id + 1);
  for (it->Seek(start); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != prefix.size() + 8 || !k.starts_with(prefix)) break;
    ASSIGN_OR_RETURN(v1::MatchReport r, Get(GetBe64(k.data() + prefix.size())));
    if (!fn(r)) return absl::OkStatus();
  }
  return FromRocks(it->status(), "scanning a report index");
}

absl::Status ReportStore::ForEachOfEntry(uint64_t entry_id, uint64_t after_id,
                                         const Visitor& fn) const {
  return ForEachIndexed(EntryPrefix(entry_id), after_id, fn);
}

absl::Status ReportStore::ForEachOfAgency(const std::string& agency,
                                          uint64_t after_id,
                                          const Visitor& fn) const {
  return ForEachIndexed(AgencyPrefix(agency), after_id, fn);
}

}  // namespace ingest
}  // namespace hashmatch
