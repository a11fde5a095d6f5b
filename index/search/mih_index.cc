#include "index/search/mih_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <queue>
#include <system_error>
#include <thread>

#include "faiss/impl/AuxIndexStructures.h"
#include "faiss/impl/FaissAssert.h"

namespace hashmatch {
namespace search_internal {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

template <typename T>
void* HugePageAllocator<T>::AllocateHuge(size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (p == nullptr) throw std::bad_alloc();
  madvise(p, rounded, MADV_HUGEPAGE);  // Advisory: failure is harmless.
  return p;
}

template <typename T>
void HugePageAllocator<T>::FreeHuge(void* p, size_t bytes) {
  if (bytes < kHugePage) {
    ::operator delete(p);
  } else {
    std::free(p);
  }
}

template struct HugePageAllocator<uint8_t>;
template struct HugePageAllocator<uint32_t>;
template struct HugePageAllocator<uint64_t>;

}  // namespace search_internal

using search_internal::Distance;

namespace {

// Pipeline distances: bucket offsets, row arrays and candidate codes are
// read at random, so each stage prefetches this far ahead.
constexpr size_t kOffsetsAhead = 32;
constexpr size_t kRangesAhead = 16;
constexpr size_t kCodesAhead = 32;
constexpr int kNoLimit = 1 << 20;
// Threads that build tables (only for indexes of 2^16 rows or more).
constexpr size_t kBuildThreads = 4;

struct Probe {
  uint32_t bucket;  // Index into offsets_.
  uint16_t table;
  uint16_t level;
};
struct Range {
  uint32_t begin, end;
  uint16_t table;
  uint16_t level;
};
struct Candidate {
  uint32_t row;
  uint16_t table;
  uint16_t level;
};
struct Scratch {
  std::vector<Probe> probes;
  std::vector<Range> ranges;
  std::vector<Candidate> candidates;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

double Binomial(int n, int k) {
  if (k < 0 || k > n) return 0;
  double r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}

// Calls fn(mask) for every `bits`-bit mask with exactly t bits set.
template <typename Fn>
void ForEachMask(int bits, int t, Fn&& fn) {
  if (t == 0) {
    fn(uint32_t{0});
    return;
  }
  if (t > bits) return;
  const uint64_t limit = uint64_t{1} << bits;
  for (uint64_t v = (uint64_t{1} << t) - 1; v < limit;) {
    fn(static_cast<uint32_t>(v));
    const uint64_t c = v & (~v + 1);
    const uint64_t r = v + c;
    v = (((r ^ v) >> 2) / c) | r;
  }
}

bool Excluded(const absl::flat_hash_set<uint64_t>* exclude, uint64_t id) {
  return exclude != nullptr && exclude->contains(id);
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
    : faiss::IndexBinary(code_bits), words_(code_bits / 64) {
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
  chunks_.clear();
  ntotal = 0;
}

void MihIndex::Build(std::vector<uint64_t> ids, std::vector<uint64_t> words) {
  assert(words.size() == ids.size() * words_);
  ids_ = std::move(ids);
  codes_.assign(words.begin(), words.end());
  words = {};
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
    search_internal::HugeVector<uint64_t> codes(codes_.size());
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
         entries_.capacity();
}

std::vector<int> MihIndex::ChooseChunking(size_t n) const {
  const int code_bits = words_ * 64;
  int target = chunk_bits_request_;
  if (target == 0) {
    if (code_bits <= 64) {
      target = 16;
    } else {
      const int log2n = n == 0 ? 0 : std::bit_width(n) - 1;
      target = std::clamp(log2n - 1, 16, 22);
    }
  }
  const int m = (code_bits + target - 1) / target;
  std::vector<int> bits(m, code_bits / m);
  for (int j = 0; j < code_bits % m; ++j) ++bits[j];
  return bits;
}

uint32_t MihIndex::ChunkOf(const uint64_t* code, int j) const {
  const ChunkSpec& c = chunks_[j];
  const int w = c.offset >> 6;
  const int sh = c.offset & 63;
  uint64_t v = code[w] >> sh;
  if (sh + c.bits > 64) v |= code[w + 1] << (64 - sh);
  return static_cast<uint32_t>(v & ((uint64_t{1} << c.bits) - 1));
}

uint32_t MihIndex::Row(const ChunkSpec& c, size_t p) const {
  uint32_t v;
  std::memcpy(&v, &entries_[c.entries_at + p * entry_bytes_], 4);
  return entry_bytes_ == 3 ? (v & 0xFFFFFFu) : v;
}

void MihIndex::RebuildTables() {
  const size_t n = ids_.size();
  ntotal = static_cast<idx_t>(n);
  entry_bytes_ = n < (size_t{1} << 24) ? 3 : 4;
  const std::vector<int> bits = ChooseChunking(n);
  chunks_.assign(bits.size(), {});
  size_t offsets_total = 0;
  int bit_at = 0;
  for (size_t j = 0; j < bits.size(); ++j) {
    chunks_[j].offset = bit_at;
    chunks_[j].bits = bits[j];
    chunks_[j].offsets_at = offsets_total;
    chunks_[j].entries_at = j * n * entry_bytes_;
    bit_at += bits[j];
    offsets_total += (size_t{1} << bits[j]) + 1;
  }
  offsets_.assign(0, 0);
  offsets_.shrink_to_fit();
  offsets_.assign(offsets_total, 0);
  entries_.assign(0, 0);
  entries_.shrink_to_fit();
  entries_.assign(chunks_.size() * n * entry_bytes_ + 8, 0);
  // Tables are independent: build them on up to kBuildThreads threads (each
  // writes only its own tables' offsets and rows).
  const size_t m = chunks_.size();
  auto build = [&](size_t first, size_t step) {
    std::vector<uint32_t> value(n);
    std::vector<uint32_t> cursor;
    for (size_t j = first; j < m; j += step) {
      const ChunkSpec& c = chunks_[j];
      const size_t buckets = size_t{1} << c.bits;
      uint32_t* off = &offsets_[c.offsets_at];
      for (size_t i = 0; i < n; ++i) {
        value[i] = ChunkOf(words(i), static_cast<int>(j));
        ++off[value[i] + 1];
      }
      for (size_t v = 0; v < buckets; ++v) off[v + 1] += off[v];
      cursor.assign(off, off + buckets);
      uint8_t* ent = &entries_[c.entries_at];
      for (size_t i = 0; i < n; ++i) {
        const uint32_t row = static_cast<uint32_t>(i);
        std::memcpy(ent + size_t{cursor[value[i]]++} * entry_bytes_, &row,
                    entry_bytes_);
      }
    }
  };
  const size_t threads =
      n < (size_t{1} << 16)
          ? 1
          : std::min<size_t>(
                {kBuildThreads, m,
                 std::max<size_t>(1, std::thread::hardware_concurrency())});
  std::vector<std::thread> pool;
  size_t started = 1;
  try {
    for (; started < threads; ++started) {
      pool.emplace_back(build, started, threads);
    }
  } catch (const std::system_error&) {
    // No thread to spare: this thread builds the remaining shares.
  }
  for (size_t t = started; t < threads; ++t) build(t, threads);
  build(0, threads);
  for (std::thread& t : pool) t.join();
}

bool MihIndex::ShouldScan(const int* max_level) const {
  if (!scan_fallback_) return false;
  const double n = static_cast<double>(ids_.size());
  double work = 0;
  for (size_t j = 0; j < chunks_.size(); ++j) {
    const int bits = chunks_[j].bits;
    double probes = 0;
    for (int t = 0; t <= std::min(max_level[j], bits); ++t) {
      probes += Binomial(bits, t);
    }
    work += probes + probes * n / std::ldexp(1.0, bits);
  }
  return work * 8 > n;
}

bool MihIndex::FirstMet(const uint32_t* qchunks, const uint64_t* c, int j,
                        int t, const int* max_level) const {
  const int m = num_chunks();
  for (int i = 0; i < m; ++i) {
    if (i == j) continue;
    const int d = std::popcount(qchunks[i] ^ ChunkOf(c, i));
    if (d <= max_level[i] && (d < t || (d == t && i < j))) return false;
  }
  return true;
}

template <int kWords, typename Fn>
void MihIndex::ForEachCandidate(const uint32_t* qchunks, int min_level,
                                const int* max_level, Fn&& fn) const {
  Scratch& s = ThreadScratch();
  s.probes.clear();
  s.ranges.clear();
  s.candidates.clear();
  const int m = num_chunks();
  int top = -1;
  for (int j = 0; j < m; ++j) {
    top = std::max(top, std::min(max_level[j], chunks_[j].bits));
  }
  for (int t = min_level; t <= top; ++t) {
    for (int j = 0; j < m; ++j) {
      if (t > max_level[j]) continue;
      const ChunkSpec& c = chunks_[j];
      const uint32_t base = static_cast<uint32_t>(c.offsets_at);
      ForEachMask(c.bits, t, [&](uint32_t mask) {
        s.probes.push_back({base + (qchunks[j] ^ mask),
                            static_cast<uint16_t>(j),
                            static_cast<uint16_t>(t)});
      });
    }
  }
  const uint32_t* off = offsets_.data();
  const size_t np = s.probes.size();
  for (size_t i = 0; i < np; ++i) {
    if (i + kOffsetsAhead < np) {
      __builtin_prefetch(off + s.probes[i + kOffsetsAhead].bucket);
    }
    const Probe& p = s.probes[i];
    const uint32_t begin = off[p.bucket];
    const uint32_t end = off[p.bucket + 1];
    if (begin != end) s.ranges.push_back({begin, end, p.table, p.level});
  }
  const size_t nr = s.ranges.size();
  for (size_t i = 0; i < nr; ++i) {
    if (i + kRangesAhead < nr) {
      const Range& a = s.ranges[i + kRangesAhead];
      __builtin_prefetch(&entries_[chunks_[a.table].entries_at +
                                   size_t{a.begin} * entry_bytes_]);
    }
    const Range& r = s.ranges[i];
    const ChunkSpec& c = chunks_[r.table];
    for (uint32_t p = r.begin; p < r.end; ++p) {
      s.candidates.push_back({Row(c, p), r.table, r.level});
    }
  }
  const uint64_t* codes = codes_.data();
  const size_t nc = s.candidates.size();
  for (size_t i = 0; i < nc; ++i) {
    if (i + kCodesAhead < nc) {
      __builtin_prefetch(codes +
                         size_t{s.candidates[i + kCodesAhead].row} * kWords);
    }
    const Candidate& cand = s.candidates[i];
    fn(cand.row, codes + size_t{cand.row} * kWords, cand.table, cand.level);
  }
}

template <int kWords>
void MihIndex::RangeImpl(const uint64_t* q, int radius,
                         const absl::flat_hash_set<uint64_t>* exclude,
                         std::vector<Match>* out) const {
  const size_t n = ids_.size();
  const uint64_t* codes = codes_.data();
  const int m = num_chunks();
  const int s = radius / m;
  const int a = radius % m;
  std::vector<int> max_level(m);
  std::vector<uint32_t> qchunks(m);
  for (int j = 0; j < m; ++j) {
    max_level[j] = j <= a ? s : s - 1;
    qchunks[j] = ChunkOf(q, j);
  }
  if (ShouldScan(max_level.data())) {
    for (size_t i = 0; i < n; ++i) {
      int d = Distance<kWords>(q, codes + i * kWords);
      if (d <= radius && !Excluded(exclude, ids_[i])) {
        out->push_back({ids_[i], d});
      }
    }
    return;
  }
  ForEachCandidate<kWords>(
      qchunks.data(), 0, max_level.data(),
      [&](uint32_t row, const uint64_t* c, int j, int t) {
        const int d = Distance<kWords>(q, c);
        if (d > radius) return;
        if (!FirstMet(qchunks.data(), c, j, t, max_level.data())) return;
        if (Excluded(exclude, ids_[row])) return;
        out->push_back({ids_[row], d});
      });
}

template <int kWords>
std::vector<Match> MihIndex::KnnImpl(
    const uint64_t* q, size_t k,
    const absl::flat_hash_set<uint64_t>* exclude) const {
  const size_t n = ids_.size();
  const uint64_t* codes = codes_.data();
  const int m = num_chunks();
  std::vector<uint32_t> qchunks(m);
  std::vector<int> no_limit(m, kNoLimit);
  int max_bits = 0;
  for (int j = 0; j < m; ++j) {
    qchunks[j] = ChunkOf(q, j);
    max_bits = std::max(max_bits, chunks_[j].bits);
  }
  std::priority_queue<Match> heap;
  std::vector<int> level(m);
  for (int t = 0; t <= max_bits; ++t) {
    std::fill(level.begin(), level.end(), t);
    if (ShouldScan(level.data())) {
      heap = {};
      for (size_t i = 0; i < n; ++i) {
        if (Excluded(exclude, ids_[i])) continue;
        PushBounded(&heap, k,
                    {ids_[i], Distance<kWords>(q, codes + i * kWords)});
      }
      return Drain(&heap);
    }
    ForEachCandidate<kWords>(
        qchunks.data(), t, level.data(),
        [&](uint32_t row, const uint64_t* c, int j, int lt) {
          const Match match{ids_[row], Distance<kWords>(q, c)};
          if (heap.size() == k && !(match < heap.top())) return;
          if (!FirstMet(qchunks.data(), c, j, lt, no_limit.data()) ||
              Excluded(exclude, match.id)) {
            return;
          }
          PushBounded(&heap, k, match);
        });
    // Every unseen code has all chunks at > t bits: distance >= m * (t + 1).
    if (heap.size() == k && heap.top().distance < m * (t + 1)) break;
  }
  return Drain(&heap);
}

MihIndex::ProbeStats MihIndex::RangeProbeStats(const uint8_t* query,
                                               int radius) const {
  ProbeStats stats;
  if (ids_.empty() || radius < 0) return stats;
  std::vector<uint64_t> q(words_);
  search_internal::LoadWords(query, words_, q.data());
  const int m = num_chunks();
  std::vector<int> max_level(m);
  for (int j = 0; j < m; ++j) {
    max_level[j] = j <= radius % m ? radius / m : radius / m - 1;
  }
  if (ShouldScan(max_level.data())) {
    stats.scanned = true;
    return stats;
  }
  for (int j = 0; j < m; ++j) {
    const ChunkSpec& c = chunks_[j];
    const uint32_t qc = ChunkOf(q.data(), j);
    for (int t = 0; t <= std::min(max_level[j], c.bits); ++t) {
      ForEachMask(c.bits, t, [&](uint32_t mask) {
        const size_t b = c.offsets_at + (qc ^ mask);
        ++stats.probes;
        stats.candidates += offsets_[b + 1] - offsets_[b];
      });
    }
  }
  return stats;
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
