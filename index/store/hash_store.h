// HashStore: the vetted hash database on RocksDB. Entries (one per agency
// submission of a hash), an index from (signal type, hash) to entry ids, an
// (agency, external id) index, an append-only change log, and metadata with a
// schema version checked at open.
//
//   StoreOptions options;                       // sync = true, ...
//   ASSIGN_OR_RETURN(std::unique_ptr<HashStore> store,
//                    HashStore::Open(options, "/var/lib/hashmatch/store"));
//   hashmatch::v1::Entry e;
//   e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
//   e.set_hash(pdq_bytes);                      // 32 bytes
//   e.set_source_agency("hotline-a");
//   e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
//   ASSIGN_OR_RETURN(std::vector<hashmatch::v1::Entry> stored,
//                    store->Put({e}));          // stored[0].id() != 0
//   RETURN_IF_ERROR(store->Retract(stored[0].id(), "hotline-a", "mistake"));
//
// Writes. Put and Retract each commit ONE RocksDB WriteBatch through the WAL
// (fsynced when StoreOptions::sync): the entries, their hash and external
// rows, one Change per entry with consecutive sequences, and the new meta
// values. A crash leaves every call all-or-nothing.
//
// Retraction. Nothing is deleted. Retract rewrites the entry as a tombstone
// (state RETRACTED, `retraction` = who, when, why, previous state) and
// REMOVES its row from the `hashes` column family, so the searchable set
// (LookupHash, ForEachActive) never sees it; Get and the change log still do.
// The (agency, external id) row keeps pointing at the tombstone.
//
// Upsert rules for Put, per entry:
//   - id != 0: updates that entry (NOT_FOUND if absent, FAILED_PRECONDITION
//     if it is retracted);
//   - id == 0 and (source_agency, external_id) already maps to a live entry:
//     updates that entry (idempotent resubmission);
//   - otherwise creates a new entry with the next id (an external key that
//     maps to a tombstone is re-pointed to the new entry).
//   created_at is kept from the stored entry (set to now on create);
//   updated_at is now. `state` must be PENDING, ACTIVE or DISPUTED (use
//   Retract to retract); `retraction` must be unset; `hash` must have the
//   length of its signal type (PDQ 32, pHash/dHash 8, MD5 16, SHA-256 32).
//   One batch may not name the same id or external key twice.
//
// Errors: INVALID_ARGUMENT for bad input, RESOURCE_EXHAUSTED for a batch over
// StoreOptions::max_batch_entries, FAILED_PRECONDITION for a store written by
// a newer schema (both versions named), DATA_LOSS for a corrupt store. RocksDB
// statuses are converted in one place (FromRocksStatus in hash_store.cc).
//
// Replica writes. A follower of another store (the primary) keeps the
// primary's ids and sequences: BeginSnapshot / AddSnapshotEntries /
// FinishSnapshot fill an EMPTY store (LastSequence() == 0) with the entries
// of a snapshot taken at sequence S (NewEntryCursor or ForEachEntry on the
// primary), and ApplyChanges then applies the primary's change records
// S+1, S+2, ... A follower's change log therefore starts after S. Each
// ApplyChanges call and FinishSnapshot is one WriteBatch (all-or-nothing),
// and the applied sequence is the store's own last_sequence, persisted in
// the same batch as the data, so a restarted follower resumes from
// LastSequence() with no gap and no duplicate. A snapshot interrupted before
// FinishSnapshot leaves LastSequence() at 0; the next BeginSnapshot deletes
// its rows. Do not mix Put/Retract with replica writes on one store.
//
//   ASSIGN_OR_RETURN(auto store, HashStore::Open(options, dir));
//   if (store->LastSequence() == 0) {        // from WatchChanges messages:
//     RETURN_IF_ERROR(store->BeginSnapshot(s));
//     RETURN_IF_ERROR(store->AddSnapshotEntries(entries));   // repeated
//     RETURN_IF_ERROR(store->FinishSnapshot(s, entry_count));
//   }
//   RETURN_IF_ERROR(store->ApplyChanges(batch.changes()));  // repeated
//
// Commit listener. StoreOptions::on_commit is called after every committed
// write (Put, Retract, ApplyChanges, FinishSnapshot) with the new last
// sequence, so a change feed can push at once instead of polling.
//
// Digest() is a SHA-256 over every entry (tombstones included) in id order
// and the last sequence: two stores with equal digests hold the same
// entries at the same sequence (used to prove followers converge). It does
// not cover the change log (a follower's starts at its snapshot).
//
// Thread safety: all methods may be called concurrently. Writers are
// serialized by an internal mutex; readers do not take it (except
// LastSequence and the snapshot step of ForEachActive, ForEachEntry,
// NewEntryCursor and Digest, briefly). on_commit runs on the writing thread
// after the mutex is released: concurrent writers may call it concurrently
// and with sequences out of order, so treat it as a wake-up and read
// LastSequence()/ChangesSince for the data.
#ifndef HASHMATCH_INDEX_STORE_HASH_STORE_H_
#define HASHMATCH_INDEX_STORE_HASH_STORE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/hashmatch/v1/entry.pb.h"

namespace hashmatch {

// Schema version written by this code. Opening a store with a higher version
// fails with FAILED_PRECONDITION.
inline constexpr uint64_t kHashStoreSchemaVersion = 1;

struct StoreOptions {
  // Create the store (directory, column families, metadata) if it does not
  // exist. Default: true.
  bool create_if_missing = true;

  // fsync the WAL at every write batch (Put, Retract) before returning.
  // Default: true. false survives a process crash but not a power loss.
  bool sync = true;

  // Most entries accepted by one Put; more is RESOURCE_EXHAUSTED.
  // Default: 10000.
  size_t max_batch_entries = 10000;

  // Total WAL size after which RocksDB flushes the column families that
  // hold the oldest WAL, bounding the WAL replayed at open after a crash.
  // Default: 64 MiB.
  uint64_t max_total_wal_bytes = 64ull << 20;

  // Open without write access and without taking RocksDB's LOCK file, so a
  // store held by a running writer (another process) can still be read: the
  // handle sees the store as of Open (memtables rebuilt from the WAL in
  // memory, nothing written) and later writes by the writer are not visible.
  // Put and Retract return FAILED_PRECONDITION. Requires create_if_missing =
  // false and an initialized store. A writer that deletes a WAL or table
  // file while Open reads it can make Open fail (UNAVAILABLE or NOT_FOUND);
  // retry. Default: false.
  bool read_only = false;

  // Source of created/updated/retracted times, in microseconds since the
  // Unix epoch. Default (empty): the system clock. Tests set a fake.
  std::function<int64_t()> now_micros;

  // Called after each committed write with the store's new last sequence
  // (see "Commit listener" above). Must be quick and must not block on a
  // store write. Default (empty): none.
  std::function<void(uint64_t last_sequence)> on_commit;
};

// What HashStore::Digest returns.
struct StoreDigest {
  std::string sha256;  // 32 bytes.
  uint64_t last_sequence = 0;
  uint64_t entries = 0;  // Tombstones included.
};

// Counts of entries by signal type and vetting state (indexes are the enum
// values of hashmatch.v1.SignalType and VettingState).
struct StoreStats {
  static constexpr int kNumSignalTypes = 7;
  static constexpr int kNumStates = 5;
  std::array<std::array<uint64_t, kNumStates>, kNumSignalTypes> counts{};
  uint64_t total_entries = 0;
  uint64_t last_sequence = 0;
  uint64_t next_id = 0;
};

// Expected hash length in bytes for `signal_type`; 0 if unknown/unspecified.
size_t HashLengthForSignal(hashmatch::v1::SignalType signal_type);

// Most frames of one video (VPDQ) entry.
inline constexpr int kMaxVideoFramesPerEntry = 16384;

// Most centred windows per video frame (VideoFrame.windows).
inline constexpr int kMaxVideoFrameWindows = 3;

// One video frame as the store accepts it: a 32-byte PDQ, quality 0..100 and
// at most kMaxVideoFrameWindows windows, each with a 32-byte PDQ, quality
// 0..100 and a percent 1..99 that no other window of the frame has.
// INVALID_ARGUMENT "PDQ hash must be 32 bytes, got N", "quality N is outside
// 0..100", "N windows, at most 3", "window K: ..." (callers prefix the
// frame's position).
absl::Status ValidateVideoFrame(const hashmatch::v1::VideoFrame& frame);

// The `hash` of a VPDQ entry: SHA-256 of the frames' PDQ bytes concatenated
// in order (32 bytes). The store refuses a VPDQ entry whose hash differs.
std::string VideoFramesDigest(
    const google::protobuf::RepeatedPtrField<hashmatch::v1::VideoFrame>&
        frames);

class HashStore {
 public:
  // Called by ForEachActive for each ACTIVE entry: its id and hash bytes
  // (valid only during the call). A non-OK return stops the scan and is
  // returned by ForEachActive.
  using ActiveCallback =
      std::function<absl::Status(uint64_t id, absl::string_view hash)>;
  // Called by ForEachEntry for each entry. A non-OK return stops the scan
  // and is returned by ForEachEntry.
  using EntryCallback =
      std::function<absl::Status(const hashmatch::v1::Entry& entry)>;

  // Opens (or creates, per options) the store in directory `path`. A
  // directory it creates is 0700 and every file of the store 0600, whatever
  // the umask (PrivateRocksEnv, private_env.h).
  static absl::StatusOr<std::unique_ptr<HashStore>> Open(
      const StoreOptions& options, const std::string& path);

  HashStore(const HashStore&) = delete;
  HashStore& operator=(const HashStore&) = delete;
  virtual ~HashStore() = default;

  // Creates or updates `entries` atomically (see the upsert rules above).
  // Returns the entries as stored (ids and times set), in input order.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Entry>> Put(
      absl::Span<const hashmatch::v1::Entry> entries) = 0;

  // Turns entry `id` into a tombstone (see Retraction above). NOT_FOUND if
  // there is no such entry, FAILED_PRECONDITION if it is already retracted.
  // Returns the tombstone.
  virtual absl::StatusOr<hashmatch::v1::Entry> Retract(
      uint64_t id, absl::string_view retracted_by,
      absl::string_view reason) = 0;

  // The entry with `id`, tombstones included. NOT_FOUND if absent.
  virtual absl::StatusOr<hashmatch::v1::Entry> Get(uint64_t id) const = 0;

  // The id of the entry submitted as (agency, external_id), tombstones
  // included. NOT_FOUND if absent.
  virtual absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const = 0;

  // Every non-retracted entry (any state but RETRACTED) whose hash is
  // exactly `hash`, in id order: the exact lookup for MD5/SHA-256 and the
  // provenance of a perceptual match. INVALID_ARGUMENT on a bad length.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Entry>> LookupHash(
      hashmatch::v1::SignalType signal_type, absl::string_view hash) const = 0;

  // Calls `callback` for every ACTIVE entry of `signal_type` in (hash, id)
  // order, reading one consistent snapshot; returns the change sequence of
  // that snapshot, from which a follower continues with ChangesSince.
  virtual absl::StatusOr<uint64_t> ForEachActive(
      hashmatch::v1::SignalType signal_type,
      const ActiveCallback& callback) const = 0;

  // Calls `callback` for every entry (tombstones included) with id >
  // `after_id`, in id order, reading one consistent snapshot; returns the
  // change sequence of that snapshot. For paging, listing, export and
  // bootstrapping a follower.
  virtual absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const = 0;

  // Up to `limit` changes with sequence > `after`, in sequence order.
  virtual absl::StatusOr<std::vector<hashmatch::v1::Change>> ChangesSince(
      uint64_t after, size_t limit) const = 0;

  // Sequence of the last committed change; 0 for an empty store.
  virtual uint64_t LastSequence() const = 0;

  // Counts by signal type and state. Scans every entry: O(entries).
  virtual absl::StatusOr<StoreStats> Stats() const = 0;

  // Entries read one at a time from one consistent snapshot of the store
  // (what ForEachEntry reads, without a callback), for a caller that
  // streams them at its own pace, e.g. a follower's bootstrap. The cursor
  // holds a RocksDB snapshot until destroyed. REQUIRES: it does not outlive
  // the store. Thread safety: one cursor is not thread-safe.
  class EntryCursor {
   public:
    virtual ~EntryCursor() = default;
    // The change sequence of the snapshot.
    virtual uint64_t sequence() const = 0;
    // The next entry in id order (tombstones included); nullopt at the end.
    virtual absl::StatusOr<std::optional<hashmatch::v1::Entry>> Next() = 0;
  };
  // A cursor over every entry with id > `after_id`.
  virtual absl::StatusOr<std::unique_ptr<EntryCursor>> NewEntryCursor(
      uint64_t after_id) const = 0;

  // SHA-256 over each entry's deterministic serialization (8-byte length,
  // bytes) in id order, then the 8-byte last sequence, from one snapshot.
  // O(entries).
  virtual absl::StatusOr<StoreDigest> Digest() const = 0;

  // --- Replica writes (see "Replica writes" above) ---

  // Applies the primary's change records atomically. REQUIRES: the first
  // has sequence LastSequence() + 1 and the rest follow with no gap, else
  // FAILED_PRECONDITION naming both sequences (also while a snapshot is
  // being loaded). Each record must carry an entry with an id and a valid
  // hash: UPSERT a PENDING, ACTIVE or DISPUTED entry without retraction,
  // RETRACT a RETRACTED one (INVALID_ARGUMENT naming the sequence
  // otherwise). Entries, hash rows, external rows and the change log are
  // written exactly as the primary's Put/Retract wrote them; the records
  // are stored as received. Over StoreOptions::max_batch_entries records:
  // RESOURCE_EXHAUSTED.
  virtual absl::Status ApplyChanges(
      absl::Span<const hashmatch::v1::Change> changes) = 0;

  // Starts loading a snapshot taken at `sequence`. FAILED_PRECONDITION
  // unless LastSequence() == 0 (rows of an earlier, interrupted snapshot
  // are deleted). A second BeginSnapshot restarts the load.
  virtual absl::Status BeginSnapshot(uint64_t sequence) = 0;

  // Adds snapshot entries, atomically per call. REQUIRES: BeginSnapshot,
  // ids ascending across calls (FAILED_PRECONDITION otherwise), valid
  // entries (INVALID_ARGUMENT). Entries are not visible as committed until
  // FinishSnapshot (LastSequence() stays 0). An (agency, external id) shared
  // by several entries maps to a live one if any, else to the one changed
  // last (what the primary's Put leaves, except after a live entry moved to
  // another external id: the primary then drops the row, the snapshot
  // keeps it on the tombstone).
  virtual absl::Status AddSnapshotEntries(
      absl::Span<const hashmatch::v1::Entry> entries) = 0;

  // Commits the snapshot: LastSequence() becomes `sequence` and the next id
  // follows the largest id. FAILED_PRECONDITION if no snapshot is being
  // loaded, `sequence` differs from BeginSnapshot's, or `entry_count` is
  // not the number of entries added.
  virtual absl::Status FinishSnapshot(uint64_t sequence,
                                      uint64_t entry_count) = 0;

 protected:
  HashStore() = default;
};

}  // namespace hashmatch

#endif  // HASHMATCH_INDEX_STORE_HASH_STORE_H_
