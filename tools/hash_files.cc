#include "tools/hash_files.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "src/common/file_util.h"

namespace hashmatch {
namespace cli {
namespace {

absl::StatusOr<ImageHashes> HashOneFile(const std::string& path,
                                        const FileHashOptions& options,
                                        ImageHasher& hasher) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(path, options.hash.decode.max_encoded_bytes);
  if (!bytes.ok()) return bytes.status();
  return hasher.HashBytes(*bytes, options.algorithms, options.hash);
}

// Results handed from the workers to the emitting thread. std::mutex rather
// than absl::Mutex so that ThreadSanitizer sees the synchronisation (Debian's
// Abseil is not instrumented).
class ResultQueue {
 public:
  explicit ResultQueue(size_t n) : results_(n) {}

  // The next file index to hash, or nullopt when all are taken.
  std::optional<size_t> Claim() {
    std::lock_guard<std::mutex> lock(mu_);
    if (next_ == results_.size()) return std::nullopt;
    return next_++;
  }

  void Put(size_t i, absl::StatusOr<ImageHashes> result) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      results_[i] = std::move(result);
    }
    ready_.notify_all();
  }

  // Blocks until result i is in, then takes it.
  absl::StatusOr<ImageHashes> Take(size_t i) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [this, i] { return results_[i].has_value(); });
    absl::StatusOr<ImageHashes> out = *std::move(results_[i]);
    results_[i].reset();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  // Guarded by mu_.
  size_t next_ = 0;
  std::vector<std::optional<absl::StatusOr<ImageHashes>>> results_;
};

}  // namespace

void HashFiles(
    const std::vector<std::string>& paths, const FileHashOptions& options,
    const std::function<void(size_t, const absl::StatusOr<ImageHashes>&)>&
        emit) {
  if (paths.empty()) return;
  ResultQueue queue(paths.size());
  const size_t num_workers =
      std::min(paths.size(), static_cast<size_t>(std::max(options.threads, 1)));
  std::vector<std::thread> workers;
  workers.reserve(num_workers);
  for (size_t w = 0; w < num_workers; ++w) {
    workers.emplace_back([&paths, &options, &queue] {
      ImageHasher hasher;
      while (std::optional<size_t> i = queue.Claim()) {
        queue.Put(*i, HashOneFile(paths[*i], options, hasher));
      }
    });
  }
  for (size_t i = 0; i < paths.size(); ++i) emit(i, queue.Take(i));
  for (std::thread& t : workers) t.join();
}

}  // namespace cli
}  // namespace hashmatch
