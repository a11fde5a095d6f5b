#include "src/server/principal_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace server {

PrincipalLimiter::Permit& PrincipalLimiter::Permit::operator=(
    Permit&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    principal_ = std::move(other.principal_);
    bytes_ = other.bytes_;
    other.owner_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void PrincipalLimiter::Permit::Release() {
  if (owner_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    auto it = owner_->usage_.find(principal_);
    if (it != owner_->usage_.end()) {
      it->second.calls -= 1;
      it->second.bytes -= bytes_;
      if (it->second.calls <= 0) owner_->usage_.erase(it);
    }
  }
  owner_ = nullptr;
  bytes_ = 0;
}

absl::Status PrincipalLimiter::Permit::AddBytes(int64_t bytes) {
  if (owner_ == nullptr || bytes <= 0) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(owner_->mu_);
  Usage& usage = owner_->usage_[principal_];
  absl::Status s = owner_->CheckBytes(principal_, usage, bytes);
  if (!s.ok()) return s;
  usage.bytes += bytes;
  bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status PrincipalLimiter::CheckBytes(absl::string_view principal,
                                          const Usage& usage,
                                          int64_t more) const {
  // Alone, a call is bounded by the per-request limits instead.
  if (limits_.max_bytes > 0 && usage.bytes > 0 &&
      usage.bytes + more > limits_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "principal ", principal, " would hold ", usage.bytes + more,
        " request bytes in flight, over its limit of ", limits_.max_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<PrincipalLimiter::Permit> PrincipalLimiter::TryAcquire(
    absl::string_view principal, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = usage_.find(principal);
  const Usage current = it == usage_.end() ? Usage() : it->second;
  if (limits_.max_calls > 0 && current.calls >= limits_.max_calls) {
    return absl::ResourceExhaustedError(
        absl::StrCat("principal ", principal, " has ", current.calls,
                     " calls in flight, its limit"));
  }
  absl::Status s = CheckBytes(principal, current, bytes);
  if (!s.ok()) return s;
  if (it == usage_.end())
    it = usage_.emplace(std::string(principal), Usage()).first;
  it->second.calls += 1;
  it->second.bytes += bytes;
  Permit permit;
  permit.owner_ = this;
  permit.principal_ = std::string(principal);
  permit.bytes_ = bytes;
  return permit;
}

int64_t PrincipalLimiter::calls(absl::string_view principal) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = usage_.find(principal);
  return it == usage_.end() ? 0 : it->second.calls;
}

int64_t PrincipalLimiter::bytes(absl::string_view principal) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = usage_.find(principal);
  return it == usage_.end() ? 0 : it->second.bytes;
}

size_t PrincipalLimiter::principals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return usage_.size();
}

}  // namespace server
}  // namespace hashmatch
