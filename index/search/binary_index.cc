#include "index/search/binary_index.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "faiss/impl/FaissException.h"
#include "src/common/status_macros.h"

namespace hashmatch {

absl::StatusOr<std::unique_ptr<MihIndex>> NewMihIndex(int code_bits) {
  try {
    return std::make_unique<MihIndex>(code_bits);
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("FAISS: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<BinaryIndex>> BinaryIndex::Create(
    const BinaryIndexOptions& options) {
  if (options.code_bits != 64 && options.code_bits != 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("code_bits must be 64 or 256, got ", options.code_bits));
  }
  if (options.max_radius < 0 || options.max_radius > 63) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_radius must be in [0, 63], got ", options.max_radius));
  }
  if (options.default_radius < 0 ||
      options.default_radius > options.max_radius) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default_radius must be in [0, max_radius=", options.max_radius,
        "], got ", options.default_radius));
  }
  if (options.merge_threshold == 0) {
    return absl::InvalidArgumentError("merge_threshold must be positive");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MihIndex> base,
                   NewMihIndex(options.code_bits));
  base->set_scan_fallback(options.scan_fallback);
  auto snap = std::make_shared<Snapshot>();
  snap->base = std::move(base);
  snap->delta = std::make_shared<FlatScan>(options.code_bits);
  snap->removed = std::make_shared<absl::flat_hash_set<uint64_t>>();
  return std::unique_ptr<BinaryIndex>(new BinaryIndex(options, snap));
}

BinaryIndex::BinaryIndex(const BinaryIndexOptions& options,
                         std::shared_ptr<const Snapshot> initial)
    : options_(options), snapshot_(std::move(initial)) {}

std::shared_ptr<const BinaryIndex::Snapshot> BinaryIndex::Current() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void BinaryIndex::Publish(std::shared_ptr<const Snapshot> next) {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  snapshot_.swap(next);
  // The old snapshot (now in `next`) is released after the lock is dropped.
}

absl::Status BinaryIndex::CheckCode(absl::Span<const uint8_t> code) const {
  if (code.size() * 8 != static_cast<size_t>(options_.code_bits)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a ", options_.code_bits, "-bit code (",
        options_.code_bits / 8, " bytes), got ", code.size(), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status BinaryIndex::CheckRadius(int radius) const {
  if (radius < 0 || radius > options_.max_radius) {
    return absl::InvalidArgumentError(absl::StrCat(
        "radius must be in [0, ", options_.max_radius, "], got ", radius));
  }
  return absl::OkStatus();
}

absl::Status BinaryIndex::Add(uint64_t id, absl::Span<const uint8_t> code) {
  return AddBatch(absl::MakeConstSpan(&id, 1), code);
}

absl::Status BinaryIndex::Load(std::vector<uint64_t> ids,
                               std::vector<uint64_t> words) {
  const size_t words_per_code = options_.code_bits / 64;
  if (words.size() != ids.size() * words_per_code) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", ids.size(), " codes of ", words_per_code,
                     " words, got ", words.size(), " words"));
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  std::shared_ptr<const Snapshot> cur = Current();
  if (cur->live != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Load needs an empty index; it has ", cur->live, " entries"));
  }
  if (ids.empty()) return absl::OkStatus();
  Snapshot next = *cur;
  ASSIGN_OR_RETURN(std::unique_ptr<MihIndex> base,
                   NewMihIndex(options_.code_bits));
  base->set_scan_fallback(options_.scan_fallback);
  next.live = ids.size();
  base->Build(std::move(ids), std::move(words));
  // Build sorts the rows by id: a repeated id is in adjacent rows.
  for (size_t i = 1; i < base->size(); ++i) {
    if (base->id(i) == base->id(i - 1)) {
      return absl::AlreadyExistsError(
          absl::StrCat("id ", base->id(i), " appears twice"));
    }
  }
  next.base = std::move(base);
  next.delta = std::make_shared<FlatScan>(options_.code_bits);
  next.removed = std::make_shared<absl::flat_hash_set<uint64_t>>();
  delta_ids_.clear();
  Publish(std::make_shared<const Snapshot>(std::move(next)));
  return absl::OkStatus();
}

absl::Status BinaryIndex::AddBatch(absl::Span<const uint64_t> ids,
                                   absl::Span<const uint8_t> codes) {
  const size_t code_bytes = options_.code_bits / 8;
  if (codes.size() != ids.size() * code_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", ids.size(), " codes of ", code_bytes,
                     " bytes, got ", codes.size(), " bytes"));
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::flat_hash_set<uint64_t> batch;
  batch.reserve(ids.size());
  std::shared_ptr<const Snapshot> cur = Current();
  for (uint64_t id : ids) {
    if ((cur->live != 0 && LiveIn(*cur, id)) || !batch.insert(id).second) {
      return absl::AlreadyExistsError(absl::StrCat("id ", id, " is live"));
    }
  }
  if (ids.empty()) return absl::OkStatus();
  Snapshot next = *cur;
  if (cur->live == 0) {
    // Bulk load into an empty index: build the base directly.
    std::vector<uint64_t> words(ids.size() * options_.code_bits / 64);
    for (size_t i = 0; i < ids.size(); ++i) {
      search_internal::LoadWords(codes.data() + i * code_bytes,
                                 options_.code_bits / 64,
                                 &words[i * options_.code_bits / 64]);
    }
    ASSIGN_OR_RETURN(std::unique_ptr<MihIndex> base,
                     NewMihIndex(options_.code_bits));
    base->set_scan_fallback(options_.scan_fallback);
    base->Build(std::vector<uint64_t>(ids.begin(), ids.end()),
                std::move(words));
    next.base = std::move(base);
    next.delta = std::make_shared<FlatScan>(options_.code_bits);
    next.removed = std::make_shared<absl::flat_hash_set<uint64_t>>();
    next.live = ids.size();
    delta_ids_.clear();
    Publish(std::make_shared<const Snapshot>(std::move(next)));
    return absl::OkStatus();
  }
  auto delta = std::make_shared<FlatScan>(*cur->delta);
  for (size_t i = 0; i < ids.size(); ++i) {
    delta->Add(ids[i], codes.data() + i * code_bytes);
    delta_ids_.insert(ids[i]);
  }
  next.delta = std::move(delta);
  next.live += ids.size();
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> published,
                   MaybeMerge(std::move(next)));
  Publish(std::move(published));
  return absl::OkStatus();
}

bool BinaryIndex::LiveIn(const Snapshot& snap, uint64_t id) const {
  if (delta_ids_.contains(id)) return true;
  return snap.base->Find(id).has_value() && !snap.removed->contains(id);
}

bool BinaryIndex::Contains(uint64_t id) const {
  std::shared_ptr<const Snapshot> snap = Current();
  if (snap->base->Find(id).has_value() && !snap->removed->contains(id)) {
    return true;
  }
  const FlatScan& delta = *snap->delta;
  for (size_t i = 0; i < delta.size(); ++i) {
    if (delta.id(i) == id) return true;
  }
  return false;
}

absl::Status BinaryIndex::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(write_mu_);
  std::shared_ptr<const Snapshot> cur = Current();
  if (!LiveIn(*cur, id)) {
    return absl::NotFoundError(absl::StrCat("id ", id, " is not live"));
  }
  Snapshot next = *cur;
  if (delta_ids_.contains(id)) {
    auto delta = std::make_shared<FlatScan>(*cur->delta);
    delta->Remove(id);
    next.delta = std::move(delta);
    delta_ids_.erase(id);
  } else {
    auto removed =
        std::make_shared<absl::flat_hash_set<uint64_t>>(*cur->removed);
    removed->insert(id);
    next.removed = std::move(removed);
  }
  next.live -= 1;
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> published,
                   MaybeMerge(std::move(next)));
  Publish(std::move(published));
  return absl::OkStatus();
}

absl::Status BinaryIndex::Replace(uint64_t id, absl::Span<const uint8_t> code) {
  RETURN_IF_ERROR(CheckCode(code));
  std::lock_guard<std::mutex> lock(write_mu_);
  std::shared_ptr<const Snapshot> cur = Current();
  if (!LiveIn(*cur, id)) {
    return absl::NotFoundError(absl::StrCat("id ", id, " is not live"));
  }
  Snapshot next = *cur;
  auto delta = std::make_shared<FlatScan>(*cur->delta);
  if (delta_ids_.contains(id)) {
    delta->Remove(id);
  } else {
    auto removed =
        std::make_shared<absl::flat_hash_set<uint64_t>>(*cur->removed);
    removed->insert(id);
    next.removed = std::move(removed);
  }
  delta->Add(id, code.data());
  delta_ids_.insert(id);
  next.delta = std::move(delta);
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> published,
                   MaybeMerge(std::move(next)));
  Publish(std::move(published));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const BinaryIndex::Snapshot>>
BinaryIndex::MaybeMerge(Snapshot snap) {
  if (snap.delta->size() + snap.removed->size() <= options_.merge_threshold) {
    return std::make_shared<const Snapshot>(std::move(snap));
  }
  const int words = options_.code_bits / 64;
  std::vector<uint64_t> ids;
  std::vector<uint64_t> codes;
  ids.reserve(snap.live);
  codes.reserve(snap.live * words);
  const MihIndex& base = *snap.base;
  for (size_t i = 0; i < base.size(); ++i) {
    if (snap.removed->contains(base.id(i))) continue;
    ids.push_back(base.id(i));
    codes.insert(codes.end(), base.words(i), base.words(i) + words);
  }
  const FlatScan& delta = *snap.delta;
  for (size_t i = 0; i < delta.size(); ++i) {
    ids.push_back(delta.id(i));
    codes.insert(codes.end(), delta.words(i), delta.words(i) + words);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MihIndex> merged,
                   NewMihIndex(options_.code_bits));
  merged->set_scan_fallback(options_.scan_fallback);
  merged->Build(std::move(ids), std::move(codes));
  snap.base = std::move(merged);
  snap.delta = std::make_shared<FlatScan>(options_.code_bits);
  snap.removed = std::make_shared<absl::flat_hash_set<uint64_t>>();
  snap.merges += 1;
  delta_ids_.clear();
  return std::make_shared<const Snapshot>(std::move(snap));
}

absl::StatusOr<std::vector<Match>> BinaryIndex::RangeSearch(
    absl::Span<const uint8_t> query, int radius) const {
  RETURN_IF_ERROR(CheckCode(query));
  RETURN_IF_ERROR(CheckRadius(radius));
  std::shared_ptr<const Snapshot> snap = Current();
  std::vector<Match> out;
  snap->base->RangeSearchInclusive(
      query.data(), radius,
      snap->removed->empty() ? nullptr : snap->removed.get(), &out);
  snap->delta->RangeSearch(query.data(), radius, &out);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<Match>> BinaryIndex::Knn(
    absl::Span<const uint8_t> query, size_t k) const {
  RETURN_IF_ERROR(CheckCode(query));
  std::shared_ptr<const Snapshot> snap = Current();
  std::vector<Match> out = snap->base->Knn(
      query.data(), k, snap->removed->empty() ? nullptr : snap->removed.get());
  std::vector<Match> more = snap->delta->Knn(query.data(), k);
  out.insert(out.end(), more.begin(), more.end());
  std::sort(out.begin(), out.end());
  if (out.size() > k) out.resize(k);
  return out;
}

absl::StatusOr<std::vector<DihedralMatch>> BinaryIndex::SearchDihedral(
    absl::Span<const uint8_t> queries, int radius) const {
  const size_t code_bytes = options_.code_bits / 8;
  if (queries.empty() || queries.size() % code_bytes != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one or more ", code_bytes, "-byte codes, got ",
                     queries.size(), " bytes"));
  }
  RETURN_IF_ERROR(CheckRadius(radius));
  std::shared_ptr<const Snapshot> snap = Current();
  const absl::flat_hash_set<uint64_t>* removed =
      snap->removed->empty() ? nullptr : snap->removed.get();
  absl::flat_hash_map<uint64_t, DihedralMatch> best;
  std::vector<Match> hits;
  for (size_t v = 0; v * code_bytes < queries.size(); ++v) {
    const uint8_t* q = queries.data() + v * code_bytes;
    hits.clear();
    snap->base->RangeSearchInclusive(q, radius, removed, &hits);
    snap->delta->RangeSearch(q, radius, &hits);
    for (const Match& m : hits) {
      auto [it, inserted] = best.try_emplace(
          m.id, DihedralMatch{m.id, m.distance, static_cast<int>(v)});
      if (!inserted && m.distance < it->second.distance) {
        it->second.distance = m.distance;
        it->second.variant = static_cast<int>(v);
      }
    }
  }
  std::vector<DihedralMatch> out;
  out.reserve(best.size());
  for (const auto& [id, m] : best) out.push_back(m);
  std::sort(out.begin(), out.end());
  return out;
}

size_t BinaryIndex::size() const { return Current()->live; }

BinaryIndex::View BinaryIndex::LiveView() const {
  std::shared_ptr<const Snapshot> snap = Current();
  const MihIndex* base = snap->base.get();
  const FlatScan* delta = snap->delta.get();
  const absl::flat_hash_set<uint64_t>* removed = snap->removed.get();
  const size_t live = snap->live;
  return View(std::move(snap), base, delta, removed, live);
}

size_t BinaryIndex::View::size() const { return live_; }

int BinaryIndex::View::code_bits() const { return delta_->code_bits(); }

void BinaryIndex::View::ForEach(
    const std::function<void(uint64_t id, const uint64_t* words)>& fn) const {
  // Base rows are sorted by id; merge the delta in, sorted by id too.
  std::vector<size_t> order(delta_->size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return delta_->id(a) < delta_->id(b); });
  size_t d = 0;
  for (size_t i = 0; i < base_->size(); ++i) {
    const uint64_t id = base_->id(i);
    if (!removed_->empty() && removed_->contains(id)) continue;
    for (; d < order.size() && delta_->id(order[d]) < id; ++d) {
      fn(delta_->id(order[d]), delta_->words(order[d]));
    }
    fn(id, base_->words(i));
  }
  for (; d < order.size(); ++d) {
    fn(delta_->id(order[d]), delta_->words(order[d]));
  }
}

void BinaryIndex::ForEachLiveId(
    const std::function<void(uint64_t id)>& fn) const {
  LiveView().ForEach([&](uint64_t id, const uint64_t*) { fn(id); });
}

BinaryIndex::Stats BinaryIndex::stats() const {
  std::shared_ptr<const Snapshot> snap = Current();
  Stats s;
  s.base = snap->base->size();
  s.delta = snap->delta->size();
  s.removed = snap->removed->size();
  s.merges = snap->merges;
  return s;
}

}  // namespace hashmatch
