#include "index/search/flat_scan.h"

#include <algorithm>
#include <queue>

namespace hashmatch {

using search_internal::Distance;

FlatScan::FlatScan(int code_bits) : words_(code_bits / 64) {}

void FlatScan::Add(uint64_t id, const uint8_t* code) {
  ids_.push_back(id);
  size_t at = words_data_.size();
  words_data_.resize(at + words_);
  search_internal::LoadWords(code, words_, &words_data_[at]);
}

bool FlatScan::Remove(uint64_t id) {
  auto it = std::find(ids_.begin(), ids_.end(), id);
  if (it == ids_.end()) return false;
  size_t i = it - ids_.begin();
  size_t last = ids_.size() - 1;
  if (i != last) {
    ids_[i] = ids_[last];
    std::copy_n(&words_data_[last * words_], words_, &words_data_[i * words_]);
  }
  ids_.pop_back();
  words_data_.resize(last * words_);
  return true;
}

namespace {

template <int kWords>
void ScanRange(const std::vector<uint64_t>& ids, const uint64_t* data,
               const uint64_t* q, int radius, std::vector<Match>* out) {
  for (size_t i = 0; i < ids.size(); ++i) {
    int d = Distance<kWords>(q, data + i * kWords);
    if (d <= radius) out->push_back({ids[i], d});
  }
}

}  // namespace

void FlatScan::RangeSearch(const uint8_t* query, int radius,
                           std::vector<Match>* out) const {
  std::vector<uint64_t> q(words_);
  search_internal::LoadWords(query, words_, q.data());
  if (words_ == 4)
    return ScanRange<4>(ids_, words_data_.data(), q.data(), radius, out);
  if (words_ == 1)
    return ScanRange<1>(ids_, words_data_.data(), q.data(), radius, out);
  for (size_t i = 0; i < ids_.size(); ++i) {
    int d = Distance(q.data(), words(i), words_);
    if (d <= radius) out->push_back({ids_[i], d});
  }
}

std::vector<Match> FlatScan::Knn(const uint8_t* query, size_t k) const {
  std::vector<uint64_t> q(words_);
  search_internal::LoadWords(query, words_, q.data());
  std::priority_queue<Match> heap;  // Max-heap: the worst kept match on top.
  if (k == 0) return {};
  for (size_t i = 0; i < ids_.size(); ++i) {
    Match m{ids_[i], Distance(q.data(), words(i), words_)};
    if (heap.size() < k) {
      heap.push(m);
    } else if (m < heap.top()) {
      heap.pop();
      heap.push(m);
    }
  }
  std::vector<Match> out;
  out.reserve(heap.size());
  while (!heap.empty()) {
    out.push_back(heap.top());
    heap.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace hashmatch
