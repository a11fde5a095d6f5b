#include "index/store/hash_store.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "index/store/private_env.h"
#include "index/store/store_keys.h"
#include "openssl/evp.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Change;
using hashmatch::v1::Entry;
using hashmatch::v1::SignalType;
using hashmatch::v1::VettingState;
namespace keys = store_keys;

// The one conversion from rocksdb::Status to absl::Status.
absl::Status FromRocksStatus(const rocksdb::Status& s,
                             absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(context, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

bool IsKnownSignal(int v) {
  return v >= v1::SIGNAL_TYPE_PDQ && v <= v1::SIGNAL_TYPE_VPDQ;
}

absl::Status ValidateHash(SignalType signal, absl::string_view hash) {
  size_t want = HashLengthForSignal(signal);
  if (want == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown or unspecified signal type ", static_cast<int>(signal)));
  }
  if (hash.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(v1::SignalType_Name(signal), " hash must be ", want,
                     " bytes, got ", hash.size()));
  }
  return absl::OkStatus();
}

// A VPDQ entry carries 1..kMaxVideoFramesPerEntry frames of 32-byte PDQ and
// quality 0..100, and its hash is their VideoFramesDigest; other entries
// carry no frames.
absl::Status ValidateVideoFrames(const Entry& e) {
  if (e.signal_type() != v1::SIGNAL_TYPE_VPDQ) {
    if (e.video_frames_size() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("video_frames are only for SIGNAL_TYPE_VPDQ entries, "
                       "not ",
                       v1::SignalType_Name(e.signal_type())));
    }
    return absl::OkStatus();
  }
  if (e.video_frames_size() < 1 ||
      e.video_frames_size() > kMaxVideoFramesPerEntry) {
    return absl::InvalidArgumentError(
        absl::StrCat("a VPDQ entry needs 1..", kMaxVideoFramesPerEntry,
                     " video_frames, got ", e.video_frames_size()));
  }
  for (int i = 0; i < e.video_frames_size(); ++i) {
    absl::Status frame = ValidateVideoFrame(e.video_frames(i));
    if (!frame.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("video frame ", i, ": ", frame.message()));
    }
  }
  if (e.hash() != VideoFramesDigest(e.video_frames())) {
    return absl::InvalidArgumentError(
        "a VPDQ entry's hash must be the SHA-256 of its frames' PDQ bytes "
        "(VideoFramesDigest)");
  }
  return absl::OkStatus();
}

absl::Status ValidateForPut(const Entry& e) {
  RETURN_IF_ERROR(ValidateHash(e.signal_type(), e.hash()));
  RETURN_IF_ERROR(ValidateVideoFrames(e));
  if (e.state() != v1::VETTING_STATE_PENDING &&
      e.state() != v1::VETTING_STATE_ACTIVE &&
      e.state() != v1::VETTING_STATE_DISPUTED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry state must be PENDING, ACTIVE or DISPUTED (use Retract to "
        "retract), got ",
        v1::VettingState_Name(e.state())));
  }
  if (e.has_retraction()) {
    return absl::InvalidArgumentError(
        "entry has a retraction but is not being retracted");
  }
  return absl::OkStatus();
}

absl::Status ReadOnlyError() {
  return absl::FailedPreconditionError(
      "hash store was opened read-only (StoreOptions::read_only)");
}

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

class RocksHashStore : public HashStore {
 public:
  RocksHashStore(const StoreOptions& options, std::unique_ptr<rocksdb::DB> db,
                 std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : options_(options), db_(std::move(db)), handles_(std::move(handles)) {
    default_cf_ = handles_[0];
    entries_ = handles_[1];
    hashes_ = handles_[2];
    external_ = handles_[3];
    changes_ = handles_[4];
    meta_ = handles_[5];
    write_options_.sync = options_.sync;
  }

  ~RocksHashStore() override {
    // Flush so the next open need not replay the WAL (best effort: the WAL
    // already holds every committed write).
    if (!options_.read_only) {
      db_->Flush(rocksdb::FlushOptions(), handles_).PermitUncheckedError();
    }
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      db_->DestroyColumnFamilyHandle(h);
    }
    db_->Close().PermitUncheckedError();
  }

  // Reads or initializes meta. Called once by Open.
  absl::Status LoadMeta();

  absl::StatusOr<std::vector<Entry>> Put(
      absl::Span<const Entry> entries) override;
  absl::StatusOr<Entry> Retract(uint64_t id, absl::string_view retracted_by,
                                absl::string_view reason) override;
  absl::StatusOr<Entry> Get(uint64_t id) const override;
  absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const override;
  absl::StatusOr<std::vector<Entry>> LookupHash(
      SignalType signal_type, absl::string_view hash) const override;
  absl::StatusOr<uint64_t> ForEachActive(
      SignalType signal_type, const ActiveCallback& callback) const override;
  absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const override;
  absl::StatusOr<std::vector<Change>> ChangesSince(uint64_t after,
                                                   size_t limit) const override;
  uint64_t LastSequence() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_sequence_;
  }
  absl::StatusOr<StoreStats> Stats() const override;
  absl::StatusOr<std::unique_ptr<EntryCursor>> NewEntryCursor(
      uint64_t after_id) const override;
  absl::StatusOr<StoreDigest> Digest() const override;
  absl::Status ApplyChanges(absl::Span<const Change> changes) override;
  absl::Status BeginSnapshot(uint64_t sequence) override;
  absl::Status AddSnapshotEntries(absl::Span<const Entry> entries) override;
  absl::Status FinishSnapshot(uint64_t sequence, uint64_t entry_count) override;

 private:
  // Calls options_.on_commit, if set. REQUIRES: mu_ not held.
  void NotifyCommit(uint64_t sequence) const {
    if (options_.on_commit) options_.on_commit(sequence);
  }
  int64_t Now() const {
    if (options_.now_micros) return options_.now_micros();
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // A snapshot holding exactly the changes up to the returned sequence.
  // Release with db_->ReleaseSnapshot.
  std::pair<const rocksdb::Snapshot*, uint64_t> SnapshotWithSequence() const {
    // Writers update last_sequence_ under mu_ after their batch commits, so
    // a snapshot taken under mu_ holds exactly the changes up to it.
    std::lock_guard<std::mutex> lock(mu_);
    return {db_->GetSnapshot(), last_sequence_};
  }

  // Reads the entry `id` at `snapshot` (nullptr: latest); nullopt if absent.
  absl::StatusOr<std::optional<Entry>> ReadEntry(
      uint64_t id, const rocksdb::Snapshot* snapshot = nullptr) const;
  absl::StatusOr<std::optional<uint64_t>> ReadExternal(
      absl::string_view agency, absl::string_view external_id) const;
  absl::StatusOr<std::optional<uint64_t>> ReadMetaU64(const char* key) const;
  void AddChange(rocksdb::WriteBatch* batch, uint64_t sequence,
                 Change::Kind kind, const Entry& entry);
  absl::Status Commit(rocksdb::WriteBatch* batch, absl::string_view what);

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* default_cf_;
  rocksdb::ColumnFamilyHandle* entries_;
  rocksdb::ColumnFamilyHandle* hashes_;
  rocksdb::ColumnFamilyHandle* external_;
  rocksdb::ColumnFamilyHandle* changes_;
  rocksdb::ColumnFamilyHandle* meta_;
  rocksdb::WriteOptions write_options_;

  mutable std::mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;

  // A snapshot being loaded (BeginSnapshot .. FinishSnapshot).
  struct SnapshotLoad {
    uint64_t sequence = 0;
    uint64_t last_id = 0;
    uint64_t entries = 0;
  };
  std::optional<SnapshotLoad> snapshot_load_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::optional<uint64_t>> RocksHashStore::ReadMetaU64(
    const char* key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksStatus(s, "reading store metadata"));
  std::optional<uint64_t> v = keys::DecodeId(value);
  if (!v.has_value()) {
    return absl::DataLossError(
        absl::StrCat("corrupt hash store: metadata value '", key, "' is ",
                     value.size(), " bytes, expected 8"));
  }
  return v;
}

absl::Status RocksHashStore::LoadMeta() {
  ASSIGN_OR_RETURN(std::optional<uint64_t> version,
                   ReadMetaU64(keys::kMetaSchemaVersion));
  if (!version.has_value() && options_.read_only) {
    return absl::FailedPreconditionError(
        "hash store is not initialized (no schema version) and was opened "
        "read-only");
  }
  if (!version.has_value()) {
    // A fresh store: no entries may exist yet.
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), entries_));
    it->SeekToFirst();
    RETURN_IF_ERROR(FromRocksStatus(it->status(), "scanning entries"));
    if (it->Valid()) {
      return absl::DataLossError(
          "corrupt hash store: entries exist but the schema version is "
          "missing");
    }
    rocksdb::WriteBatch batch;
    batch.Put(meta_, keys::kMetaSchemaVersion,
              keys::EncodeId(kHashStoreSchemaVersion));
    batch.Put(meta_, keys::kMetaNextId, keys::EncodeId(1));
    batch.Put(meta_, keys::kMetaLastSequence, keys::EncodeId(0));
    return Commit(&batch, "initializing store metadata");
  }
  if (*version > kHashStoreSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("hash store has schema version ", *version,
                     ", newer than version ", kHashStoreSchemaVersion,
                     " that this build supports; upgrade hashmatch"));
  }
  if (*version == 0) {
    return absl::DataLossError("corrupt hash store: schema version 0");
  }
  ASSIGN_OR_RETURN(std::optional<uint64_t> next_id,
                   ReadMetaU64(keys::kMetaNextId));
  ASSIGN_OR_RETURN(std::optional<uint64_t> last_sequence,
                   ReadMetaU64(keys::kMetaLastSequence));
  if (!next_id.has_value() || !last_sequence.has_value() || *next_id == 0) {
    return absl::DataLossError(
        "corrupt hash store: next_id or last_sequence metadata missing");
  }
  std::lock_guard<std::mutex> lock(mu_);
  next_id_ = *next_id;
  last_sequence_ = *last_sequence;
  return absl::OkStatus();
}

absl::Status RocksHashStore::Commit(rocksdb::WriteBatch* batch,
                                    absl::string_view what) {
  return FromRocksStatus(db_->Write(write_options_, batch), what);
}

absl::StatusOr<std::optional<Entry>> RocksHashStore::ReadEntry(
    uint64_t id, const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string value;
  rocksdb::Status s = db_->Get(ro, entries_, keys::EncodeId(id), &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksStatus(s, absl::StrCat("reading entry ", id)));
  Entry e;
  if (!e.ParseFromString(value)) {
    return absl::DataLossError(
        absl::StrCat("corrupt hash store: entry ", id, " does not parse"));
  }
  return e;
}

absl::StatusOr<std::optional<uint64_t>> RocksHashStore::ReadExternal(
    absl::string_view agency, absl::string_view external_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), external_,
                               keys::ExternalKey(agency, external_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksStatus(s, "reading external id"));
  std::optional<uint64_t> id = keys::DecodeId(value);
  if (!id.has_value()) {
    return absl::DataLossError("corrupt hash store: external id row");
  }
  return id;
}

void RocksHashStore::AddChange(rocksdb::WriteBatch* batch, uint64_t sequence,
                               Change::Kind kind, const Entry& entry) {
  Change change;
  change.set_sequence(sequence);
  change.set_kind(kind);
  *change.mutable_entry() = entry;
  batch->Put(changes_, keys::EncodeId(sequence), Serialize(change));
}

absl::StatusOr<std::vector<Entry>> RocksHashStore::Put(
    absl::Span<const Entry> entries) {
  if (options_.read_only) return ReadOnlyError();
  if (entries.size() > options_.max_batch_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch of ", entries.size(), " entries is over the limit ",
                     options_.max_batch_entries));
  }
  std::set<uint64_t> ids_in_batch;
  std::set<std::string> externals_in_batch;
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::Status s = ValidateForPut(entries[i]);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": ", s.message()));
    }
    if (entries[i].id() != 0 && !ids_in_batch.insert(entries[i].id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": id ", entries[i].id(),
                       " appears twice in one batch"));
    }
    if (!entries[i].external_id().empty() &&
        !externals_in_batch
             .insert(keys::ExternalKey(entries[i].source_agency(),
                                       entries[i].external_id()))
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": external id '", entries[i].external_id(),
                       "' of agency '", entries[i].source_agency(),
                       "' appears twice in one batch"));
    }
  }

  std::unique_lock<std::mutex> lock(mu_);
  if (snapshot_load_.has_value()) {
    return absl::FailedPreconditionError("a snapshot is being loaded");
  }
  const int64_t now = Now();
  uint64_t next_id = next_id_;
  uint64_t sequence = last_sequence_;
  rocksdb::WriteBatch batch;
  std::vector<Entry> stored;
  stored.reserve(entries.size());
  std::set<uint64_t> resolved_ids;
  for (const Entry& in : entries) {
    std::optional<Entry> old;
    if (in.id() != 0) {
      ASSIGN_OR_RETURN(old, ReadEntry(in.id()));
      if (!old.has_value()) {
        return absl::NotFoundError(absl::StrCat("no entry with id ", in.id()));
      }
    } else if (!in.external_id().empty()) {
      ASSIGN_OR_RETURN(std::optional<uint64_t> existing,
                       ReadExternal(in.source_agency(), in.external_id()));
      if (existing.has_value()) {
        ASSIGN_OR_RETURN(old, ReadEntry(*existing));
        if (!old.has_value()) {
          return absl::DataLossError(absl::StrCat(
              "corrupt hash store: external id maps to missing entry ",
              *existing));
        }
        if (old->state() == v1::VETTING_STATE_RETRACTED) old.reset();
      }
    }
    if (old.has_value() && old->state() == v1::VETTING_STATE_RETRACTED) {
      return absl::FailedPreconditionError(
          absl::StrCat("entry ", old->id(), " is retracted"));
    }

    Entry e = in;
    if (old.has_value() && !resolved_ids.insert(old->id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", old->id(), " is updated twice in one batch"));
    }
    if (old.has_value()) {
      e.set_id(old->id());
      e.set_created_at_micros(old->created_at_micros());
      batch.Delete(hashes_,
                   keys::HashKey(old->signal_type(), old->hash(), old->id()));
      if (!old->external_id().empty() &&
          (old->source_agency() != e.source_agency() ||
           old->external_id() != e.external_id())) {
        batch.Delete(external_, keys::ExternalKey(old->source_agency(),
                                                  old->external_id()));
      }
    } else {
      e.set_id(next_id++);
      e.set_created_at_micros(now);
    }
    if (!e.external_id().empty()) {
      ASSIGN_OR_RETURN(std::optional<uint64_t> owner,
                       ReadExternal(e.source_agency(), e.external_id()));
      if (owner.has_value() && *owner != e.id()) {
        ASSIGN_OR_RETURN(std::optional<Entry> other, ReadEntry(*owner));
        if (other.has_value() &&
            other->state() != v1::VETTING_STATE_RETRACTED) {
          return absl::AlreadyExistsError(
              absl::StrCat("external id '", e.external_id(), "' of agency '",
                           e.source_agency(), "' belongs to entry ", *owner));
        }
      }
      batch.Put(external_,
                keys::ExternalKey(e.source_agency(), e.external_id()),
                keys::EncodeId(e.id()));
    }
    e.set_updated_at_micros(now);
    batch.Put(entries_, keys::EncodeId(e.id()), Serialize(e));
    batch.Put(hashes_, keys::HashKey(e.signal_type(), e.hash(), e.id()),
              std::string(1, static_cast<char>(e.state())));
    AddChange(&batch, ++sequence, Change::KIND_UPSERT, e);
    stored.push_back(std::move(e));
  }
  batch.Put(meta_, keys::kMetaNextId, keys::EncodeId(next_id));
  batch.Put(meta_, keys::kMetaLastSequence, keys::EncodeId(sequence));
  RETURN_IF_ERROR(Commit(&batch, "writing entries"));
  next_id_ = next_id;
  last_sequence_ = sequence;
  lock.unlock();
  NotifyCommit(sequence);
  return stored;
}

absl::StatusOr<Entry> RocksHashStore::Retract(uint64_t id,
                                              absl::string_view retracted_by,
                                              absl::string_view reason) {
  if (options_.read_only) return ReadOnlyError();
  std::unique_lock<std::mutex> lock(mu_);
  if (snapshot_load_.has_value()) {
    return absl::FailedPreconditionError("a snapshot is being loaded");
  }
  ASSIGN_OR_RETURN(std::optional<Entry> old, ReadEntry(id));
  if (!old.has_value()) {
    return absl::NotFoundError(absl::StrCat("no entry with id ", id));
  }
  if (old->state() == v1::VETTING_STATE_RETRACTED) {
    return absl::FailedPreconditionError(
        absl::StrCat("entry ", id, " is already retracted"));
  }
  const int64_t now = Now();
  Entry e = *std::move(old);
  v1::Retraction* r = e.mutable_retraction();
  r->set_retracted_by(std::string(retracted_by));
  r->set_retracted_at_micros(now);
  r->set_reason(std::string(reason));
  r->set_previous_state(e.state());
  e.set_state(v1::VETTING_STATE_RETRACTED);
  e.set_updated_at_micros(now);

  const uint64_t sequence = last_sequence_ + 1;
  rocksdb::WriteBatch batch;
  batch.Put(entries_, keys::EncodeId(id), Serialize(e));
  batch.Delete(hashes_, keys::HashKey(e.signal_type(), e.hash(), id));
  AddChange(&batch, sequence, Change::KIND_RETRACT, e);
  batch.Put(meta_, keys::kMetaLastSequence, keys::EncodeId(sequence));
  RETURN_IF_ERROR(Commit(&batch, "retracting entry"));
  last_sequence_ = sequence;
  lock.unlock();
  NotifyCommit(sequence);
  return e;
}

absl::StatusOr<Entry> RocksHashStore::Get(uint64_t id) const {
  ASSIGN_OR_RETURN(std::optional<Entry> e, ReadEntry(id));
  if (!e.has_value()) {
    return absl::NotFoundError(absl::StrCat("no entry with id ", id));
  }
  return *std::move(e);
}

absl::StatusOr<uint64_t> RocksHashStore::FindExternal(
    absl::string_view agency, absl::string_view external_id) const {
  ASSIGN_OR_RETURN(std::optional<uint64_t> id,
                   ReadExternal(agency, external_id));
  if (!id.has_value()) {
    return absl::NotFoundError(absl::StrCat("no entry for external id '",
                                            external_id, "' of agency '",
                                            agency, "'"));
  }
  return *id;
}

absl::StatusOr<std::vector<Entry>> RocksHashStore::LookupHash(
    SignalType signal_type, absl::string_view hash) const {
  RETURN_IF_ERROR(ValidateHash(signal_type, hash));
  const std::string prefix = keys::HashPrefix(signal_type, hash);
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::vector<uint64_t> ids;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, hashes_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      rocksdb::Slice key = it->key();
      key.remove_prefix(prefix.size());
      std::optional<uint64_t> id =
          keys::DecodeId(absl::string_view(key.data(), key.size()));
      if (!id.has_value()) {
        db_->ReleaseSnapshot(snapshot);
        return absl::DataLossError("corrupt hash store: bad hash row key");
      }
      ids.push_back(*id);
    }
    absl::Status s = FromRocksStatus(it->status(), "scanning hashes");
    if (!s.ok()) {
      db_->ReleaseSnapshot(snapshot);
      return s;
    }
  }
  std::vector<Entry> out;
  absl::Status status;
  for (uint64_t id : ids) {
    absl::StatusOr<std::optional<Entry>> e = ReadEntry(id, snapshot);
    if (!e.ok()) {
      status = e.status();
      break;
    }
    if (!e->has_value()) {
      status = absl::DataLossError(
          absl::StrCat("corrupt hash store: hash row for missing entry ", id));
      break;
    }
    out.push_back(**std::move(e));
  }
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<uint64_t> RocksHashStore::ForEachActive(
    SignalType signal_type, const ActiveCallback& callback) const {
  if (!IsKnownSignal(signal_type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown or unspecified signal type ", static_cast<int>(signal_type)));
  }
  const size_t hash_len = HashLengthForSignal(signal_type);
  const auto [snapshot, sequence] = SnapshotWithSequence();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  // A full scan: read ahead, and leave the block cache to point reads.
  ro.readahead_size = 2 << 20;
  ro.fill_cache = false;
  const std::string prefix = keys::SignalPrefix(signal_type);
  absl::Status status;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, hashes_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      rocksdb::Slice key = it->key();
      rocksdb::Slice value = it->value();
      if (key.size() != 1 + hash_len + 8 || value.size() != 1) {
        status = absl::DataLossError("corrupt hash store: bad hash row");
        break;
      }
      if (static_cast<uint8_t>(value[0]) != v1::VETTING_STATE_ACTIVE) continue;
      absl::string_view hash(key.data() + 1, hash_len);
      uint64_t id =
          *keys::DecodeId(absl::string_view(key.data() + 1 + hash_len, 8));
      status = callback(id, hash);
      if (!status.ok()) break;
    }
    if (status.ok()) status = FromRocksStatus(it->status(), "scanning hashes");
  }
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return sequence;
}

absl::StatusOr<uint64_t> RocksHashStore::ForEachEntry(
    uint64_t after_id, const EntryCallback& callback) const {
  const auto [snapshot, sequence] = SnapshotWithSequence();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.readahead_size = 2 << 20;
  ro.fill_cache = false;
  absl::Status status;
  if (after_id != UINT64_MAX) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, entries_));
    Entry e;
    for (it->Seek(keys::EncodeId(after_id + 1)); it->Valid(); it->Next()) {
      std::optional<uint64_t> id =
          keys::DecodeId(absl::string_view(it->key().data(), it->key().size()));
      if (!id.has_value() ||
          !e.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size())) ||
          e.id() != *id) {
        status = absl::DataLossError(
            "corrupt hash store: entry row does not parse or has the wrong "
            "id");
        break;
      }
      status = callback(e);
      if (!status.ok()) break;
    }
    if (status.ok()) status = FromRocksStatus(it->status(), "scanning entries");
  }
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return sequence;
}

absl::StatusOr<std::vector<Change>> RocksHashStore::ChangesSince(
    uint64_t after, size_t limit) const {
  std::vector<Change> out;
  if (limit == 0 || after == UINT64_MAX) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), changes_));
  for (it->Seek(keys::EncodeId(after + 1)); it->Valid() && out.size() < limit;
       it->Next()) {
    Change c;
    if (!c.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          "corrupt hash store: change record does not parse");
    }
    out.push_back(std::move(c));
  }
  RETURN_IF_ERROR(FromRocksStatus(it->status(), "scanning changes"));
  return out;
}

absl::StatusOr<StoreStats> RocksHashStore::Stats() const {
  StoreStats stats;
  const rocksdb::Snapshot* snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot = db_->GetSnapshot();
    stats.last_sequence = last_sequence_;
    stats.next_id = next_id_;
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  absl::Status status;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, entries_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Entry e;
      if (!e.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size()))) {
        status =
            absl::DataLossError("corrupt hash store: entry does not parse");
        break;
      }
      int signal = e.signal_type();
      int state = e.state();
      if (signal >= 0 && signal < StoreStats::kNumSignalTypes && state >= 0 &&
          state < StoreStats::kNumStates) {
        ++stats.counts[signal][state];
      }
      ++stats.total_entries;
    }
    if (status.ok()) status = FromRocksStatus(it->status(), "scanning entries");
  }
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return stats;
}

class RocksEntryCursor : public HashStore::EntryCursor {
 public:
  RocksEntryCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* entries,
                   const rocksdb::Snapshot* snapshot, uint64_t sequence,
                   uint64_t after_id)
      : db_(db), snapshot_(snapshot), sequence_(sequence) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    ro.readahead_size = 2 << 20;
    ro.fill_cache = false;
    it_.reset(db_->NewIterator(ro, entries));
    if (after_id == UINT64_MAX) {
      done_ = true;
    } else {
      it_->Seek(keys::EncodeId(after_id + 1));
    }
  }
  ~RocksEntryCursor() override {
    it_.reset();
    db_->ReleaseSnapshot(snapshot_);
  }
  uint64_t sequence() const override { return sequence_; }
  absl::StatusOr<std::optional<Entry>> Next() override {
    if (done_) return std::nullopt;
    if (!it_->Valid()) {
      done_ = true;
      RETURN_IF_ERROR(FromRocksStatus(it_->status(), "scanning entries"));
      return std::nullopt;
    }
    Entry e;
    std::optional<uint64_t> id =
        keys::DecodeId(absl::string_view(it_->key().data(), it_->key().size()));
    if (!id.has_value() ||
        !e.ParseFromArray(it_->value().data(),
                          static_cast<int>(it_->value().size())) ||
        e.id() != *id) {
      done_ = true;
      return absl::DataLossError(
          "corrupt hash store: entry row does not parse or has the wrong id");
    }
    it_->Next();
    return e;
  }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
  uint64_t sequence_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool done_ = false;
};

// Entry validation shared by snapshot loading and change application.
absl::Status ValidateReplicaEntry(const Entry& e) {
  if (e.id() == 0) return absl::InvalidArgumentError("entry has no id");
  RETURN_IF_ERROR(ValidateHash(e.signal_type(), e.hash()));
  RETURN_IF_ERROR(ValidateVideoFrames(e));
  if (e.state() < v1::VETTING_STATE_PENDING ||
      e.state() > v1::VETTING_STATE_RETRACTED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry ", e.id(), " has invalid state ", static_cast<int>(e.state())));
  }
  if ((e.state() == v1::VETTING_STATE_RETRACTED) != e.has_retraction()) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry ", e.id(),
                     ": a retraction must be set exactly when the state is "
                     "RETRACTED"));
  }
  return absl::OkStatus();
}

std::string SerializeDeterministic(const Entry& e) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<HashStore::EntryCursor>>
RocksHashStore::NewEntryCursor(uint64_t after_id) const {
  const auto [snapshot, sequence] = SnapshotWithSequence();
  return std::unique_ptr<EntryCursor>(std::make_unique<RocksEntryCursor>(
      db_.get(), entries_, snapshot, sequence, after_id));
}

absl::StatusOr<StoreDigest> RocksHashStore::Digest() const {
  ASSIGN_OR_RETURN(std::unique_ptr<EntryCursor> cursor, NewEntryCursor(0));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  if (ctx == nullptr ||
      EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("OpenSSL SHA-256 init failed");
  }
  StoreDigest digest;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<Entry> e, cursor->Next());
    if (!e.has_value()) break;
    const std::string bytes = SerializeDeterministic(*e);
    const std::string len = keys::EncodeId(bytes.size());
    EVP_DigestUpdate(ctx.get(), len.data(), len.size());
    EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
    ++digest.entries;
  }
  digest.last_sequence = cursor->sequence();
  const std::string seq = keys::EncodeId(digest.last_sequence);
  EVP_DigestUpdate(ctx.get(), seq.data(), seq.size());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1 || md_len != 32) {
    return absl::InternalError("OpenSSL SHA-256 final failed");
  }
  digest.sha256.assign(reinterpret_cast<const char*>(md), md_len);
  return digest;
}

absl::Status RocksHashStore::ApplyChanges(absl::Span<const Change> changes) {
  if (options_.read_only) return ReadOnlyError();
  if (changes.size() > options_.max_batch_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch of ", changes.size(), " changes is over the limit ",
                     options_.max_batch_entries));
  }
  if (changes.empty()) return absl::OkStatus();
  std::unique_lock<std::mutex> lock(mu_);
  if (snapshot_load_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot apply changes from sequence ",
                     changes[0].sequence(), " while a snapshot at sequence ",
                     snapshot_load_->sequence, " is being loaded"));
  }
  uint64_t sequence = last_sequence_;
  uint64_t next_id = next_id_;
  rocksdb::WriteBatch batch;
  // Entries as written earlier in this batch (a batch may change one entry
  // several times).
  std::map<uint64_t, Entry> written;
  for (const Change& c : changes) {
    if (c.sequence() != sequence + 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "change sequence ", c.sequence(), " does not follow the store's ",
          c.sequence() == changes[0].sequence() ? "last sequence "
                                                : "previous change ",
          sequence, " (expected ", sequence + 1, ")"));
    }
    const Entry& e = c.entry();
    absl::Status valid = ValidateReplicaEntry(e);
    if (valid.ok() && c.kind() == Change::KIND_UPSERT &&
        e.state() == v1::VETTING_STATE_RETRACTED) {
      valid = absl::InvalidArgumentError("UPSERT of a RETRACTED entry");
    } else if (valid.ok() && c.kind() == Change::KIND_RETRACT &&
               e.state() != v1::VETTING_STATE_RETRACTED) {
      valid = absl::InvalidArgumentError("RETRACT of an entry not RETRACTED");
    } else if (valid.ok() && c.kind() != Change::KIND_UPSERT &&
               c.kind() != Change::KIND_RETRACT) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("unknown change kind ", static_cast<int>(c.kind())));
    }
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("change ", c.sequence(), ": ", valid.message()));
    }
    std::optional<Entry> old;
    if (auto it = written.find(e.id()); it != written.end()) {
      old = it->second;
    } else {
      ASSIGN_OR_RETURN(old, ReadEntry(e.id()));
    }
    if (old.has_value()) {
      batch.Delete(hashes_,
                   keys::HashKey(old->signal_type(), old->hash(), old->id()));
      if (c.kind() == Change::KIND_UPSERT && !old->external_id().empty() &&
          (old->source_agency() != e.source_agency() ||
           old->external_id() != e.external_id())) {
        batch.Delete(external_, keys::ExternalKey(old->source_agency(),
                                                  old->external_id()));
      }
    }
    if (c.kind() == Change::KIND_UPSERT) {
      if (!e.external_id().empty()) {
        batch.Put(external_,
                  keys::ExternalKey(e.source_agency(), e.external_id()),
                  keys::EncodeId(e.id()));
      }
      batch.Put(hashes_, keys::HashKey(e.signal_type(), e.hash(), e.id()),
                std::string(1, static_cast<char>(e.state())));
    } else {
      batch.Delete(hashes_, keys::HashKey(e.signal_type(), e.hash(), e.id()));
    }
    batch.Put(entries_, keys::EncodeId(e.id()), Serialize(e));
    batch.Put(changes_, keys::EncodeId(c.sequence()), Serialize(c));
    written[e.id()] = e;
    next_id = std::max(next_id, e.id() + 1);
    sequence = c.sequence();
  }
  batch.Put(meta_, keys::kMetaNextId, keys::EncodeId(next_id));
  batch.Put(meta_, keys::kMetaLastSequence, keys::EncodeId(sequence));
  RETURN_IF_ERROR(Commit(&batch, "applying changes"));
  next_id_ = next_id;
  last_sequence_ = sequence;
  lock.unlock();
  NotifyCommit(sequence);
  return absl::OkStatus();
}

absl::Status RocksHashStore::BeginSnapshot(uint64_t sequence) {
  if (options_.read_only) return ReadOnlyError();
  std::lock_guard<std::mutex> lock(mu_);
  if (last_sequence_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load a snapshot at sequence ", sequence,
                     " into a store that is not empty (last sequence ",
                     last_sequence_, ")"));
  }
  // Rows left by an interrupted load (nothing was committed: the sequence
  // is still 0).
  rocksdb::WriteBatch batch;
  for (rocksdb::ColumnFamilyHandle* cf :
       {entries_, hashes_, external_, changes_}) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      batch.Delete(cf, it->key());
    }
    RETURN_IF_ERROR(FromRocksStatus(it->status(), "scanning for old rows"));
  }
  batch.Put(meta_, keys::kMetaNextId, keys::EncodeId(1));
  RETURN_IF_ERROR(Commit(&batch, "starting a snapshot load"));
  next_id_ = 1;
  snapshot_load_ = SnapshotLoad{sequence, 0, 0};
  return absl::OkStatus();
}

absl::Status RocksHashStore::AddSnapshotEntries(
    absl::Span<const Entry> entries) {
  if (options_.read_only) return ReadOnlyError();
  std::lock_guard<std::mutex> lock(mu_);
  if (!snapshot_load_.has_value()) {
    return absl::FailedPreconditionError(
        "snapshot entries without BeginSnapshot");
  }
  uint64_t last_id = snapshot_load_->last_id;
  rocksdb::WriteBatch batch;
  // External rows as decided earlier in this batch.
  std::map<std::string, Entry> owners;
  for (const Entry& e : entries) {
    absl::Status valid = ValidateReplicaEntry(e);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot entry: ", valid.message()));
    }
    if (e.id() <= last_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot entry id ", e.id(),
                       " does not follow the previous id ", last_id));
    }
    last_id = e.id();
    batch.Put(entries_, keys::EncodeId(e.id()), Serialize(e));
    if (e.state() != v1::VETTING_STATE_RETRACTED) {
      batch.Put(hashes_, keys::HashKey(e.signal_type(), e.hash(), e.id()),
                std::string(1, static_cast<char>(e.state())));
    }
    if (e.external_id().empty()) continue;
    const std::string key =
        keys::ExternalKey(e.source_agency(), e.external_id());
    std::optional<Entry> owner;
    if (auto it = owners.find(key); it != owners.end()) {
      owner = it->second;
    } else {
      ASSIGN_OR_RETURN(std::optional<uint64_t> owner_id,
                       ReadExternal(e.source_agency(), e.external_id()));
      if (owner_id.has_value()) {
        ASSIGN_OR_RETURN(owner, ReadEntry(*owner_id));
      }
    }
    auto live = [](const Entry& x) {
      return x.state() != v1::VETTING_STATE_RETRACTED;
    };
    const bool wins = !owner.has_value() || (live(e) && !live(*owner)) ||
                      (live(e) == live(*owner) &&
                       e.updated_at_micros() >= owner->updated_at_micros());
    if (wins) {
      batch.Put(external_, key, keys::EncodeId(e.id()));
      owners[key] = e;
    }
  }
  RETURN_IF_ERROR(Commit(&batch, "loading snapshot entries"));
  snapshot_load_->last_id = last_id;
  snapshot_load_->entries += entries.size();
  return absl::OkStatus();
}

absl::Status RocksHashStore::FinishSnapshot(uint64_t sequence,
                                            uint64_t entry_count) {
  if (options_.read_only) return ReadOnlyError();
  std::unique_lock<std::mutex> lock(mu_);
  if (!snapshot_load_.has_value()) {
    return absl::FailedPreconditionError(
        "FinishSnapshot without BeginSnapshot");
  }
  if (snapshot_load_->sequence != sequence) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot end at sequence ", sequence,
                     " but the snapshot began at ", snapshot_load_->sequence));
  }
  if (snapshot_load_->entries != entry_count) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot end says ", entry_count, " entries but ",
                     snapshot_load_->entries, " were loaded"));
  }
  const uint64_t next_id = snapshot_load_->last_id + 1;
  rocksdb::WriteBatch batch;
  batch.Put(meta_, keys::kMetaNextId, keys::EncodeId(next_id));
  batch.Put(meta_, keys::kMetaLastSequence, keys::EncodeId(sequence));
  RETURN_IF_ERROR(Commit(&batch, "finishing a snapshot load"));
  next_id_ = next_id;
  last_sequence_ = sequence;
  snapshot_load_.reset();
  lock.unlock();
  NotifyCommit(sequence);
  return absl::OkStatus();
}

}  // namespace

size_t HashLengthForSignal(SignalType signal_type) {
  switch (signal_type) {
    case v1::SIGNAL_TYPE_PDQ:
      return 32;
    case v1::SIGNAL_TYPE_PHASH:
    case v1::SIGNAL_TYPE_DHASH:
      return 8;
    case v1::SIGNAL_TYPE_MD5:
      return 16;
    case v1::SIGNAL_TYPE_SHA256:
    case v1::SIGNAL_TYPE_VPDQ:
      return 32;
    default:
      return 0;
  }
}

namespace {

// The PDQ and quality of a video frame or of one of its windows: "" when
// valid, else what is wrong.
std::string PdqAndQualityProblem(const std::string& pdq, int quality) {
  if (pdq.size() != 32) {
    return absl::StrCat("PDQ hash must be 32 bytes, got ", pdq.size());
  }
  if (quality < 0 || quality > 100) {
    return absl::StrCat("quality ", quality, " is outside 0..100");
  }
  return "";
}

}  // namespace

absl::Status ValidateVideoFrame(const v1::VideoFrame& frame) {
  if (std::string problem = PdqAndQualityProblem(frame.pdq(), frame.quality());
      !problem.empty()) {
    return absl::InvalidArgumentError(problem);
  }
  if (frame.windows_size() > kMaxVideoFrameWindows) {
    return absl::InvalidArgumentError(absl::StrCat(
        frame.windows_size(), " windows, at most ", kMaxVideoFrameWindows));
  }
  for (int k = 0; k < frame.windows_size(); ++k) {
    const v1::VideoFrameWindow& w = frame.windows(k);
    std::string problem = PdqAndQualityProblem(w.pdq(), w.quality());
    if (problem.empty() && (w.percent() < 1 || w.percent() > 99)) {
      problem = absl::StrCat("percent ", w.percent(), " is outside 1..99");
    }
    for (int j = 0; j < k && problem.empty(); ++j) {
      if (frame.windows(j).percent() == w.percent()) {
        problem = absl::StrCat("percent ", w.percent(), " repeats window ", j);
      }
    }
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("window ", k, ": ", problem));
    }
  }
  return absl::OkStatus();
}

std::string VideoFramesDigest(
    const google::protobuf::RepeatedPtrField<v1::VideoFrame>& frames) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (ctx == nullptr ||
      EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return std::string();
  }
  for (const v1::VideoFrame& f : frames) {
    EVP_DigestUpdate(ctx.get(), f.pdq().data(), f.pdq().size());
  }
  if (EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) return std::string();
  return std::string(reinterpret_cast<const char*>(md), md_len);
}

absl::StatusOr<std::unique_ptr<HashStore>> HashStore::Open(
    const StoreOptions& options, const std::string& path) {
  std::error_code ec;
  if (options.read_only && options.create_if_missing) {
    return absl::InvalidArgumentError(
        "StoreOptions: read_only requires create_if_missing = false");
  }
  if (!options.create_if_missing && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("no hash store at ", path, " (create_if_missing is off)"));
  }
  rocksdb::DBOptions db_options;
  // Owner-only directory and files, whatever the umask (private_env.h).
  db_options.env = PrivateRocksEnv();
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.paranoid_checks = true;
  // The small meta CF is written by every batch; without a cap the WAL
  // would be kept (and replayed at open) until every CF happens to flush.
  db_options.max_total_wal_size = options.max_total_wal_bytes;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name :
       {rocksdb::kDefaultColumnFamilyName.c_str(), keys::kEntriesCf,
        keys::kHashesCf, keys::kExternalCf, keys::kChangesCf, keys::kMetaCf}) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, path, cfs, &handles, &raw)
          : rocksdb::DB::Open(db_options, path, cfs, &handles, &raw);
  RETURN_IF_ERROR(
      FromRocksStatus(s, absl::StrCat("opening hash store at ", path)));
  auto store = std::make_unique<RocksHashStore>(
      options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
  absl::Status meta = store->LoadMeta();
  if (!meta.ok()) {
    return absl::Status(meta.code(), absl::StrCat(path, ": ", meta.message()));
  }
  return store;
}

}  // namespace hashmatch
