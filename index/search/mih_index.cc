#include "index/search/mih_index.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <climits>
#include <queue>

#include "faiss/impl/AuxIndexStructures.h"
#include "faiss/impl/FaissAssert.h"

namespace hashmatch {

using search_internal::Chunk;
using search_internal::Distance;

namespace {

constexpr int kBuckets = 1 << MihIndex::kChunkBits;
constexpr size_t kTableStride = kBuckets + 1;
// Candidates' codes are read at random; prefetch this many entries ahead.
constexpr uint32_t kPrefetchAhead = 24;

// All 16-bit masks ordered by popcount: level t is
// masks[level_begin[t] .. level_begin[t + 1]).
struct MaskTable {
  std::array<uint16_t, kBuckets> masks;
  std::array<int, MihIndex::kChunkBits + 2> level_begin;

  MaskTable() {
    int n = 0;
    for (int t = 0; t <= MihIndex::kChunkBits; ++t) {
      level_begin[t] = n;
      for (int v = 0; v < kBuckets; ++v) {
        if (std::popcount(static_cast<unsigned>(v)) == t) {
          masks[n++] = static_cast<uint16_t>(v);
        }
      }
    }
    level_begin[MihIndex::kChunkBits + 1] = n;
  }
};

const MaskTable& Masks() {
  static const MaskTable* const table = new MaskTable();
  return *table;
}

bool Excluded(const absl::flat_hash_set<uint64_t>* exclude, uint64_t id) {
  return exclude != nullptr && exclude->contains(id);
}

// True if the candidate found in table j at level t is reported there: no
// earlier table has a chunk within t bits and no later one within t - 1.
bool FirstMet(const uint64_t* q, const uint64_t* c, int chunks, int j, int t) {
  for (int i = 0; i < chunks; ++i) {
    if (i == j) continue;
    int d = std::popcount(static_cast<unsigned>(Chunk(q, i) ^ Chunk(c, i)));
    if (d < t || (i < j && d == t)) return false;
  }
  return true;
}

void PushBounded(std::priority_queue<Match>* heap, size_t k, const Match& m) {
  if (heap->size() < k) {
    heap->push(m);
  } else if (m < heap->top()) {
    heap->pop();
    heap->push(m);
  }
}

std::vector<Match> Drain(std::priority_queue<Match>* heap) {
  std::vector<Match> out(heap->size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = heap->top();
    heap->pop();
  }
  return out;
}

}  // namespace

MihIndex::MihIndex(int code_bits)
    : faiss::IndexBinary(code_bits),
      words_(code_bits / 64),
      chunks_(code_bits / kChunkBits) {
  assert(code_bits > 0 && code_bits % 64 == 0);
}

void MihIndex::add(idx_t n, const uint8_t* x) {
  std::vector<idx_t> ids(n);
  for (idx_t i = 0; i < n; ++i) ids[i] = ntotal + i;
  add_with_ids(n, x, ids.data());
}

void MihIndex::add_with_ids(idx_t n, const uint8_t* x, const idx_t* xids) {
  FAISS_THROW_IF_NOT(n >= 0);
  FAISS_THROW_IF_NOT_MSG(ids_.size() + n < (size_t{1} << 32),
                         "MihIndex holds fewer than 2^32 codes");
  size_t at = codes_.size();
  codes_.resize(at + n * words_);
  for (idx_t i = 0; i < n; ++i) {
    ids_.push_back(static_cast<uint64_t>(xids[i]));
    search_internal::LoadWords(x + i * code_size, words_,
                               &codes_[at + i * words_]);
  }
  SortRowsAndRebuild();
}

void MihIndex::search(idx_t n, const uint8_t* x, idx_t k, int32_t* distances,
                      idx_t* labels, const faiss::SearchParameters*) const {
  FAISS_THROW_IF_NOT(k > 0);
  for (idx_t i = 0; i < n; ++i) {
    std::vector<Match> hits = Knn(x + i * code_size, k, nullptr);
    for (idx_t r = 0; r < k; ++r) {
      bool have = r < static_cast<idx_t>(hits.size());
      labels[i * k + r] = have ? static_cast<idx_t>(hits[r].id) : -1;
      distances[i * k + r] = have ? hits[r].distance : INT32_MAX;
    }
  }
}

void MihIndex::range_search(idx_t n, const uint8_t* x, int radius,
                            faiss::RangeSearchResult* result,
                            const faiss::SearchParameters*) const {
  FAISS_THROW_IF_NOT(result != nullptr && result->nq == static_cast<size_t>(n));
  std::vector<std::vector<Match>> hits(n);
  for (idx_t i = 0; i < n; ++i) {
    if (radius > 0) {
      RangeSearchInclusive(x + i * code_size, radius - 1, nullptr, &hits[i]);
    }
    result->lims[i] = hits[i].size();
  }
  result->do_allocation();
  for (idx_t i = 0; i < n; ++i) {
    size_t at = result->lims[i];
    for (const Match& m : hits[i]) {
      result->labels[at] = static_cast<idx_t>(m.id);
      result->distances[at] = static_cast<float>(m.distance);
      ++at;
    }
  }
}

void MihIndex::reset() {
  ids_.clear();
  codes_.clear();
  offsets_.clear();
  entries_.clear();
  ntotal = 0;
}

void MihIndex::Build(std::vector<uint64_t> ids, std::vector<uint64_t> words) {
  assert(words.size() == ids.size() * words_);
  ids_ = std::move(ids);
  codes_ = std::move(words);
  SortRowsAndRebuild();
}

std::optional<size_t> MihIndex::Find(uint64_t id) const {
  auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
  if (it == ids_.end() || *it != id) return std::nullopt;
  return static_cast<size_t>(it - ids_.begin());
}

void MihIndex::SortRowsAndRebuild() {
  if (!std::is_sorted(ids_.begin(), ids_.end())) {
    const size_t n = ids_.size();
    std::vector<uint32_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return ids_[a] < ids_[b]; });
    std::vector<uint64_t> ids(n);
    std::vector<uint64_t> codes(codes_.size());
    for (size_t i = 0; i < n; ++i) {
      ids[i] = ids_[order[i]];
      std::copy_n(&codes_[size_t{order[i]} * words_], words_,
                  &codes[i * words_]);
    }
    ids_ = std::move(ids);
    codes_ = std::move(codes);
  }
  RebuildTables();
}

size_t MihIndex::MemoryBytes() const {
  return ids_.capacity() * 8 + codes_.capacity() * 8 + offsets_.capacity() * 4 +
         entries_.capacity() * 4;
}

void MihIndex::RebuildTables() {
  const size_t n = ids_.size();
  ntotal = static_cast<idx_t>(n);
  offsets_.assign(chunks_ * kTableStride, 0);
  entries_.assign(chunks_ * n, 0);
  std::vector<uint32_t> cursor(kBuckets);
  for (int j = 0; j < chunks_; ++j) {
    uint32_t* off = &offsets_[j * kTableStride];
    for (size_t i = 0; i < n; ++i) ++off[Chunk(words(i), j) + 1];
    for (int v = 0; v < kBuckets; ++v) off[v + 1] += off[v];
    std::copy_n(off, kBuckets, cursor.begin());
    uint32_t* ent = &entries_[j * n];
    for (size_t i = 0; i < n; ++i) {
      ent[cursor[Chunk(words(i), j)]++] = static_cast<uint32_t>(i);
    }
  }
}

bool MihIndex::ShouldScan(int max_level) const {
  if (!scan_fallback_) return false;
  const size_t probes =
      static_cast<size_t>(chunks_) *
      Masks().level_begin[std::min(max_level, kChunkBits) + 1];
  return probes > ids_.size() / 4;
}

template <int kWords, typename Fn>
void MihIndex::ForEachAtLevel(const uint64_t* q, int level, Fn&& fn) const {
  const size_t n = ids_.size();
  const uint64_t* codes = codes_.data();
  const MaskTable& masks = Masks();
  for (int j = 0; j < chunks_; ++j) {
    const uint32_t* off = &offsets_[j * kTableStride];
    const uint32_t* ent = &entries_[j * n];
    const uint16_t qc = Chunk(q, j);
    for (int b = masks.level_begin[level]; b < masks.level_begin[level + 1];
         ++b) {
      const uint16_t v = qc ^ masks.masks[b];
      const uint32_t end = off[v + 1];
      for (uint32_t p = off[v]; p < end; ++p) {
        if (p + kPrefetchAhead < end) {
          __builtin_prefetch(codes + size_t{ent[p + kPrefetchAhead]} * kWords);
        }
        const uint32_t e = ent[p];
        fn(e, codes + size_t{e} * kWords, j);
      }
    }
  }
}

template <int kWords>
void MihIndex::RangeImpl(const uint64_t* q, int radius,
                         const absl::flat_hash_set<uint64_t>* exclude,
                         std::vector<Match>* out) const {
  const size_t n = ids_.size();
  const uint64_t* codes = codes_.data();
  const int levels = std::min(radius / chunks_, kChunkBits);
  if (ShouldScan(levels)) {
    for (size_t i = 0; i < n; ++i) {
      int d = Distance<kWords>(q, codes + i * kWords);
      if (d <= radius && !Excluded(exclude, ids_[i])) {
        out->push_back({ids_[i], d});
      }
    }
    return;
  }
  for (int t = 0; t <= levels; ++t) {
    ForEachAtLevel<kWords>(q, t, [&](uint32_t e, const uint64_t* c, int j) {
      const int d = Distance<kWords>(q, c);
      if (d > radius || !FirstMet(q, c, chunks_, j, t)) return;
      if (Excluded(exclude, ids_[e])) return;
      out->push_back({ids_[e], d});
    });
  }
}

template <int kWords>
std::vector<Match> MihIndex::KnnImpl(
    const uint64_t* q, size_t k,
    const absl::flat_hash_set<uint64_t>* exclude) const {
  const size_t n = ids_.size();
  const uint64_t* codes = codes_.data();
  std::priority_queue<Match> heap;
  for (int t = 0; t <= kChunkBits; ++t) {
    if (ShouldScan(t)) {
      heap = {};
      for (size_t i = 0; i < n; ++i) {
        if (Excluded(exclude, ids_[i])) continue;
        PushBounded(&heap, k,
                    {ids_[i], Distance<kWords>(q, codes + i * kWords)});
      }
      return Drain(&heap);
    }
    ForEachAtLevel<kWords>(q, t, [&](uint32_t e, const uint64_t* c, int j) {
      const Match m{ids_[e], Distance<kWords>(q, c)};
      if (heap.size() == k && !(m < heap.top())) return;
      if (!FirstMet(q, c, chunks_, j, t) || Excluded(exclude, m.id)) {
        return;
      }
      PushBounded(&heap, k, m);
    });
    // Every unseen code has all chunks at > t bits: distance >= m * (t + 1).
    if (heap.size() == k && heap.top().distance < chunks_ * (t + 1)) break;
  }
  return Drain(&heap);
}

void MihIndex::RangeSearchInclusive(
    const uint8_t* query, int radius,
    const absl::flat_hash_set<uint64_t>* exclude,
    std::vector<Match>* out) const {
  if (ids_.empty() || radius < 0) return;
  std::vector<uint64_t> q(words_);
  search_internal::LoadWords(query, words_, q.data());
  if (words_ == 4) return RangeImpl<4>(q.data(), radius, exclude, out);
  if (words_ == 1) return RangeImpl<1>(q.data(), radius, exclude, out);
  if (words_ == 2) return RangeImpl<2>(q.data(), radius, exclude, out);
  if (words_ == 8) return RangeImpl<8>(q.data(), radius, exclude, out);
  assert(false && "unsupported code size");
}

std::vector<Match> MihIndex::Knn(
    const uint8_t* query, size_t k,
    const absl::flat_hash_set<uint64_t>* exclude) const {
  if (ids_.empty() || k == 0) return {};
  std::vector<uint64_t> q(words_);
  search_internal::LoadWords(query, words_, q.data());
  if (words_ == 4) return KnnImpl<4>(q.data(), k, exclude);
  if (words_ == 1) return KnnImpl<1>(q.data(), k, exclude);
  if (words_ == 2) return KnnImpl<2>(q.data(), k, exclude);
  if (words_ == 8) return KnnImpl<8>(q.data(), k, exclude);
  assert(false && "unsupported code size");
  return {};
}

}  // namespace hashmatch
