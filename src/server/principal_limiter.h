// PrincipalLimiter: per-caller bounds on MatchService calls in flight and on
// the request bytes they hold, so one platform (a greedy or broken client, or
// a stolen token) cannot take every slot of the server-wide
// ConcurrencyLimiter or all of its memory. Like ConcurrencyLimiter there is
// no queue: past a limit the call is refused at once with
// RESOURCE_EXHAUSTED naming the limit.
//
//   PrincipalLimiter limiter({.max_calls = 16, .max_bytes = 256 << 20});
//   absl::StatusOr<PrincipalLimiter::Permit> permit =
//       limiter.TryAcquire("platform-a", request_bytes);
//   if (!permit.ok()) return permit.status();
//   ... work; the permit gives back its call and bytes when destroyed ...
//
// Thread safety: all methods may be called concurrently (one mutex, held
// for a map lookup).
#ifndef HASHMATCH_SRC_SERVER_PRINCIPAL_LIMITER_H_
#define HASHMATCH_SRC_SERVER_PRINCIPAL_LIMITER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace server {

struct PrincipalLimits {
  // Calls of one principal in flight; 0: no limit.
  int64_t max_calls = 0;
  // Request bytes (images, video uploads) one principal's calls in flight
  // hold together; 0: no limit. A single call larger than this is still
  // admitted when the principal has nothing else in flight (the per-request
  // size limits bound it).
  int64_t max_bytes = 0;
};

class PrincipalLimiter {
 public:
  // A held call slot and byte count; movable, gives both back on
  // destruction or Release. Bytes may grow while held (a video upload).
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept { *this = std::move(other); }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    explicit operator bool() const { return owner_ != nullptr; }
    void Release();
    // Adds `bytes` to what this permit holds; RESOURCE_EXHAUSTED (nothing
    // added) when that takes the principal over max_bytes.
    absl::Status AddBytes(int64_t bytes);

   private:
    friend class PrincipalLimiter;
    PrincipalLimiter* owner_ = nullptr;
    std::string principal_;
    int64_t bytes_ = 0;
  };

  explicit PrincipalLimiter(const PrincipalLimits& limits) : limits_(limits) {}
  PrincipalLimiter(const PrincipalLimiter&) = delete;
  PrincipalLimiter& operator=(const PrincipalLimiter&) = delete;

  // RESOURCE_EXHAUSTED "principal P has N calls in flight, the limit" or
  // "... would hold B request bytes, over the limit of L".
  absl::StatusOr<Permit> TryAcquire(absl::string_view principal, int64_t bytes);

  // What `principal` holds now (0, 0 when nothing).
  int64_t calls(absl::string_view principal) const;
  int64_t bytes(absl::string_view principal) const;
  // Principals holding anything.
  size_t principals() const;

 private:
  struct Usage {
    int64_t calls = 0;
    int64_t bytes = 0;
  };
  absl::Status CheckBytes(absl::string_view principal, const Usage& usage,
                          int64_t more) const;

  const PrincipalLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Usage, std::less<>> usage_;  // GUARDED_BY(mu_)
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_PRINCIPAL_LIMITER_H_
