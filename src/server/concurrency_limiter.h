// ConcurrencyLimiter: bounds the MatchService RPCs doing work at once.
// There is no queue: past the limit a request is refused at once (the
// service answers RESOURCE_EXHAUSTED "server at capacity (N in flight)").
//
//   ConcurrencyLimiter limiter(64);
//   ConcurrencyLimiter::Permit permit = limiter.TryAcquire();
//   if (!permit) return ResourceExhausted(...limiter.in_flight()...);
//   ... work; the permit releases its slot when destroyed ...
//
// Thread safety: all methods may be called concurrently (one atomic counter).
#ifndef HASHMATCH_SRC_SERVER_CONCURRENCY_LIMITER_H_
#define HASHMATCH_SRC_SERVER_CONCURRENCY_LIMITER_H_

#include <atomic>
#include <cstdint>

namespace hashmatch {
namespace server {

class ConcurrencyLimiter {
 public:
  // A held slot; movable, releases on destruction. Empty (false) when the
  // limiter was full.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : owner_(other.owner_) {
      other.owner_ = nullptr;
    }
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = other.owner_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }

    explicit operator bool() const { return owner_ != nullptr; }
    void Release() {
      if (owner_ != nullptr) owner_->in_flight_.fetch_sub(1);
      owner_ = nullptr;
    }

   private:
    friend class ConcurrencyLimiter;
    explicit Permit(ConcurrencyLimiter* owner) : owner_(owner) {}
    ConcurrencyLimiter* owner_ = nullptr;
  };

  // REQUIRES: limit >= 1.
  explicit ConcurrencyLimiter(int64_t limit) : limit_(limit) {}
  ConcurrencyLimiter(const ConcurrencyLimiter&) = delete;
  ConcurrencyLimiter& operator=(const ConcurrencyLimiter&) = delete;

  // A slot if fewer than limit() are held, else an empty Permit.
  Permit TryAcquire() {
    int64_t n = in_flight_.load();
    while (n < limit_) {
      if (in_flight_.compare_exchange_weak(n, n + 1)) return Permit(this);
    }
    return Permit();
  }

  int64_t in_flight() const { return in_flight_.load(); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_CONCURRENCY_LIMITER_H_
